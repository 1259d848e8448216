/**
 * Supervision with real Python workers and real signals: escalation through a 3-level tree,
 * the shutdown rules against a worker that ignores SIGTERM, and no process left behind.
 */
import { randomUUID } from "node:crypto"
import { afterEach, describe, expect, it } from "vitest"
import { supervisorChild, workerChild } from "../../src/supervisor/children.js"
import { Supervisor } from "../../src/supervisor/Supervisor.js"
import type { SupervisorStatus } from "../../src/supervisor/status.js"
import { eventually } from "../support/bridge.js"
import { findProcessesWithEnv, isGone } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const running = new Set<Supervisor>()
afterEach(async () => {
  // Even when a test fails: stop every tree it started (SIGKILL after each shutdown time).
  await Promise.all([...running].map((s) => s.stop().catch(() => {})))
  running.clear()
})

/** Worker input tagged with a marker, so the test can find every process it spawned. */
const tagged = (marker: string, extra: Record<string, unknown> = {}) => ({
  python: pythonCommand,
  pythonPath: [fixturesDir],
  env: { SNAKEPIT_TREE: marker },
  ...extra,
})

const track = async (booting: Promise<Supervisor>) => {
  const sup = await booting
  running.add(sup)
  return sup
}

const pidOf = (status: SupervisorStatus | null | undefined, id: string) => status?.children.find((c) => c.id === id)?.pid ?? null

