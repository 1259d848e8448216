/**
 * The messages between clients and agents over NATS (each one envelope, see `wire.ts`), and the
 * record every agent keeps in the pool's KV bucket. `docs/distributed.md` lists the subjects.
 *
 * Client → agent, on the pool's queue subject or on the agent's own subject, each ending with the
 * client's id (`subjects.ts`; an agent drops a message whose `clientId` is not its subject's):
 * - `call`: `{ callId, clientId, kind: "call" | "exec" | "stream", sessionId, module, fn, args,
 *   kwargs, code, context, timeoutMs }`, with a reply subject for what follows;
 * - `cancel { callId, clientId }`, `credit { callId, clientId, items }` (stream flow control),
 *   `cleanup { clientId, sessionId }` and `restart {}` (request/reply).
 *
 * A message may hold several of these, frames back to back (`wire.ts` `readMessages`): a client
 * joins the calls it sends one agent in one turn, an agent the replies it sends one reply
 * subject. A call's reply subject must be `<prefix>.<pool>.client.<clientId>.reply.<token>`
 * (the agent refuses any other; the client uses the id of the message's first call as the
 * token), and an agent keeps each client's sessions apart: session `s` of one client
 * is not session `s` of another, so a peer that names someone else's session id reaches an empty
 * session of its own. Call ids are random, so they cannot be guessed from outside.
 *
 * Agent → client, on the call's reply subject, each naming its call (`callId`):
 * `accepted { agentId }` (for a call taken from the queue group), `item { value }`* (a stream),
 * then exactly one of `result { value }`, `end {}` (a stream's end) or `error { error, declined? }` (`declined`: the call did not run, see {@link CallReply}). Tool calls (and `session.variables`) of a session go to
 * the client that called, as requests on its tools subject: `{ agentId, callId, name, args,
 * kwargs }`, naming the client's call they belong to (one of that session's calls running on
 * the agent), with a reply subject in the agent's inbox; answered `{ ok, value }` or
 * `{ ok: false, message }`. The client takes the session from its own record of that call, and
 * refuses a tool call for a call it did not send to that agent or that is no longer running.
 *
 * Every message is held to its type below (`checkMessage` of `protocol/validate.ts`, the same
 * layer that checks a worker's messages) before it is read: NATS is a boundary like a pipe, and a
 * peer on it (or anyone allowed to publish on the pool's subjects) is trusted no more than a
 * worker.
 *
 * @example
 * const record: AgentRecord = JSON.parse(new TextDecoder().decode(entry.value))
 */
import { bool, checkMessage, count, int, list, literal, nullable, num, oneOf, optional, record, shape, str, type Spec, value } from "../protocol/validate.js"
import { isSubjectToken } from "./subjects.js"
import { MAX_TIMER_MS } from "../timerLimit.js"

// ── client → agent (the queue subject and the agent's own) ──────────────────────────────────

/** A call for an agent to run; replies go to the message's reply subject. */
export interface CallRequest {
  readonly type: "call"
  readonly callId: string
  readonly clientId: string
  readonly kind: "call" | "exec" | "stream"
  readonly sessionId: string | null
  readonly module: string
  readonly fn: string
  readonly args?: readonly unknown[]
  readonly kwargs?: Readonly<Record<string, unknown>>
  readonly code?: string
  readonly context?: Readonly<Record<string, unknown>>
  /** The call's deadline; absent or `null`: the agent's default. */
  readonly timeoutMs?: number | null
  readonly nested?: boolean
  /** The remote wire version of the client ({@link WIRE_VERSION}); absent from clients before versions. */
  readonly wire?: number
}

/** Stop a call. */
export interface CancelRequest {
  readonly type: "cancel"
  readonly callId: string
  readonly clientId: string
}

/** Stream flow control: the client can take `items` more. */
export interface CreditGrant {
  readonly type: "credit"
  readonly callId: string
  readonly clientId: string
  readonly items: number
}

/** Drop a client's session (request/reply: answered {@link CleanedReply}). */
export interface CleanupRequest {
  readonly type: "cleanup"
  readonly clientId: string
  readonly sessionId: string
}

/** Restart the agent's Python environment (request/reply: answered {@link RestartedReply}). */
export interface RestartRequest {
  readonly type: "restart"
}

/**
 * Are you there? Sent on an agent's own subject, to the client's reply subjects, by a client
 * that has not heard the agent's heartbeat for a TTL or judged it lost: answered `pong`.
 */
