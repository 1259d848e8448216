/**
 * `snakepit/testing`: tools for proving your own service resilient against misbehaving Python
 * workers — fault injection on a live bridge, an in-memory fake worker for fast properties,
 * fast-check commands and the invariant checks. See docs/testing.md.
 *
 * @example
 * import { createFaults } from "snakepit/testing"
 * const faults = createFaults(bridge) // bridge started with testing: true
 * faults.kill("w1")
 */
export { createFaults } from "./faults.js"
export type { Faults } from "./faults.js"
export { createFakeWorkerProcess, fakeWorkerProcess, fakeWorkers } from "./fakeWorker.js"
export type { FakeWorkerHandle, FakeWorkerMutation } from "./fakeWorker.js"
export { assertNoLeaks, assertSettledOnce, CallLedger } from "./invariants.js"
export type { TrackedCall } from "./invariants.js"
export {
  AbortCommand,
  CleanupCommand,
  EchoCommand,
  FailCommand,
  HangCommand,
  KillCommand,
  PauseCommand,
  resilienceCommands,
  resilienceSystem,
  SleepCommand,
} from "./commands.js"
export type { ResilienceCommand, ResilienceModel, ResilienceSystem } from "./commands.js"
