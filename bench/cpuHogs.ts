/**
 * `npm run bench -- --load`: busy child processes that spin beside the bench, so the contention
 * rows measure ours and the floor on a machine whose cores are taken. They must never outlive
 * the bench: `stop()` kills them, so does this process's exit (a thrown error included), SIGINT
 * or SIGTERM; and each hog exits by itself once its parent is gone (a SIGKILLed bench runs no
 * handler), by checking its parent pid between short spins.
 *
 * @example
 * const hogs = startCpuHogs(2, "python3")
 * try {
 *   await measureUnderLoad()
 * } finally {
 *   await hogs.stop()
 * }
 */
import { spawn, type ChildProcess } from "node:child_process"

/** Running hogs. */
export interface CpuHogs {
  readonly pids: readonly number[]
  /** Kill every hog and wait until each has exited. */
  stop(): Promise<void>
}

// A few ms of spinning between checks of the parent: cheap enough to keep a core busy, short
// enough that an orphaned hog is gone at once.
const SPIN = `
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(100000):
        pass
`

/**
 * Start `count` hogs, each a Python process spinning on one core.
 *
 * @example
 * const hogs = startCpuHogs(2, python)
 * hogs.pids.length // 2
 */
export const startCpuHogs = (count: number, python: string): CpuHogs => {
  const children: ChildProcess[] = Array.from({ length: count }, () => spawn(python, ["-c", SPIN, String(process.pid)], { stdio: "ignore" }))
  const killAll = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  const onSignal = (signal: NodeJS.Signals) => {
    killAll()
    process.exit(signal === "SIGINT" ? 130 : 143)
  }
  process.on("exit", killAll)
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  // A hog that cannot start (no such python) emits "error" and no "exit": it counts as gone,
  // and must not crash the bench with an unhandled error.
  const exited = children.map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.once("error", () => resolve())
      }),
  )
  return {
    pids: children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
    async stop() {
      process.off("exit", killAll)
      process.off("SIGINT", onSignal)
      process.off("SIGTERM", onSignal)
      killAll()
      await Promise.all(exited)
    },
  }
}