export interface PingRequest {
  readonly type: "ping"
  readonly clientId: string
}

/**
 * Everything an agent reads on its subjects.
 *
 * @example
 * const m = checkMessage<AgentInbound>(agentInboundSpecs, decodeMessage(msg.data))
 */
export type AgentInbound = CallRequest | CancelRequest | CreditGrant | CleanupRequest | RestartRequest | PingRequest

// ── agent → client ──────────────────────────────────────────────────────────────────────────

/** An error as plain fields (`wire.ts` `errorToWire`): a snakepit error's tag and its scalars. */
export interface WireError {
  readonly _tag: string
  readonly message: string
}

/**
 * What a client reads on its reply subjects, for the call `callId` names (absent: the call the
 * subject's last token names).
 *
 * @example
 * if (m.type === "item") onItem(m.value)
 */
export type CallReply =
  | { readonly type: "accepted"; readonly callId?: string; readonly agentId: string }
  | { readonly type: "item"; readonly callId?: string; readonly value: unknown }
  | { readonly type: "result"; readonly callId?: string; readonly value: unknown }
  | { readonly type: "end"; readonly callId?: string }
  | {
      readonly type: "error"
      readonly callId?: string
      readonly error: WireError
      /**
       * Set when the agent did not run the call, and says why (`"draining"`): the client may send
       * it to another agent, idempotent or not. Absent (an older agent, or a call that ran or may
       * have): the error is the call's outcome.
       */
      readonly declined?: string
    }

/**
 * A tool call of a remote session, for the client that holds its tools. It names the client's
 * call it was made under (`callId`), never a session: the client knows which session that call
 * is for.
 */
export interface RemoteToolCall {
  readonly type: "tool_call"
  readonly agentId: string
  readonly callId: string
  readonly name: string
  readonly args: readonly unknown[]
  readonly kwargs: Readonly<Record<string, unknown>>
}

/** An agent asking whether a client (that stopped taking stream items) still exists. */
export interface AliveProbe {
  readonly type: "alive"
}

/**
 * What a client reads on its tools subject.
 *
 * @example
 * const m = checkMessage<ClientToolInbound>(clientToolSpecs, decodeMessage(msg.data))
 */
export type ClientToolInbound = RemoteToolCall | AliveProbe

/** A client's answer to a {@link RemoteToolCall}. */
export type ToolResultReply =
  | { readonly type: "tool_result"; readonly ok: true; readonly value: unknown }
  | { readonly type: "tool_result"; readonly ok: false; readonly message: string }

/** A {@link ToolResultReply} as checked on receipt (`message` may be missing on a failure). */
export interface ToolResultAnswer {
  readonly type: "tool_result"
  readonly ok: boolean
  readonly value?: unknown
  readonly message?: string
  /** A typed failure's error type (`VariableLimitExceeded`) and fields, passed on to Python. */
  readonly errorType?: string
  readonly fields?: Readonly<Record<string, unknown>>
}

/** The answer to a {@link CleanupRequest}. */
export interface CleanedReply {
  readonly type: "cleaned"
  readonly existed: boolean
}

/** The answer to a {@link RestartRequest}. */
export interface RestartedReply {
  readonly type: "restarted"
  readonly workers: number
}

const wireError = shape<WireError>({ _tag: str, message: str })

/**
 * The spec of each message an agent reads.
 *
 * @example
 * checkMessage<AgentInbound>(agentInboundSpecs, { type: "cancel", callId: 1 }) // a sentence: callId must be a string
 */
export const agentInboundSpecs: { readonly [T in AgentInbound["type"]]: Spec<Extract<AgentInbound, { type: T }>> } = {
  call: {
    type: literal("call"),
    callId: str,
    clientId: str,
    kind: oneOf(["call", "exec", "stream"]),
    sessionId: nullable(str),
    module: str,
    fn: str,
    args: optional(list),
    kwargs: optional(record),
    code: optional(str),
    context: optional(record),
    timeoutMs: optional(nullable(num)),
    nested: optional(bool),
    wire: optional(int),
  },
  cancel: { type: literal("cancel"), callId: str, clientId: str },
  credit: { type: literal("credit"), callId: str, clientId: str, items: count },
  cleanup: { type: literal("cleanup"), clientId: str, sessionId: str },
  restart: { type: literal("restart") },
  ping: { type: literal("ping"), clientId: str },
}

/**
 * The spec of each message a client reads on a call's reply subject.
 *
 * @example
 * checkMessage<CallReply>(callReplySpecs, { type: "end" }) // { type: "end" }
 */
