/**
 * The states and transitions of any XState v5 machine, read from its definition: the shared
 * walk behind {@link toMermaid} and the dashboard's SVG diagram. Transitions declared on a parent
 * apply to every child state that does not handle the same event itself, and are listed that
 * way: the graph shows what the machine does.
 *
 * @example
 * const g = stateGraph(workerMachine)
 * g.initial // "starting"
 * g.transitions.find((t) => t.from === "starting" && t.to === "ready")?.label // "READY"
 */
import type { AnyStateMachine } from "xstate"

/** A state node as XState v5 exposes it on `machine.root` (the parts read here). */
export interface Node {
  readonly key: string
  readonly id: string
  readonly path: readonly string[]
  readonly type: string
  readonly states: Record<string, Node>
  readonly initial?: { readonly target?: readonly Node[] }
  readonly transitions: Map<string, ReadonlyArray<Transition>>
  readonly always?: ReadonlyArray<Transition>
  readonly after: ReadonlyArray<Transition & { readonly delay: string | number }>
  readonly invoke: ReadonlyArray<{ readonly src: unknown; readonly id: string }>
  readonly parent?: Node
}

/** A transition as XState v5 exposes it. */
export interface Transition {
  readonly eventType: string
  readonly target?: readonly Node[]
  readonly guard?: unknown
}

/**
 * A state's id in diagrams: its path below the root joined with `_`, so top-level states keep
 * their own names.
 *
 * @example
 * name(workerMachine.root.states.ready as never) // "ready"
 */
export const name = (node: Node): string => (node.path.length > 0 ? node.path.join("_") : node.key).replace(/[^A-Za-z0-9_]/g, "_")

/**
 * A guard as a label: its name, or `!a`, `a && b`, `a || b` for higher-order guards.
 *
 * @example
 * guardLabel("loaded") // "loaded"
 */
export const guardLabel = (guard: unknown): string | undefined => {
  if (guard === undefined) return undefined
  if (typeof guard === "string") return guard
  // Higher-order guards (not/and/or) are functions carrying the guards they combine.
  const g = guard as { type?: string; guards?: unknown[]; name?: string }
  if (g.name === "not" && g.guards) return `!${guardLabel(g.guards[0]) ?? "guard"}`
  if (g.name === "and" && g.guards) return g.guards.map(guardLabel).join(" && ")
  if (g.name === "or" && g.guards) return g.guards.map(guardLabel).join(" || ")
  if (typeof g.type === "string") return g.type
  return g.name || "guard"
}

/**
 * A transition's event as a label: its type, `after <delay>`, or `always`.
 *
 * @example
 * eventLabel({ eventType: "READY" }, new Map()) // "READY"
 */
export const eventLabel = (t: Transition, delays: Map<string, string | number>): string => {
  const delay = delays.get(t.eventType)
  if (delay !== undefined) return typeof delay === "number" ? `after ${delay}ms` : `after ${delay}`
  return t.eventType === "" ? "always" : t.eventType
}

/**
 * Every transition that applies while `node` is active, its own first, then its ancestors'.
 *
 * @example
 * effectiveTransitions(workerMachine.root.states.ready as never).map((t) => t.eventType) // ["LOAD", ..., "FAULT", "EXITED", "snakepit.shutdown"]
 */
export const effectiveTransitions = (node: Node): Transition[] => {
  const handled = new Set<string>()
  const out: Transition[] = []
  for (let n: Node | undefined = node; n; n = n.parent) {
    const own = [...n.transitions.entries()]
    for (const [event, list] of own) {
      if (handled.has(event)) continue
      handled.add(event)
      out.push(...list)
    }
    for (const t of n.always ?? []) out.push(t)
  }
  return out
}


/** A leaf state of the graph. */
export interface GraphState {
  /** Unique id: the state's path below the root joined with `_`. */
  readonly id: string
  /** The state's own key. */
  readonly key: string
  /** The id of the top-level state it is in (its own id when it is top-level). */
  readonly top: string
  readonly final: boolean
}

