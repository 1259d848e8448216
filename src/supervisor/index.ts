/**
 * `snakepit/supervisor`: Erlang/OTP supervision for XState actors. Supervisors own children
 * (Python workers, other supervisors, any actor logic) and restart them by OTP's rules:
 * strategies, restart types, intensity, shutdown order, escalation. See docs/supervision.md.
 *
 * @example
 * import { Supervisor, supervisorChild, workerChild } from "snakepit/supervisor"
 * const root = await Supervisor.start({
 *   id: "root",
 *   children: [supervisorChild("pool", { children: [workerChild("w1", { python: "python3" })] })],
 * })
 */
export { DynamicSupervisor, Supervisor } from "./Supervisor.js"
export type { ChildCounts, ChildStart, DynamicSupervisorOptions, SupervisorNotice, SupervisorOptions } from "./Supervisor.js"
export { supervisorChild, workerChild } from "./children.js"
export type { ChildOptions, NestedSupervisor } from "./children.js"
export { checkChildSpecs, resolveChildSpec, resolveFlags, resolveSupervisor } from "./childSpec.js"
export type { AutoShutdown, ChildSpec, ResolvedChildSpec, ResolvedFlags, RestartType, Shutdown, StartResult, Strategy, SupervisorFlags } from "./childSpec.js"
export { supervisorMachine } from "./machine.js"
export type { ChildRecord, ChildStatus, MailDelivered, RestartRecord, RetryRestart, StopCause, SupervisorContext, SupervisorEvent, SupervisorEmitted, SupervisorExit, SupervisorInput } from "./machine.js"
export type { SupervisorClock } from "./clock.js"
export { supervisorStatus } from "./status.js"
export type { ChildInfo, SupervisorStatus } from "./status.js"
export { autoShutdownDue, isCleanExit, restartPlan, shouldRestart, shutdownOrder } from "./strategy.js"
export type { ChildView, RestartPlan } from "./strategy.js"
export { emptyWindow, exceeds, prune, recordRestart } from "./intensity.js"
export type { IntensityLimit, RestartWindow } from "./intensity.js"
export { backoffDelay, nextBackoff } from "./backoff.js"
export type { BackoffOptions } from "./backoff.js"
export { SHUTDOWN_EVENT } from "./childRunner.js"