export const callReplySpecs: { readonly [T in CallReply["type"]]: Spec<Extract<CallReply, { type: T }>> } = {
  accepted: { type: literal("accepted"), callId: optional(str), agentId: str },
  item: { type: literal("item"), callId: optional(str), value },
  result: { type: literal("result"), callId: optional(str), value },
  end: { type: literal("end"), callId: optional(str) },
  error: { type: literal("error"), callId: optional(str), error: wireError, declined: optional(str) },
}

/**
 * An agent's answer to a {@link PingRequest}, on the reply subject the ping named: which process
 * it is (as its record says) and whether it drains.
 */
export interface PongReply {
  readonly type: "pong"
  readonly agentId: string
  readonly pid: number
  readonly startedAt: number
  readonly draining: boolean
}

/**
 * The spec of what a client reads on a ping's reply subject.
 *
 * @example
 * checkMessage<PongReply>(pongReplySpecs, { type: "pong", agentId: "a1", pid: 7, startedAt: 0, draining: false })
 */
export const pongReplySpecs: { readonly pong: Spec<PongReply> } = {
  pong: { type: literal("pong"), agentId: str, pid: int, startedAt: num, draining: bool },
}

/**
 * The spec of each message a client reads on its tools subject.
 *
 * @example
 * checkMessage<ClientToolInbound>(clientToolSpecs, { type: "alive" }) // { type: "alive" }
 */
export const clientToolSpecs: { readonly [T in ClientToolInbound["type"]]: Spec<Extract<ClientToolInbound, { type: T }>> } = {
  tool_call: { type: literal("tool_call"), agentId: str, callId: str, name: str, args: list, kwargs: record },
  alive: { type: literal("alive") },
}

/**
 * The spec of the answer an agent reads to a tool call it forwarded to a client.
 *
 * @example
 * checkMessage(toolResultSpecs, { type: "tool_result", ok: true, value: 1 })
 */
export const toolResultSpecs: { readonly tool_result: Spec<ToolResultAnswer> } = {
  tool_result: { type: literal("tool_result"), ok: bool, value, message: optional(str), errorType: optional(str), fields: optional(record) },
}

/** The answer to a {@link RestartRequest}: done, or why not. */
export type RestartReply = RestartedReply | { readonly type: "error"; readonly error: WireError }

/**
 * The spec of the answer to a {@link RestartRequest}: {@link RestartedReply} or an error.
 *
 * @example
 * checkMessage(restartReplySpecs, { type: "restarted", workers: 2 })
 */
export const restartReplySpecs: { readonly [T in RestartReply["type"]]: Spec<Extract<RestartReply, { type: T }>> } = {
  restarted: { type: literal("restarted"), workers: int },
  error: { type: literal("error"), error: wireError },
}

/**
 * The version of the remote wire this code speaks. 1: one frame per NATS message, a reply
 * named only by its subject's last token (snakepit 0.1). 2: several frames per message and
 * every reply naming its call (`callId`). 3: a client publishes to agents on subjects that end
 * with its id (`…call.<clientId>`, `…agent.<agentId>.from.<clientId>`), so NATS permissions
 * attest the sender, and an agent drops a message whose body names another client. An agent writes it in its record, and a client in each
 * call: a client uses only agents that speak its version (a pool with none is refused at start,
 * by name), and an agent answers a call of another version with one plain error frame naming
 * both, so neither side fails on the other's messages.
 *
 * @example
 * const agent = parseAgentRecord(entry.value, entry.key)
 * if (agent !== undefined && agent.wire !== WIRE_VERSION) console.warn(`${agent.agentId} runs another snakepit version`)
 */
export const WIRE_VERSION = 3

/** What an agent publishes in the KV bucket under its id, every heartbeat. */
export interface AgentRecord {
  readonly agentId: string
  /** The remote wire version it speaks ({@link WIRE_VERSION}); a record without one is read as 1. */
  readonly wire: number
  /** Calls it runs at once (workers × concurrency). */
  readonly capacity: number
  readonly inFlight: number
  readonly workers: number
  readonly sessions: number
  readonly heartbeatMs: number
  /** Silence after which clients consider it lost. */
  readonly ttlMs: number
  /** Finishing its calls before it exits: takes no new sessions. */
  readonly draining: boolean
  readonly allowCodeExecution: boolean
  readonly pid: number
  readonly hostname: string
  readonly startedAt: number
  /**
   * How many times the agent has connected to NATS (1, then one more at each reconnect), when it
   * says (older agents write none). A record whose count is higher than before an outage was
   * written after the agent reconnected, so after its subscriptions were back (the NATS client
   * sends them before anything else); a record written before the outage, which the server may
   * still hand out, is no such proof.
   */
  readonly connects?: number
}

