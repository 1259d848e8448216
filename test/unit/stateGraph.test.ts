import { describe, expect, it } from "vitest"
import { createMachine } from "xstate"
import { stateGraph } from "../../src/inspect/graph.js"
import { layerStates, stateDiagramSvg } from "../../src/inspect/stateDiagramSvg.js"
import { workerMachine } from "../../src/worker/machine.js"

describe("state graph and its SVG", () => {
  it("lists every worker state and the transitions the Mermaid diagram draws", () => {
    const g = stateGraph(workerMachine)
    expect(g.initial).toBe("starting")
    expect(g.states.map((s) => s.key).sort()).toEqual(["busy", "crashed", "idle", "ready", "starting", "stopped", "stopping"])
    expect(g.transitions).toContainEqual({ from: "starting", to: "ready", label: "READY" })
    expect(g.transitions).toContainEqual({ from: "ready", to: "idle", label: "after idleTimeout" })
    expect(g.transitions).toContainEqual({ from: "busy", to: "ready", label: "LOAD [!loaded]" })
    expect(g.states.filter((s) => s.final).map((s) => s.key).sort()).toEqual(["crashed", "stopped"])
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
    const svg = stateDiagramSvg(stateGraph(workerMachine))
    for (const s of ["starting", "ready", "busy", "idle", "stopping", "crashed", "stopped"]) expect(svg).toContain(`data-state="${s}"`)
    expect(svg.match(/<path class="edge[" ]/g)!.length).toBe(new Set(stateGraph(workerMachine).transitions.map((t) => `${t.from}>${t.to}`)).size)
    expect(svg).toContain("starting → crashed: STARTUP_FAILED, FAULT, EXITED")
  })
})
