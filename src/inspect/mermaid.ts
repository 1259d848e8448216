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
import { delaysOf, effectiveTransitions, eventLabel, guardLabel, name, type Node } from "./graph.js"

const lines = (node: Node, indent: string, delays: Map<string, string | number>, out: string[]): void => {
  const children = Object.values(node.states)
  const initial = node.initial?.target?.[0]
  if (initial) out.push(`${indent}[*] --> ${name(initial)}`)
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
  const root = machine.root as unknown as Node
  lines(root, "  ", delaysOf(root), out)
  return out.join("\n")
}