/**
 * Stream items an agent sends before it waits for credit; the client grants half a window at a
 * time as its consumer takes items.
 *
 * @example
 * if (++consumed % (STREAM_WINDOW / 2) === 0) grant(STREAM_WINDOW / 2)
 */
export const STREAM_WINDOW = 64

/** A record as written: records from before wire versions lack `wire`. */
type WrittenRecord = Omit<AgentRecord, "wire"> & { readonly wire?: number }

const recordSpecs: { readonly record: Spec<WrittenRecord & { readonly type: "record" }> } = { record: {
  type: literal("record"),
  agentId: str,
  wire: optional(int),
  capacity: int,
  inFlight: int,
  workers: int,
  sessions: int,
  heartbeatMs: num,
  ttlMs: num,
  draining: bool,
  allowCodeExecution: bool,
  pid: int,
  hostname: str,
  startedAt: num,
  connects: optional(int),
} }

/** The shortest heartbeat an agent may have (ms): a client polls agent records every half heartbeat. */
export const MIN_HEARTBEAT_MS = 50

/** An agent's TTL (ms) when its options name none; a client assumes it while it knows no agent's. */
export const DEFAULT_AGENT_TTL_MS = 3_000

/**
 * Why an agent's `heartbeatMs` and `ttlMs` cannot be used, if they cannot: a heartbeat of at
 * least {@link MIN_HEARTBEAT_MS}, and a TTL of at least two heartbeats and at most the longest
 * timer delay (2^31 − 1 ms). What an agent requires of its own options and a client of every
 * record: a record's timings set how often clients poll and how long they wait for a read, so a
 * TTL of a microsecond in one record made every client give up every read, for good.
 *
 * @example
 * agentTimingsIssue(1_000, 3_000) // undefined
 * agentTimingsIssue(0.0005, 0.001) // "need heartbeatMs ≥ 50 …"
 */
export const agentTimingsIssue = (heartbeatMs: number, ttlMs: number): string | undefined =>
  heartbeatMs >= MIN_HEARTBEAT_MS && ttlMs >= 2 * heartbeatMs && ttlMs <= MAX_TIMER_MS
    ? undefined
    : `need heartbeatMs ≥ ${MIN_HEARTBEAT_MS} and ttlMs ≥ 2 × heartbeatMs, both at most ${MAX_TIMER_MS}; got ${heartbeatMs} and ${ttlMs}`

/**
 * Parses the KV record stored under `key`, or undefined when it is not one: not JSON, a field
 * missing or of the wrong type, an id that is not `key` or not a subject token, timings an agent
 * could not have ({@link agentTimingsIssue}), a pid below 1 (it is shown, and a negative one names
 * a process group).
 * A client reads records anyone with write access to the bucket could have written, so a
 * malformed one is skipped, never trusted.
 *
 * @example
 * const record = parseAgentRecord(entry.value, entry.key) // AgentRecord | undefined
 */
export function parseAgentRecord(bytes: Uint8Array, key: string): AgentRecord | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined
  // checkMessage reads a typed envelope: the record is checked as one of type "record".
  if (typeof checkMessage(recordSpecs, { ...(parsed as object), type: "record" }) === "string") return undefined
  const r = parsed as WrittenRecord
  if (r.agentId !== key || !isSubjectToken(key) || (r.wire !== undefined && r.wire < 1) || r.capacity < 1 || r.inFlight < 0 || r.pid < 1 || r.workers < 0 || r.sessions < 0 || (r.connects !== undefined && r.connects < 1) || agentTimingsIssue(r.heartbeatMs, r.ttlMs) !== undefined) return undefined
  return { agentId: r.agentId, wire: r.wire ?? 1, capacity: r.capacity, inFlight: r.inFlight, workers: r.workers, sessions: r.sessions, heartbeatMs: r.heartbeatMs, ttlMs: r.ttlMs, draining: r.draining, allowCodeExecution: r.allowCodeExecution, pid: r.pid, hostname: r.hostname, startedAt: r.startedAt, ...(r.connects !== undefined ? { connects: r.connects } : {}) }
}
