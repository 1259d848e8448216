/**
 * Mermaid `stateDiagram-v2` text for any XState v5 machine: states (nested too), initial and
 * final states, transitions labelled with their event, guard (`[guard]`) and delay
 * (`after idleTimeout`, `after 500ms`), eventless (`always`) transitions, and invoked actors as
 * notes. Transitions declared on a parent apply to every child state that does not handle the
 * same event itself, and are drawn that way: the diagram shows what the machine does.
 *
 * @example
 * import { toMermaid, workerMachine } from "snakepit"
 * writeFileSync("worker.md", "```mermaid\n" + toMermaid(workerMachine) + "\n```\n")
 */
import type { AnyStateMachine } from "xstate"

interface Node {
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

interface Transition {
  readonly eventType: string
  readonly target?: readonly Node[]
  readonly guard?: unknown
}

// Mermaid ids: the state's path below the root, so top-level states keep their own names.
const name = (node: Node): string => (node.path.length > 0 ? node.path.join("_") : node.key).replace(/[^A-Za-z0-9_]/g, "_")

const guardLabel = (guard: unknown): string | undefined => {
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

const eventLabel = (t: Transition, delays: Map<string, string | number>): string => {
  const delay = delays.get(t.eventType)
  if (delay !== undefined) return typeof delay === "number" ? `after ${delay}ms` : `after ${delay}`
  return t.eventType === "" ? "always" : t.eventType
}

/** Every transition that applies while `node` is active, its own first, then its ancestors'. */
const effectiveTransitions = (node: Node): Transition[] => {
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

const lines = (node: Node, indent: string, delays: Map<string, string | number>, out: string[]): void => {
  const children = Object.values(node.states)
  const initial = node.initial?.target?.[0]
  if (initial) out.push(`${indent}[*] --> ${name(initial)}`)
  for (const child of children) {
    for (const d of child.after) delays.set(d.eventType, d.delay)
  }
  for (const child of children) {
    if (Object.keys(child.states).length > 0) {
      out.push(name(child) === child.key ? `${indent}state ${child.key} {` : `${indent}state "${child.key}" as ${name(child)} {`)
      lines(child, `${indent}  `, delays, out)
      out.push(`${indent}}`)
    } else if (name(child) !== child.key) {
      out.push(`${indent}state "${child.key}" as ${name(child)}`)
    }
    if (child.type === "final") {
      out.push(`${indent}${name(child)} --> [*]`)
      continue
    }
    // Compound states show their children's transitions; their own are drawn from the children.
    if (Object.keys(child.states).length === 0) {
      for (const t of effectiveTransitions(child)) {
        const target = t.target?.[0]
        if (!target) continue
        const guard = guardLabel(t.guard)
        out.push(`${indent}${name(child)} --> ${name(target)} : ${eventLabel(t, delays)}${guard ? ` [${guard}]` : ""}`)
      }
    }
    for (const inv of child.invoke) {
      out.push(`${indent}note right of ${name(child)} : invokes ${typeof inv.src === "string" ? inv.src : inv.id}`)
    }
  }
}

/**
 * Renders a machine as Mermaid `stateDiagram-v2` source (without the code fence).
 *
 * @example
 * toMermaid(workerMachine).split("\n")[0] // "stateDiagram-v2"
 */
export const toMermaid = (machine: AnyStateMachine): string => {
  const out = ["stateDiagram-v2"]
  lines(machine.root as unknown as Node, "  ", new Map(), out)
  return out.join("\n")
}