/** A transition between two leaf states, labelled with its event, guard or delay. */
export interface GraphTransition {
  readonly from: string
  readonly to: string
  readonly label: string
}

/** A machine's leaf states (in definition order) and the transitions between them. */
export interface StateGraph {
  /** The leaf state the machine starts in. */
  readonly initial: string | undefined
  readonly states: readonly GraphState[]
  readonly transitions: readonly GraphTransition[]
}

/**
 * Every delayed transition's delay, by its internal event type.
 *
 * @example
 * [...delaysOf(workerMachine.root as never).values()] // ["idleTimeout", "shutdownTimeout"]
 */
export const delaysOf = (root: Node): Map<string, string | number> => {
  const delays = new Map<string, string | number>()
  const walk = (node: Node) => {
    for (const d of node.after) delays.set(d.eventType, d.delay)
    for (const child of Object.values(node.states)) walk(child)
  }
  walk(root)
  return delays
}

/** A compound state's initial leaf. */
const initialLeaf = (node: Node): Node => {
  const first = node.initial?.target?.[0]
  return first && Object.keys(first.states).length > 0 ? initialLeaf(first) : (first ?? node)
}

/**
 * The machine's leaf states and transitions (a transition to a compound state points at its
 * initial leaf).
 *
 * @example
 * stateGraph(workerMachine).states.map((s) => s.key) // ["starting", "ready", "busy", ...]
 */
export const stateGraph = (machine: AnyStateMachine): StateGraph => {
  const root = machine.root as unknown as Node
  const delays = delaysOf(root)
  const states: GraphState[] = []
  const transitions: GraphTransition[] = []
  const walk = (node: Node) => {
    for (const child of Object.values(node.states)) {
      if (Object.keys(child.states).length > 0) {
        walk(child)
        continue
      }
      states.push({ id: name(child), key: child.key, top: (child.path[0] ?? child.key).replace(/[^A-Za-z0-9_]/g, "_"), final: child.type === "final" })
      if (child.type === "final") continue
      for (const t of effectiveTransitions(child)) {
        const target = t.target?.[0]
        if (!target) continue
        const guard = guardLabel(t.guard)
        transitions.push({ from: name(child), to: name(initialLeaf(target)), label: `${eventLabel(t, delays)}${guard ? ` [${guard}]` : ""}` })
      }
    }
  }
  walk(root)
  const initial = root.initial?.target?.[0]
  return { initial: initial ? name(initialLeaf(initial)) : undefined, states, transitions }
}

/**
 * The graph with every compound state drawn as one box: its leaves merged into their top-level
 * state, transitions between them dropped. What the dashboard draws for workers, since a worker's
 * status reports only its top-level state (a draining worker is `stopping`).
 *
 * @example
 * topLevelGraph(stateGraph(workerMachine)).states.map((s) => s.id) // [..., "stopping", "crashed", "stopped"]
 */
export const topLevelGraph = (graph: StateGraph): StateGraph => {
  const topOf = new Map(graph.states.map((s) => [s.id, s.top]))
  const states = new Map<string, GraphState>()
  for (const s of graph.states) {
    const merged = states.get(s.top)
    states.set(s.top, { id: s.top, key: s.top, top: s.top, final: (merged?.final ?? true) && s.final })
  }
  const seen = new Set<string>()
  const transitions: GraphTransition[] = []
  for (const t of graph.transitions) {
    const from = topOf.get(t.from) ?? t.from
    const to = topOf.get(t.to) ?? t.to
    const key = `${from}\u0000${to}\u0000${t.label}`
    if (from === to || seen.has(key)) continue
    seen.add(key)
    transitions.push({ from, to, label: t.label })
  }
  const initial = graph.initial === undefined ? undefined : (topOf.get(graph.initial) ?? graph.initial)
  return { initial, states: [...states.values()], transitions }
}