describe("supervision of real Python workers", () => {
  it("repeated kill -9 of a worker escalates from the pool supervisor to the root, which gives up with MaxRestartIntensity and leaves no process", async () => {
    const marker = randomUUID()
    const root = await track(
      Supervisor.start({
        id: "root",
        flags: { strategy: "one_for_one", intensity: 1, periodMs: 60_000 },
        children: [
          supervisorChild("pool", {
            flags: { strategy: "one_for_one", intensity: 2, periodMs: 60_000 },
            children: [workerChild("w1", tagged(marker)), workerChild("w2", tagged(marker))],
          }),
        ],
      }),
    )
    const pool = () => root.getStatus().children[0]?.supervisor
    // Two workers (each with its process group's watchman shell, which carries the env too).
    expect(findProcessesWithEnv("SNAKEPIT_TREE", marker).filter((p) => p.cmdline.includes("snakepit_bridge"))).toHaveLength(2)

    /** SIGKILLs w1 and waits for what the supervisors do about it. */
    const killW1 = async (expect: "worker restarted" | "pool restarted" | "root gave up") => {
      const pid = pidOf(pool(), "w1")!
      const poolRestarts = root.getStatus().children[0]!.restarts
      process.kill(pid, "SIGKILL")
      if (expect === "worker restarted") {
        await eventually(() => pool()?.children[0]?.status === "running" && pidOf(pool(), "w1") !== pid, 10_000, "w1 restarted by the pool")
      } else if (expect === "pool restarted") {
        await eventually(() => root.getStatus().children[0]!.restarts === poolRestarts + 1 && pool()?.state === "running", 10_000, "pool restarted by the root")
      } else {
        await root.done
      }
    }

    await killW1("worker restarted") // pool: 1 restart
    await killW1("worker restarted") // pool: 2 restarts (its intensity)
    const w2Before = pidOf(pool(), "w2")
    await killW1("pool restarted") // pool: 3 > 2, gives up; root restarts it (1 restart)
    expect(pool()!.totalRestarts).toBe(0) // a fresh pool supervisor
    expect(pidOf(pool(), "w2")).not.toBe(w2Before) // the pool's other worker was restarted with it
    expect(isGone(w2Before!)).toBe(true)
    expect(root.getStatus()).toMatchObject({ state: "running", totalRestarts: 1 })

    await killW1("worker restarted")
    await killW1("worker restarted")
    await killW1("root gave up") // pool gives up again; root: 2 > 1

    const exit = await root.done
    expect(exit).toMatchObject({ reason: "shutdown", cause: "max_intensity", error: { _tag: "MaxRestartIntensity", supervisorId: "root", intensity: 1 } })
    expect(root.getStatus().state).toBe("stopped")
    await eventually(() => findProcessesWithEnv("SNAKEPIT_TREE", marker).length === 0, 5_000, "no Python process left")
  })

  it("a worker that ignores SIGTERM is SIGKILLed after its shutdown time", async () => {
    const marker = randomUUID()
    const sup = await track(
      Supervisor.start({ id: "s", children: [workerChild("deaf", tagged(marker, { preload: ["ignore_sigterm"] }), { shutdown: 600 })] }),
    )
    const pid = pidOf(sup.getStatus(), "deaf")!
    const exits: string[] = []
    sup.on("child.exited", (e) => exits.push(e.reason))
    const stopping = sup.stop()
    // SIGTERM was sent and ignored: the process is still there while the shutdown time runs.
    await new Promise((r) => setTimeout(r, 200))
    expect(isGone(pid)).toBe(false)
    await stopping
    expect(exits).toEqual(["killed"])
    await eventually(() => isGone(pid), 2_000, "deaf worker gone")
  })

  it("a worker that honours SIGTERM stops within its shutdown time with reason shutdown", async () => {
    const marker = randomUUID()
    const sup = await track(Supervisor.start({ id: "s", children: [workerChild("w", tagged(marker), { shutdown: 5_000 })] }))
    const pid = pidOf(sup.getStatus(), "w")!
    const exits: string[] = []
    sup.on("child.exited", (e) => exits.push(e.reason))
    await sup.stop()
    expect(exits).toEqual(["shutdown"])
    await eventually(() => isGone(pid), 2_000, "worker gone")
  })

  it("brutal_kill SIGKILLs at once, without waiting for a worker that ignores SIGTERM", async () => {
    const marker = randomUUID()
    const sup = await track(
      Supervisor.start({ id: "s", children: [workerChild("deaf", tagged(marker, { preload: ["ignore_sigterm"] }), { shutdown: "brutal_kill" })] }),
    )
    const pid = pidOf(sup.getStatus(), "deaf")!
    const exits: string[] = []
    sup.on("child.exited", (e) => exits.push(e.reason))
    await sup.stop()
    expect(exits).toEqual(["killed"])
    await eventually(() => isGone(pid), 2_000, "worker gone")
  })

  it("a worker that cannot start fails the supervisor's start with ChildStartFailed, after stopping those started", async () => {
    const marker = randomUUID()
    const booting = Supervisor.start({
      id: "s",
      children: [workerChild("ok", tagged(marker)), workerChild("broken", tagged(marker, { preload: ["broken_import"] }))],
    })
    await expect(booting).rejects.toMatchObject({ _tag: "ChildStartFailed", childId: "broken", cause: { _tag: "StartupFailed" } })
    await eventually(() => findProcessesWithEnv("SNAKEPIT_TREE", marker).length === 0, 5_000, "no Python process left")
  })

  it("one_for_all with real workers: killing one replaces every worker, in start order", async () => {
    const marker = randomUUID()
    const sup = await track(
      Supervisor.start({
        id: "s",
        flags: { strategy: "one_for_all" },
        children: ["a", "b", "c"].map((id) => workerChild(id, tagged(marker))),
      }),
    )
    const before = sup.whichChildren().map((c) => c.pid!)
    const started: string[] = []
    sup.on("child.started", (e) => started.push(e.id))
    process.kill(before[1]!, "SIGKILL")
    await eventually(() => started.length === 3, 10_000, "all restarted")
    expect(started).toEqual(["a", "b", "c"])
    const after = sup.whichChildren().map((c) => c.pid!)
    expect(after.every((pid) => !before.includes(pid))).toBe(true)
    expect(before.every(isGone)).toBe(true)
    expect(sup.getStatus().totalRestarts).toBe(1)
  })
})
