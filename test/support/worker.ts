/**
 * Starting real workers in tests, with cleanup that runs even when a test fails: every worker
 * started here is stopped (SIGKILL through its scope) in `afterEach`.
 */
import { afterEach } from "vitest"
import { createActor, waitFor, type Actor } from "xstate"
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { workerMachine, type WorkerInput } from "../../src/worker/machine.js"
import type { WorkerProcess } from "../../src/worker/process.js"

export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures")
/** The real interpreter behind `python3` (a pyenv shim here costs ~260 ms per spawn). */
export const pythonCommand = execFileSync(process.env.SNAKEPIT_PYTHON ?? "python3", ["-c", "import sys; print(sys.executable)"], {
  encoding: "utf8",
}).trim()

type WorkerActor = Actor<typeof workerMachine>
const live = new Set<WorkerActor>()

afterEach(() => {
  for (const actor of live) actor.stop()
  live.clear()
})

let counter = 0

/** Starts a worker actor on the fixtures; `errors` collects anything its error observer saw. */
export const startWorker = (input: Partial<WorkerInput> = {}) => {
  const errors: unknown[] = []
  const actor = createActor(workerMachine, {
    input: { workerId: `w${++counter}`, python: pythonCommand, pythonPath: [fixturesDir], ...input },
  })
  actor.subscribe({ error: (e) => errors.push(e) })
  live.add(actor)
  actor.start()
  return { actor, errors }
}

/** Starts a worker and waits until it is ready; returns its process handle too. */
export const readyWorker = async (input: Partial<WorkerInput> = {}) => {
  const { actor, errors } = startWorker(input)
  const snap = await waitFor(actor, (s) => s.value === "ready" || s.status === "done", { timeout: 20_000 })
  if (snap.value !== "ready") throw new Error(`worker did not start: ${JSON.stringify(snap.output)}`)
  const proc = snap.context.process as WorkerProcess
  return { actor, errors, proc, connection: proc.connection }
}

/** Settles a promise into a tagged outcome, so a test can count how each call ended. */
export const outcome = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
