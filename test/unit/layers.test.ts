import { describe, expect, it } from "vitest"
import { typescriptImports } from "../support/importGraph.js"

// The layer rules docs/architecture.md states, checked on the import graph (type-only imports
// included) so the page cannot drift from the code. Each rule lists the imports that break it.
const graph = typescriptImports("src")
const edges = [...graph].flatMap(([from, deps]) => [...deps].map((to) => ({ from, to })))
const folder = (file: string) => (file.includes("/") ? file.slice(0, file.indexOf("/")) : "")
/** Root modules anything may import: they import no folder themselves. */
const LEAVES = new Set(["errors.ts", "errorContext.ts", "didYouMean.ts", "asyncQueue.ts", "thrown.ts", "cancelSignal.ts", "idTable.ts", "counts.ts", "terminalText.ts", "guardedCallbacks.ts", "timerLimit.ts"])
/** Entry points (package exports and the CLI): nothing in src imports them. */
const ENTRIES = new Set(["index.ts", "effect.ts", "cli.ts", "testing/index.ts"])

/** Imports from files in `from` to modules outside `allowed` (folders, or exact files). */
const breaking = (from: string, allowed: readonly string[]) =>
  edges
    .filter((e) => folder(e.from) === from && folder(e.to) !== from && !LEAVES.has(e.to) && !allowed.includes(folder(e.to)) && !allowed.includes(e.to))
    .map((e) => `${e.from} -> ${e.to}`)

describe("layering: the rules docs/architecture.md states", () => {
  it("the graph is the real one", () => {
    expect(graph.size).toBeGreaterThan(50)
    expect(graph.get("bridge/pool.ts")?.has("placement/routing.ts")).toBe(true)
  })

  it("the root leaves (errors, errorContext, didYouMean, asyncQueue, thrown, cancelSignal, idTable, counts, terminalText, guardedCallbacks, timerLimit) import no folder", () => {
    expect(edges.filter((e) => LEAVES.has(e.from) && !LEAVES.has(e.to)).map((e) => `${e.from} -> ${e.to}`)).toEqual([])
  })

  it("protocol/ imports nothing but the leaves", () => {
    expect(breaking("protocol", [])).toEqual([])
  })

  it("worker/ imports only protocol/", () => {
    expect(breaking("worker", ["protocol"])).toEqual([])
  })

  it("supervisor/ imports only worker/ and protocol/: nothing from bridge/, remote/, inspect/ or telemetry/", () => {
    expect(breaking("supervisor", ["worker", "protocol"])).toEqual([])
  })

  it("telemetry/ imports worker/, protocol/ and from bridge/ only the status types", () => {
    expect(breaking("telemetry", ["worker", "protocol", "bridge/status.ts"])).toEqual([])
  })

  it("placement/ imports only worker/ and protocol/: both pools build on it, it knows neither", () => {
    expect(breaking("placement", ["worker", "protocol"])).toEqual([])
  })

  it("routing, sessions and tools are shared: the local and the remote pool both import them from placement/", () => {
    for (const shared of ["placement/routing.ts", "placement/sessions.ts", "placement/sessionCalls.ts", "placement/tools.ts"]) {
      const importers = edges.filter((e) => e.to === shared).map((e) => e.from)
      expect(importers, shared).toContain("bridge/pool.ts")
      expect(importers, shared).toContain("remote/RemotePool.ts")
    }
  })

  it("inspect/ takes from bridge/ only the status types and bridgeOf (tree dashboard), and nothing from remote/", () => {
    expect(breaking("inspect", ["worker", "protocol", "supervisor", "telemetry", "bridge/status.ts", "bridge/bridgeChild.ts"])).toEqual([])
  })

  it("in bridge/, only PythonBridge (and options, for their option types) reach remote/ and inspect/: the facade picks the backend and wires the dashboard", () => {
    const reaching = edges.filter((e) => folder(e.from) === "bridge" && (folder(e.to) === "remote" || folder(e.to) === "inspect")).map((e) => e.from)
    expect([...new Set(reaching)].sort()).toEqual(["bridge/PythonBridge.ts", "bridge/options.ts"])
  })

  it("remote/ uses bridge/'s shared placement and types, never the local pool's modules", () => {
    const local = ["bridge/pool.ts", "bridge/workerSlots.ts", "bridge/workerSlot.ts", "bridge/forkTemplates.ts", "bridge/recycling.ts", "bridge/readyWaiters.ts", "bridge/restartGenerations.ts", "bridge/circuitBreaker.ts", "bridge/processInput.ts", "bridge/poolProbe.ts"]
    expect(edges.filter((e) => folder(e.from) === "remote" && local.includes(e.to)).map((e) => `${e.from} -> ${e.to}`)).toEqual([])
  })

  it("the local pool's modules are its own: only the pool (admission and dispatch, pool.ts) and its worker slots (workerSlots.ts) import them (the probe: also PythonBridge and snakepit/testing)", () => {
    const own: Record<string, readonly string[]> = {
      "bridge/workerSlots.ts": ["bridge/pool.ts"],
      "bridge/workerSlot.ts": ["bridge/pool.ts", "bridge/workerSlots.ts"],
      "bridge/forkTemplates.ts": ["bridge/pool.ts", "bridge/workerSlots.ts"],
      "bridge/recycling.ts": ["bridge/pool.ts", "bridge/workerSlots.ts"],
      "bridge/readyWaiters.ts": ["bridge/pool.ts"],
      "bridge/restartGenerations.ts": ["bridge/pool.ts"],
      "bridge/circuitBreaker.ts": ["bridge/pool.ts"],
      "bridge/processInput.ts": ["bridge/pool.ts", "bridge/workerSlots.ts"],
      "bridge/poolProbe.ts": ["bridge/pool.ts", "bridge/workerSlots.ts", "bridge/PythonBridge.ts", "testing/faults.ts"],
    }
    for (const [module, importers] of Object.entries(own)) {
      expect(graph.has(module), module).toBe(true)
      expect(edges.filter((e) => e.to === module).map((e) => e.from).sort(), module).toEqual([...importers].sort())
    }
  })

  it("the pool dispatches, its slots live and die: the worker machine and the supervisor's stop are the slots' business", () => {
    expect(graph.get("bridge/workerSlots.ts")?.has("worker/machine.ts")).toBe(true)
    expect(graph.get("bridge/pool.ts")?.has("worker/machine.ts") ?? false).toBe(false)
    expect(graph.get("bridge/workerSlots.ts")?.has("placement/routing.ts") ?? false).toBe(false)
    expect(graph.get("bridge/workerSlots.ts")?.has("placement/watchedQueue.ts") ?? false).toBe(false)
  })

  it("nothing outside testing/ imports testing/, and no src file imports an entry point", () => {
    expect(edges.filter((e) => folder(e.to) === "testing" && folder(e.from) !== "testing").map((e) => `${e.from} -> ${e.to}`)).toEqual([])
    expect(edges.filter((e) => ENTRIES.has(e.to)).map((e) => `${e.from} -> ${e.to}`)).toEqual([])
  })
})
