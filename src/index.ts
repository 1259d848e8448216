/**
 * snakepit: run Python from Node.js on a supervised pool of Python worker processes.
 *
 * @example
 * import { PythonBridge } from "snakepit"
 * await using bridge = await PythonBridge.start({ pythonPath: ["./py"] })
 * await bridge.executePython("s1", "math", "sqrt", [16]) // 4
 */
export { PythonBridge } from "./bridge/PythonBridge.js"
export type { BridgeCommand } from "./bridge/PythonBridge.js"
export type { BridgeStatus, WorkerStatus } from "./bridge/status.js"
export type { BusyWaitCounts } from "./protocol/messages.js"
export type { ExecuteOptions } from "./bridge/callOptions.js"
export type { MapOptions, MapResult } from "./bridge/mapOptions.js"
export type {
  BridgeOptions,
  InspectOption,
  LimitsOptions,
  LocalBridgeOptions,
  LocalWorkerOptions,
  RemoteBridgeOptions,
  RestartOptions,
  SharedBridgeOptions,
  TestingBridgeOptions,
} from "./bridge/options.js"
export type { StopOptions } from "./bridge/stopOptions.js"
export type { Tool } from "./placement/tools.js"
export { BridgeSession } from "./bridge/BridgeSession.js"
export { bridgeChild, bridgeOf } from "./bridge/bridgeChild.js"
export type { SessionVariablesView } from "./bridge/BridgeSession.js"
export type { BridgeEventName, BridgeEvents } from "./telemetry/events.js"
export type { PoolStats } from "./telemetry/callTimings.js"
export type { LatencySummary } from "./telemetry/latencyHistogram.js"
export { RemoteAgent } from "./remote/RemoteAgent.js"
export type { AgentOptions } from "./remote/RemoteAgent.js"
export type { RemoteOptions } from "./remote/remoteOptions.js"
export type { NatsOptions } from "./remote/natsOptions.js"

export {
  BridgeStopped,
  CallCancelled,
  ChildStartFailed,
  CallTimeout,
  CodeExecutionDisabled,
  FrameTooLarge,
  InvalidOptions,
  isSnakepitError,
  MaxRestartIntensity,
  ModuleNotAllowed,
  ProtocolError,
  PythonError,
  QueueFull,
  QueueTimeout,
  SerializationError,
  StartupFailed,
  StartupTimeout,
  SupervisorRefused,
  TooManySessions,
  VariableLimitExceeded,
  WorkerCrashed,
} from "./errors.js"
export type { CallContext, SnakepitError } from "./errors.js"

export { NDArray, PyDate, PyTime, isTuple, tuple } from "./protocol/codec.js"
export type { DType } from "./protocol/codec.js"
export { registerDecoder, registerEncoder } from "./protocol/customTypes.js"

export { stoppingPhase, workerMachine, workerState, type StoppingPhase } from "./worker/machine.js"
export { supervisorMachine } from "./supervisor/machine.js"
export { toMermaid } from "./inspect/mermaid.js"
export { stateGraph } from "./inspect/graph.js"
export type { GraphState, GraphTransition, StateGraph } from "./inspect/graph.js"
export type { Dashboard, DashboardOptions } from "./inspect/dashboard.js"
export { serveTreeDashboard } from "./inspect/treeDashboard.js"
export type { CallCounts, CallsSnapshot, RecentError } from "./inspect/callPanels.js"
export type { WorkerExit, WorkerInput, WorkerState } from "./worker/machine.js"
