import { describe, expect, it } from "vitest"
import { createMachine } from "xstate"
import { stateGraph, topLevelGraph } from "../../src/inspect/graph.js"
import { layerStates, stateDiagramSvg } from "../../src/inspect/stateDiagramSvg.js"
import { workerMachine } from "../../src/worker/machine.js"

describe("state graph and its SVG", () => {
  it("lists every worker state and the transitions the Mermaid diagram draws", () => {
    const g = stateGraph(workerMachine)
    expect(g.initial).toBe("starting")
    expect(g.states.map((s) => s.id).sort()).toEqual(["busy", "crashed", "idle", "ready", "starting", "stopped", "stopping_drained", "stopping_draining", "stopping_terminating"])
    expect(g.transitions).toContainEqual({ from: "starting", to: "ready", label: "READY" })
    expect(g.transitions).toContainEqual({ from: "busy", to: "stopping_draining", label: "DRAIN" })
    expect(g.transitions).toContainEqual({ from: "stopping_draining", to: "stopping_drained", label: "LOAD [!loaded]" })
    expect(g.transitions).toContainEqual({ from: "ready", to: "stopping_terminating", label: "snakepit.shutdown" })
    expect(g.transitions).toContainEqual({ from: "ready", to: "idle", label: "after idleTimeout" })
    expect(g.transitions).toContainEqual({ from: "busy", to: "ready", label: "LOAD [!loaded]" })
    expect(g.states.filter((s) => s.final).map((s) => s.key).sort()).toEqual(["crashed", "stopped"])
  })

  it("the top-level graph merges a compound state's leaves into one box, as a worker's status reports it", () => {
    const g = topLevelGraph(stateGraph(workerMachine))
    expect(g.initial).toBe("starting")
    expect(g.states.map((s) => s.id)).toEqual(["starting", "ready", "busy", "idle", "stopping", "crashed", "stopped"])
    expect(g.transitions).toContainEqual({ from: "busy", to: "stopping", label: "DRAIN" })
    expect(g.transitions).toContainEqual({ from: "stopping", to: "stopped", label: "EXITED" })
    // Moves inside `stopping` (draining → drained → terminating) are not edges of the box.
    expect(g.transitions.filter((t) => t.from === t.to)).toEqual([])
    expect(g.states.filter((s) => s.final).map((s) => s.id)).toEqual(["crashed", "stopped"])
  })

  it("transitions into a compound state point at its initial leaf", () => {
    const m = createMachine({ id: "m", initial: "a", states: { a: { on: { GO: "b" } }, b: { initial: "x", states: { x: {}, y: {} } } } })
    expect(stateGraph(m).transitions).toEqual([{ from: "a", to: "b_x", label: "GO" }])
  })

  it("lays out a chain left to right and sends the edges of a cycle back", () => {
    const m = createMachine({ id: "c", initial: "a", states: { a: { on: { N: "b" } }, b: { on: { N: "c", BACK: "a" } }, c: { on: { R: "a" } } } })
    expect([...layerStates(stateGraph(m))]).toEqual([["a", 0], ["b", 1], ["c", 2]])
  })

  it("draws one box per state and one edge per pair of states, with the events as its title", () => {
    const graph = topLevelGraph(stateGraph(workerMachine))
    const svg = stateDiagramSvg(graph)
    for (const s of ["starting", "ready", "busy", "idle", "stopping", "crashed", "stopped"]) expect(svg).toContain(`data-state="${s}"`)
    expect(svg.match(/<path class="edge[" ]/g)!.length).toBe(new Set(graph.transitions.map((t) => `${t.from}>${t.to}`)).size)
    expect(svg).toContain("starting → crashed: STARTUP_FAILED, FAULT, EXITED")
  })
})
