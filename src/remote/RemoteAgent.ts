/**
 * The agent half of a remote pool (`snakepit agent`): a local `PythonBridge` (its own supervised
 * Python workers, exactly as without NATS) served to clients over NATS.
 *
 * It subscribes to the pool's queue group (any agent may take such a call) and to its own
 * subjects (calls of sessions bound to it, cancels, stream credit, session clean-ups, environment
 * restarts), each ending with the id of the client that publishes there (`subjects.ts`). A
 * message whose body names another client than its subject is dropped: NATS permissions confine
 * a client user to its own scope's subjects, so the subject, not the body, says who sent it.
 * Every `heartbeatMs` it writes its record (capacity, load, sessions) to the pool's
 * KV bucket, whose entries expire after `ttlMs`. Tool calls and `session.variables` of a remote
 * session go back to the client that called, which holds them, naming the client's call they
 * belong to. Code execution follows the agent's own `allowCodeExecution`, whatever a caller asks.
 *
 * Each client's sessions are kept apart: the local bridge knows session `s` of client `c` as
 * `c/s` (Python's `session.id` on an agent), so a peer naming another client's session id
 * reaches an empty session of its own, and a tool call of a session can only belong to that
 * one client's calls. Results go only to the reply subject of the client a call names.
 *
 * Deny by default: any NATS peer that may publish to the pool's subjects can name a function,
 * and module and function names are code (`builtins.exec`). So an agent refuses every call
 * (`ModuleNotAllowed`) unless its bridge has an allowlist (`allowedModules`/`expose`) or it was
 * started with `allowAnyModule: true`.
 *
 * Apps sharing the agent: `maxSessionsPerScope` and `maxCallsPerScope` cap what the clients of
 * one `clientScope` hold here (src/remote/scopeQuotas.ts); a call past its scope's cap is refused
 * with the bridge's own `TooManySessions` or `QueueFull` before anything is recorded for it.
 *
 * `drain()` (SIGTERM in the CLI): the record says `draining` (clients send no new sessions),
 * the queue group is left, calls in flight finish (up to `shutdownTimeoutMs`), the record is
 * deleted, then the bridge stops.
 *
 * @example
 * const agent = await RemoteAgent.start({ servers: "nats://127.0.0.1:4222", pool: "ml", bridge: { minWorkers: 4 } })
 * process.once("SIGTERM", () => void agent.drain().then(() => process.exit(0)))
 */
import { hostname } from "node:os"
import { createHash, randomBytes } from "node:crypto"
import type { Logger } from "pino"
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node"
import type { KV } from "@nats-io/kv"
import { BridgeStopped, CallTimeout, InvalidOptions, ProtocolError, StartupFailed, type FrameTooLarge, type SerializationError } from "../errors.js"
import { PythonBridge } from "../bridge/PythonBridge.js"
import { describeValue, MAX_SESSION_ID_LENGTH, type ExecuteOptions } from "../bridge/callOptions.js"
import { resolveOptions, type LocalBridgeOptions } from "../bridge/options.js"
import { toolScope, type ToolAnswer } from "../placement/tools.js"
import type { ToolCallRequest } from "../worker/connection.js"
import { connectNats } from "./natsConnection.js"
import { guardedCallback, NoResponders, PeerRequests } from "./peerMessages.js"
import { lastEntry, type KvEntry } from "./kvEntries.js"
import type { NatsOptions } from "./natsOptions.js"
import { loadNats, type NatsModules } from "./natsModules.js"
import { serverCredentialsIssue } from "./natsUrls.js"
import { valueLimits, type ValueLimits } from "../protocol/limits.js"
import { agentInboundSpecs, agentTimingsIssue, DEFAULT_AGENT_TTL_MS, parseAgentRecord, STREAM_WINDOW, toolResultSpecs, WIRE_VERSION, type AgentInbound, type AgentRecord, type CallRequest, type ToolResultAnswer } from "./protocol.js"
import { isSubjectToken, isSubjectTokens, poolSubjects, type PoolSubjects } from "./subjects.js"
import { encodeMessage, errorToWire, readMessage, readMessages } from "./wire.js"
import { batchBytes, Outbox } from "./outbox.js"
import { FirstSeen } from "./firstSeen.js"
import { CancelSignal } from "../cancelSignal.js"
import { shownName } from "../protocol/shownName.js"
import { addCount } from "../counts.js"
import { clientScopeOf, ScopeQuotas, scopeRefusalError, type ScopeCaps } from "./scopeQuotas.js"
import { IdTable } from "../idTable.js"
import { MAX_TIMER_MS } from "../timerLimit.js"

/** `RemoteAgent.start` options. */
export interface AgentOptions extends NatsOptions {
  /** The pool this agent serves. */
  readonly pool: string
  /** Subject prefix (default `"snakepit"`), the same for the pool's agents and clients. */
  readonly prefix?: string
  /** This agent's id (default: random). Letters, digits, `-`, `_`. */
  readonly agentId?: string
  /** How often the agent writes its record (default 1 000 ms; at least 50). */
  readonly heartbeatMs?: number
  /** Silence after which clients consider the agent lost, and its record's lifetime (default 3 000 ms; at least two heartbeats). */
  readonly ttlMs?: number
  /**
   * The local bridge: workers, Python, `allowCodeExecution`, and which functions callers may
   * name (`allowedModules`, `expose`). Without either list the agent refuses every call unless
   * {@link allowAnyModule} is set.
   */
  readonly bridge?: LocalBridgeOptions
  /**
   * Serve any module function a caller names, `builtins.exec` included (for pools whose every
   * NATS publisher is trusted). Default false. Not with `bridge.allowedModules`/`bridge.expose`.
   */
  readonly allowAnyModule?: boolean
  /**
   * Restart this agent's Python environment when a client asks (`restartPythonEnvironment()`).
   * Default false: every client of the pool may publish to the agent's subjects, and a restart
   * ends every client's calls and Python-side session state there, so by default the agent
   * answers with `InvalidOptions` and restarts nothing.
   */
  readonly allowRestart?: boolean
  /**
   * Sessions the clients of one scope (the first token of a client id, or {@link scopeTokens}) may hold
   * on this agent at once; a call that would open one more fails with `TooManySessions` naming
   * this cap, and is not run. So one app cannot take every session of the bridge's
   * `maxSessions`. Default: no cap (`Infinity`). The scope is read from the client id of the
   * subject each call came on (clients without a `clientScope` share one scope): with NATS
   * permissions that hold each user to its own scope's subjects (docs/distributed.md), a hostile
   * peer cannot spend another app's cap.
   */
  readonly maxSessionsPerScope?: number
  /**
   * Calls of the clients of one scope in flight or queued on this agent at once; one more fails
   * with `QueueFull` naming this cap, and is not run. So one app's flood cannot fill the bridge's
   * `maxQueue` for every other app. A tool's call back into its own session is not refused (it
   * runs in its caller's place). Default: no cap (`Infinity`). Same trust as
   * {@link maxSessionsPerScope}.
   */
  readonly maxCallsPerScope?: number
  /**
   * How many leading tokens of a client id are its scope for {@link maxSessionsPerScope} and
   * {@link maxCallsPerScope} (default 1: `app1.c0ffee` and `app1.x.c0ffee` are both `app1`). Set
   * it to the depth of the scopes your NATS permissions give users (`clientScope: "org.app1"`
   * under `…from.org.app1.>`: 2), never more: a user may name ids of any depth under its own.
   */
  readonly scopeTokens?: number
}

/** What the agent needs of its options once started. */
interface AgentSettings {
  readonly heartbeatMs: number
  readonly ttlMs: number
  readonly workerConcurrency: number
  readonly allowCodeExecution: boolean
  /** Clients may restart the Python environment ({@link RemoteAgentOptions.allowRestart}). */
  readonly allowRestart: boolean
  readonly shutdownTimeoutMs: number
  /** The local bridge's frame and value limits, held to on NATS as on its workers' pipes. */
  readonly maxFrameBytes: number
  readonly limits: ValueLimits
  /** {@link AgentOptions.maxSessionsPerScope} and {@link AgentOptions.maxCallsPerScope}. */
  readonly scopeCaps: ScopeCaps
  /** {@link AgentOptions.scopeTokens}. */
  readonly scopeTokens: number
}

/**
 * The local bridge's id of session `sessionId` of client `clientId`: clients' sessions of the
 * same name stay apart. Where the two together would pass the bridge's
 * `MAX_SESSION_ID_LENGTH`, the session id is replaced by `#` and its SHA-256 (what Python sees as
 * `session.id`), so any session id a client may send has a local id. A session id that begins
 * with `#` is replaced too, however short: sent as it is, `#<the hash of a long id>` was that
 * long id's local session, and its calls read, wrote and cleaned up the other's Python state.
 *
 * @example
 * localSession("app1.c0ffee", "user-42") // "app1.c0ffee/user-42"
 * localSession("app1.c0ffee", "#tag")    // "app1.c0ffee/#<64 hex digits>"
 */
export const localSession = (clientId: string, sessionId: string): string => {
  const id = `${clientId}/${sessionId}`
  return id.length <= MAX_SESSION_ID_LENGTH && !sessionId.startsWith("#") ? id : `${clientId}/#${createHash("sha256").update(sessionId).digest("hex")}`
}

/**
 * An agent's workers' default `pipelineDepth` (a local bridge's adapts, 2 to 64, to its calls'
 * service time, starting at 4; this fixed depth was measured before that). Calls reach an agent in
 * bursts, one NATS message each, and every burst of results it sends back costs a socket write
 * through the server and a wake-up of the client: letting each worker's pipe hold a burst
 * (instead of 4 calls of it, the depth a local bridge used then) makes Python answer it in a few writes, and the agent reply in a
 * few. Measured at 64 calls in flight on one worker: the NATS server's CPU per call fell about
 * 4×, Python's 2× (docs/performance.md). The cost is the local one: a call waiting in a busy
 * worker's pipe waits for that worker (routing fills pipes only once every worker is busy). Set
 * `bridge.pipelineDepth` to choose otherwise.
 */
export const AGENT_PIPELINE_DEPTH = 64

/**
 * The options an agent starts its local bridge with: the caller's, with the agent's defaults.
 * Deny by default: no allowlist and no `allowAnyModule` is `expose: []`. The workers' pipes
 * take what clients send ({@link AGENT_PIPELINE_DEPTH}) unless `pipelineDepth` is given.
 *
 * @example
 * agentBridgeOptions({ allowedModules: ["model"] }, false) // { allowedModules: ["model"], pipelineDepth: 64 }
 * agentBridgeOptions({}, false).expose                      // []
 */
export const agentBridgeOptions = (bridge: LocalBridgeOptions | undefined, allowAnyModule: boolean): LocalBridgeOptions => {
  const listed = bridge?.allowedModules !== undefined || bridge?.expose !== undefined
  const own: LocalBridgeOptions = { ...bridge, pipelineDepth: bridge?.pipelineDepth ?? AGENT_PIPELINE_DEPTH }
  return listed || allowAnyModule ? own : { ...own, expose: [] }
}

/** Whether `e` (or what caused it) is NATS refusing an operation this user may not do. */
const permissionDenied = (e: unknown, depth = 0): boolean =>
  e instanceof Error && depth < 5 && (e.name === "PermissionViolationError" || /permissions violation/i.test(e.message) || permissionDenied(e.cause, depth + 1))

/** The pool's KV bucket: created by the first agent, opened as it is by the others. */
const openBucket = (kvModule: NatsModules["kv"], nc: NatsConnection, name: string, ttlMs: number): Promise<KV> => {
  const kvm = new kvModule.Kvm(nc)
  return kvm.create(name, { history: 1, ttl: ttlMs }).catch(() => kvm.open(name))
}

/** One call the agent runs for a client. */
interface Running {
  readonly clientId: string
  readonly callId: string
  /** The local bridge's id of the call's session (`<clientId>/<sessionId>`), or null. */
  readonly session: string | null
  readonly abort: CancelSignal
  /** Stream items the client can still take before the agent waits. */
  credit: number
  wake: (() => void) | undefined
}

/**
 * Stops a running call, and wakes its stream if it waits for the client's credit: else a stream
 * past its deadline, whose client stopped reading, answered its `CallTimeout` only at the next
 * credit check, a TTL later, past the point where the client judges the agent lost.
 */
const abortRun = (run: Running, reason: unknown): void => {
  run.abort.abort(reason)
  run.wake?.()
}

export class RemoteAgent {
  /** The calls running here, by `<clientId>/<callId>` (an IdTable, not a Map: see idTable.ts). */
  private readonly running = new IdTable<Running, string>()
  /**
   * The sessions clients made here (their tool calls and variables live with the client) and
   * the calls running, counted per client scope against the per-scope caps.
   */
  private readonly quotas: ScopeQuotas
  /** Tool calls forwarded to clients and not yet answered, by local session id. */
  private readonly toolsOut = new Map<string, number>()
  /** Nested calls running in their tool call's place (past the scope's call cap), by session. */
  private readonly nestedInPlace = new Map<string, number>()
  private ownSubscription: Subscription | undefined
  private queueSubscription: Subscription | undefined
  /** The subjects of wire versions 1 and 2, heard only to refuse such clients' calls. */
  private oldOwnSubscription: Subscription | undefined
  private oldQueueSubscription: Subscription | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private draining = false
  private stopped: Promise<void> | undefined
  private readonly startedAt = Date.now()
  /** Times connected to NATS, written in every record: see {@link AgentRecord.connects}. */
  private connects = 1
  /** Clients of another wire version already reported. */
  private readonly otherWireClients = new FirstSeen()
  /** Replies (results, items, errors) coalesced per turn of the event loop (see outbox.ts). */
  private readonly outbox: Outbox
  /** Requests clients answer (tool calls, the stream's liveness probe), read safely (peerMessages.ts). */
  private readonly requests: PeerRequests

  private constructor(
    /** This agent's id: its subject and its key in the KV bucket. */
    readonly id: string,
    /** The local bridge this agent serves. */
    readonly bridge: PythonBridge,
    private readonly nc: NatsConnection,
    private kv: KV,
    private readonly subjects: PoolSubjects,
    private readonly settings: AgentSettings,
    private readonly logger: Logger,
    /** `@nats-io/kv` (an optional peer dependency, loaded by `start`), to make the bucket again. */
    private readonly kvModule: NatsModules["kv"],
  ) {
    this.outbox = new Outbox((subject, data) => nc.publish(subject, data), batchBytes(nc), nc.info?.max_payload)
    this.quotas = new ScopeQuotas(settings.scopeCaps)
    this.requests = new PeerRequests(nc, subjects.agentInbox(id), (e) => logger.error({ err: e }, "a client's answer could not be handled; it was dropped"))
  }

  /**
   * Starts the local bridge, connects to NATS, and serves. Rejects with `InvalidOptions`,
   * `StartupFailed` (the NATS client packages not installed, bad credentials, no server, Python)
   * leaving nothing behind.
   */
  static async start(options: AgentOptions): Promise<RemoteAgent> {
    const id = options.agentId ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${randomBytes(4).toString("hex")}`
    const heartbeatMs = options.heartbeatMs ?? 1_000
    const ttlMs = options.ttlMs ?? DEFAULT_AGENT_TTL_MS
    const prefix = options.prefix ?? "snakepit"
    const issues: string[] = []
    if (!isSubjectToken(options.pool ?? "")) issues.push(`pool must be a name of letters, digits, "-" or "_", got ${JSON.stringify(options.pool)}`)
    if (!isSubjectToken(id)) issues.push(`agentId must be letters, digits, "-" or "_", got ${JSON.stringify(id)}`)
    if (!prefix.split(".").every(isSubjectToken)) issues.push(`prefix must be dot-separated tokens, got ${JSON.stringify(prefix)}`)
    const timings = agentTimingsIssue(heartbeatMs, ttlMs)
    if (timings !== undefined) issues.push(timings)
    if (options.bridge?.remote) issues.push("an agent's bridge runs local workers: bridge.remote is not allowed")
    const inUrl = serverCredentialsIssue("servers", options.servers)
    if (inUrl !== undefined) issues.push(inUrl)
    const listed = options.bridge?.allowedModules !== undefined || options.bridge?.expose !== undefined
    if (options.allowAnyModule !== undefined && typeof options.allowAnyModule !== "boolean") issues.push("allowAnyModule must be a boolean")
    if (options.allowRestart !== undefined && typeof options.allowRestart !== "boolean") issues.push("allowRestart must be a boolean")
    for (const key of ["maxSessionsPerScope", "maxCallsPerScope"] as const) {
      const v = options[key]
      if (v !== undefined && !(v === Infinity || (Number.isInteger(v) && v >= 1))) issues.push(`${key} must be a whole number ≥ 1 (or Infinity), got ${describeValue(v)}`)
    }
    if (options.scopeTokens !== undefined && !(Number.isInteger(options.scopeTokens) && options.scopeTokens >= 1 && options.scopeTokens <= 16)) {
      issues.push(`scopeTokens must be a whole number from 1 to 16, got ${describeValue(options.scopeTokens)}`)
    }
    if (options.allowAnyModule === true && listed) issues.push("allowAnyModule contradicts bridge.allowedModules/bridge.expose: give one or the other")
    if (issues.length > 0) throw new InvalidOptions({ message: `invalid agent options: ${issues.join("; ")}`, issues })
    // The NATS client (an optional peer dependency) before any Python worker: without it, no
    // worker is started for nothing.
    const who = `snakepit agent ${id} (pool ${options.pool})`
    const nats = await loadNats(who, "a snakepit agent")

    const subjects = poolSubjects(prefix, options.pool)
    const bridgeOptions = agentBridgeOptions(options.bridge, options.allowAnyModule === true)
    const resolved = resolveOptions(bridgeOptions)
    const settings: AgentSettings = {
      heartbeatMs,
      ttlMs,
      workerConcurrency: resolved.workerConcurrency,
      allowCodeExecution: resolved.allowCodeExecution,
      allowRestart: options.allowRestart === true,
      shutdownTimeoutMs: resolved.shutdownTimeoutMs,
      maxFrameBytes: resolved.maxFrameBytes,
      limits: valueLimits(resolved.limits),
      scopeCaps: { maxSessionsPerScope: options.maxSessionsPerScope ?? Infinity, maxCallsPerScope: options.maxCallsPerScope ?? Infinity },
      scopeTokens: options.scopeTokens ?? 1,
    }
    // Python code can tell which agent runs it.
    const bridge = await PythonBridge.start({ ...bridgeOptions, env: { ...options.bridge?.env, SNAKEPIT_AGENT_ID: id } })
    if (!listed && options.allowAnyModule !== true) {
      bridge.logger.warn({ agentId: id }, "no allowlist (allowedModules/expose) and no allowAnyModule: every function call is refused")
    }
    // Said whatever the allowlist: it names the functions a client may call, and code is not one.
    if (resolved.allowCodeExecution) {
      bridge.logger.warn({ agentId: id }, "code execution allowed (allowCodeExecution): any client that may publish to this pool's subjects runs any Python code here, whatever the allowlist")
    }
    let nc: NatsConnection | undefined
    try {
      nc = await connectNats(options, who, subjects.agentInbox(id), "a snakepit agent")
      const kv = await openBucket(nats.kv, nc, subjects.bucket, ttlMs)
      const agent = new RemoteAgent(id, bridge, nc, kv, subjects, settings, bridge.logger.child({ agentId: id }), nats.kv)
      await agent.serve()
      return agent
    } catch (e) {
      await nc?.close().catch(() => {})
      await bridge.stop()
      throw e
    }
  }

  private async serve(): Promise<void> {
    // Before it hears a call: two agents under one id would both run every call sent to it.
    await this.claimId()
    this.bridge._tools.forward = (call) => this.forwardTool(call)
    // A session the local bridge forgets (clean-up, TTL: its only ways to end one; a worker or
    // environment restart keeps it) no longer has a client to answer for it, nor a place under
    // its scope's cap. The event comes once the worker has dropped the session, and the bridge
    // forgot it when the clean-up began: a call that took it back in between holds it now, and
    // keeps its place (it was admitted as a session already held, so it was not counted anew).
    this.bridge.on("session.cleanedUp", ({ sessionId }) => {
      if (!this.bridge._hasSession(sessionId)) this.quotas.endSession(sessionId)
    })
    // (A subscription NATS refuses calls back once with the error and no message.)
    // Every callback guarded (peerMessages.ts): one that throws would leave the connection deaf.
    const hear = (fromQueue: boolean, old: boolean) => guardedCallback((m) => this.onMessage(m, fromQueue, old), (e) => this.logger.error({ err: e }, "a NATS message could not be handled; it was dropped"))
    this.ownSubscription = this.nc.subscribe(this.subjects.agentFromAny(this.id), { callback: hear(false, false) })
    this.queueSubscription = this.nc.subscribe(this.subjects.callFromAny, { queue: this.subjects.queue, callback: hear(true, false) })
    // Clients of wire versions 1 and 2 publish on bare subjects: heard only so that their calls
    // are refused in a message they can read, not left to time out.
    this.oldOwnSubscription = this.nc.subscribe(this.subjects.agent(this.id), { callback: hear(false, true) })
    this.oldQueueSubscription = this.nc.subscribe(this.subjects.call, { queue: this.subjects.queue, callback: hear(true, true) })
    // NATS refuses a subscription it does not permit asynchronously; the SUB is answered before
    // the flush's PING, so a refused one is closed by now: an agent that cannot hear calls (a
    // user without the agent role) must not start as if it served.
    await this.nc.flush()
    const refused = [this.ownSubscription, this.queueSubscription].find((sub) => sub.isClosed())
    if (refused) {
      const why = await refused.closed
      throw new StartupFailed({ message: `NATS refused this agent's subscription to ${refused.getSubject()} (${why instanceof Error ? why.message : "closed"}): its user lacks the agent role's permissions`, workerId: this.id, exitCode: null, signal: null, stderr: "" })
    }
    // The bare subjects only tell older clients why they are refused: without them the agent
    // serves all the same (an older client's calls then time out instead).
    for (const sub of [this.oldOwnSubscription, this.oldQueueSubscription]) {
      if (sub.isClosed()) this.logger.warn({ subject: sub.getSubject() }, "NATS refused the subscription that answers clients of older snakepit versions; their calls will time out instead of being refused")
    }
    void (async () => {
      for await (const status of this.nc.status()) {
        // A refused publish (a reply, a record) is dropped by the server: say why, loudly.
        if (status.type === "error") this.logger.error({ error: { name: status.error.name, message: status.error.message } }, "NATS refused an operation of this agent")
        // What was written during the outage may be lost (and the record expired meanwhile):
        // write it again now, whatever write is still waiting for its answer.
        else if (status.type === "reconnect" && !this.stopped) {
          // Counted before the write: a record with the new count proves the subscriptions are back.
          this.connects++
          void this.beat(true)
        }
      }
    })().catch(() => {})
    // The first record must be written: an agent no client can find must not say it serves (a
    // server without JetStream, a bucket that refuses the record).
    await this.writeRecord(true)
    this.heartbeat = setInterval(() => void this.beat(), this.settings.heartbeatMs)
    this.logger.info({ pool: this.subjects.callFromAny, capacity: this.capacity() }, "snakepit agent serving")
  }

  private capacity(): number {
    return Math.max(1, this.bridge.getStatus().workers.length) * this.settings.workerConcurrency
  }

  /** Record writes waiting for their answer. */
  private writing = 0
  private reopening = false

  /**
   * Writes this agent's record; a failure (NATS away) is retried at the next beat. A write
   * gives up after one beat, so a write lost in an outage never holds up the next ones.
   */
  private async beat(force = false): Promise<void> {
    // One write at a time (but on reconnect, at once): a slow JetStream is not flooded.
    if (this.writing > 0 && !force) return
    this.writing++
    try {
      await this.writeRecord()
    } finally {
      this.writing--
    }
  }

  /**
   * Waits until no other agent serves under this id, or fails the start (`StartupFailed`): the
   * id's record, if there is one, must stay unchanged for two of its heartbeats (its writer is
   * gone: a crashed agent restarted at once) or vanish with the bucket's TTL. One that is
   * rewritten twice while we watch is a live agent: every call sent to this id would run twice.
   * Bounded by two TTLs of ours, or ten seconds, whichever is longer; past that, a record that
   * changed less than twice counts as its writer's last.
   */
  private async claimId(): Promise<void> {
    const started = Date.now()
    const deadline = started + Math.max(2 * this.settings.ttlMs, 10_000)
    let seen: { revision: number; at: number } | undefined
    let changes = 0
    for (;;) {
      let entry: KvEntry | null
      try {
        // Not `kv.get`: see kvEntries.ts (a poisoned record left the agent deaf, and unstartable).
        entry = await lastEntry(this.requests, this.subjects.bucket, this.id, Math.max(this.settings.ttlMs, 5_000))
      } catch (e) {
        if (permissionDenied(e)) {
          // Permissions written before this check (docs/nats/permissions.conf has the one it needs).
          this.logger.warn({ err: e }, "could not check that no other agent serves under this id: this NATS user may not read the agents' KV records")
          return
        }
        throw this.startupFailed(`its record could not be read from the KV bucket ${this.subjects.bucket} (${e instanceof Error ? e.message : String(e)}): does the NATS server run JetStream (-js)?`)
      }
      const record = entry?.operation === "PUT" ? parseAgentRecord(entry.value, this.id) : undefined
      if (entry === null || record === undefined) return
      const now = Date.now()
      if (seen === undefined || seen.revision !== entry.revision) {
        if (seen !== undefined) changes++
        seen = { revision: entry.revision, at: now }
      } else if (now - seen.at >= 2 * record.heartbeatMs) return
      if (changes >= 2) {
        throw this.startupFailed(`another agent serves under the id ${this.id} (pid ${record.pid} on ${JSON.stringify(record.hostname.slice(0, 100))}, started ${new Date(record.startedAt).toISOString()}): it rewrote its record while this one started, and both would run every call sent to the id; give each agent its own --agent-id`)
      }
      if (now >= deadline) return
      await new Promise((r) => setTimeout(r, Math.min(Math.max(record.heartbeatMs / 2, 25), 1_000)))
    }
  }

  private startupFailed(why: string): StartupFailed {
    return new StartupFailed({ message: `snakepit agent ${this.id} did not start: ${why}`, workerId: this.id, exitCode: null, signal: null, stderr: "" })
  }

  /** Since when record writes have failed (undefined: the last one was written). */
  private failingSince: number | undefined
  /** Whether that failure has been warned about (once a TTL has passed). */
  private warnedFailing = false

  private async writeRecord(strict = false): Promise<void> {
    const status = this.bridge.getStatus()
    const record: AgentRecord = {
      agentId: this.id,
      wire: WIRE_VERSION,
      capacity: this.capacity(),
      inFlight: this.running.size,
      workers: status.workers.length,
      sessions: status.activeSessions,
      heartbeatMs: this.settings.heartbeatMs,
      ttlMs: this.settings.ttlMs,
      draining: this.draining,
      allowCodeExecution: this.settings.allowCodeExecution,
      pid: process.pid,
      hostname: hostname(),
      startedAt: this.startedAt,
      connects: this.connects,
    }
    try {
      await this.kv.put(this.id, JSON.stringify(record), { timeout: this.settings.heartbeatMs })
      if (this.warnedFailing) this.logger.info("heartbeats written again")
      this.failingSince = undefined
      this.warnedFailing = false
    } catch (e) {
      if (strict) throw this.startupFailed(`its record could not be written to the KV bucket ${this.subjects.bucket} (${e instanceof Error ? e.message : String(e)}), so no client could find it`)
      // Said once a TTL has passed without a record written: clients judge this agent lost then.
      const now = Date.now()
      this.failingSince ??= now
      if (!this.warnedFailing && now - this.failingSince >= this.settings.ttlMs) {
        this.warnedFailing = true
        this.logger.warn({ err: e, failingForMs: now - this.failingSince }, "heartbeats not written for a TTL: clients know this agent serves only by pinging it until one is")
      } else this.logger.debug({ err: e }, "heartbeat not written")
      // A server restarted without its JetStream store lost the bucket: make it again, beside
      // the beats (creating a stream can take longer than one).
      if (!this.stopped && !this.reopening) {
        this.reopening = true
        void openBucket(this.kvModule, this.nc, this.subjects.bucket, this.settings.ttlMs)
          .then((kv) => (this.kv = kv), (e2: unknown) => this.logger.debug({ err: e2 }, "KV bucket not reopened"))
          .finally(() => (this.reopening = false))
      }
    }
  }

  private encode(envelope: Record<string, unknown>): Uint8Array {
    return encodeMessage(envelope, this.settings.maxFrameBytes, this.settings.limits)
  }

  /**
   * One message on the agent's subjects, checked before it is read. A message that is not one
   * (garbage, a mistyped field, a value over the limits) is dropped with a warning, and answered
   * with the reason when its sender waits for a reply; the agent serves on.
   */
  private onMessage(m: Msg, fromQueue: boolean, old: boolean): void {
    // The client whose subject this is: what NATS permissions attest (a client user may publish
    // only on its own scope's subjects). Undefined: a bare subject of wire versions 1 and 2.
    const sender = old ? undefined : this.subjects.sender(m.subject, this.id)
    if (!old && sender === undefined) {
      // A client id that is not subject tokens (`app1.x:y`): its user may publish there, but it
      // names no client an answer could be held to. Read as a bare subject, its calls were
      // answered on any client's subjects, another app's included.
      this.warnDropped({ subject: m.subject.slice(0, 200) }, "message dropped: its subject names no client id")
      return
    }
    let refused = 0
    const refuse = (error: ProtocolError | FrameTooLarge | SerializationError, type: unknown, callId: unknown) => {
      // Compact (no stack), and once per NATS message: a peer may send a flood of these, many
      // to a message.
      if (refused++ === 0) this.logger.warn({ subject: m.subject.slice(0, 200), error: { _tag: error._tag, message: error.message } }, "message refused")
      if ((type === "call" || type === "cleanup" || type === "restart") && m.reply && this.answerable(m.reply, sender)) {
        this.reply(m.reply, { type: "error", ...(typeof callId === "string" ? { callId } : {}), error: errorToWire(error) })
      }
    }
    // The refusals of this message's frames are logged once (its first), then counted: a peer
    // may fill one message with thousands of frames, each refused.
    const drops = (this.drops = { logged: false, unlogged: 0 })
    const frames = readMessages<AgentInbound>(m.data, agentInboundSpecs, this.settings.maxFrameBytes, this.settings.limits)
    for (const r of frames) {
      if (!r.ok) {
        refuse(r.error, r.envelope?.type, r.envelope?.callId)
        continue
      }
      const message = r.message
      if (sender === undefined) {
        // Only a call is answered there (with the version refusal); anything else an older
        // client sends (a cancel of such a call, a clean-up) has nothing to act on here.
        if (message.type === "call") void this.run(message, m.reply, fromQueue, true)
        else refuse(new ProtocolError({ message: `a ${message.type} on ${this.subjects.agent(this.id)} or ${this.subjects.call} is of an older remote wire version`, workerId: this.id }), undefined, undefined)
        continue
      }
      if (message.type === "ping" && frames.length > 1) {
        // Its answer goes to the message's reply subject, which a joined message's first call owns.
        refuse(new ProtocolError({ message: "a ping travels in a NATS message of its own", workerId: this.id }), undefined, undefined)
        continue
      }
      if ("clientId" in message && message.clientId !== sender) {
        // Another client's cancel, credit, clean-up or call, claimed in the body only: the
        // claim is all that would stand between one client user and another's calls and sessions.
        refuse(new ProtocolError({ message: `the ${message.type} names client ${shownName(message.clientId)} but came on the subject of client ${shownName(sender)}`, workerId: this.id }), message.type, message.type === "call" ? message.callId : undefined)
        continue
      }
      this.handle(message, m, fromQueue, sender)
    }
    if (refused > 1) this.logger.warn({ subject: m.subject.slice(0, 200), refused }, "more messages refused in the same NATS message")
    this.drops = undefined
    if (drops.unlogged > 0) this.logger.warn({ subject: m.subject.slice(0, 200), dropped: drops.unlogged }, "more messages dropped in the same NATS message (their reply subjects are not their clients')")
  }

  /** While a NATS message's frames are handled: whether a drop was logged, and how many were not. */
  private drops: { logged: boolean; unlogged: number } | undefined

  /** Logs a dropped frame's warning, or (past the first of its NATS message) counts it. */
  private warnDropped(fields: Record<string, unknown>, text: string): void {
    const drops = this.drops
    if (drops?.logged) {
      drops.unlogged++
      return
    }
    if (drops) drops.logged = true
    this.logger.warn(fields, text)
  }

  /**
   * Whether an answer may go to `reply`: one of the subjects of the client that sent the
   * message (the one its subject names), so never to anywhere a peer chooses. From a bare
   * subject of an older wire version, any client's subject.
   */
  private answerable(reply: string, sender: string | undefined): boolean {
    return this.subjects.isClientSubject(reply) && (sender === undefined || reply.startsWith(`${this.subjects.client(sender)}.`))
  }

  /** The last reply subject judged by {@link RemoteAgent.isReplyOf}, its client, and the verdict. */
  private lastReply = { reply: "", clientId: "", ok: false }

  /**
   * Whether `reply` is one of client `clientId`'s reply subjects,
   * `<prefix>.<pool>.client.<clientId>.reply.<token>`. The calls of one NATS message share their
   * reply subject, so the last verdict is kept and a message's calls are judged once, not each.
   */
  private isReplyOf(reply: string, clientId: string): boolean {
    const last = this.lastReply
    if (last.reply === reply && last.clientId === clientId) return last.ok
    const prefix = isSubjectTokens(clientId) ? `${this.subjects.replies(clientId)}.` : undefined
    const ok = prefix !== undefined && reply.startsWith(prefix) && isSubjectToken(reply.slice(prefix.length))
    this.lastReply = { reply, clientId, ok }
    return ok
  }

  /** One well-formed message of those a NATS message held, from client `sender`. */
  private handle(message: AgentInbound, m: Msg, fromQueue: boolean, sender: string): void {
    // Answers go to the sending client's subjects only: a peer naming another reply subject
    // would have the agent publish there for it (its own KV record, say, which the agent role
    // may write, or another client's inbox).
    if ((message.type === "cleanup" || message.type === "restart" || message.type === "ping") && !this.answersTo(m.reply, message.type, sender)) return
    switch (message.type) {
      case "ping":
        // A client that did not hear our heartbeats (a KV that takes no writes, our NATS node
        // gone and we reconnected elsewhere) asks whether we serve: this answer is what says so.
        this.reply(m.reply!, { type: "pong", agentId: this.id, pid: process.pid, startedAt: this.startedAt, draining: this.draining })
        return
      case "call":
        void this.run(message, m.reply, fromQueue, false)
        return
      case "cancel": {
        const run = this.running.get(`${message.clientId}/${message.callId}`)
        if (run) abortRun(run, new Error("cancelled by the client"))
        return
      }
      case "credit": {
        const run = this.running.get(`${message.clientId}/${message.callId}`)
        if (run) {
          run.credit += message.items
          run.wake?.()
        }
        return
      }
      case "cleanup": {
        // A well-formed request the bridge refuses (an empty session id) is answered, never left
        // as an unhandled rejection: that would end the agent.
        const cleaned = message.sessionId === "" || !isSubjectTokens(message.clientId)
          ? Promise.reject(new InvalidOptions({ message: "a clean-up names a client id (subject tokens) and a non-empty session id", issues: ["clientId", "sessionId"] }))
          : this.bridge.cleanupSession(localSession(message.clientId, message.sessionId))
        cleaned.then(
          (existed) => m.respond(this.encode({ type: "cleaned", existed })),
          (e: unknown) => m.respond(this.encode({ type: "error", error: errorToWire(e) })),
        ).catch((e: unknown) => this.logger.warn({ err: e }, "clean-up answer not sent"))
        return
      }
      case "restart":
        if (!this.settings.allowRestart) {
          const refused = new InvalidOptions({
            message: `agent ${this.id} does not restart its Python environment for clients (start it with --allow-restart, or allowRestart: true)`,
            issues: ["allowRestart"],
          })
          m.respond(this.encode({ type: "error", error: errorToWire(refused) }))
          return
        }
        this.bridge.restartPythonEnvironment().then(
          () => m.respond(this.encode({ type: "restarted", workers: this.bridge.getStatus().totalWorkers })),
          (e: unknown) => m.respond(this.encode({ type: "error", error: errorToWire(e) })),
        ).catch((e: unknown) => this.logger.warn({ err: e }, "restart answer not sent"))
        return
    }
  }

  /**
   * A call (its reply subject already checked to be its client's) from a client of another wire
   * version; one from before versions sends none. That client may not read joined replies, so
   * the refusal goes out alone, at once, one frame.
   */
  private refuseVersion(message: CallRequest, reply: string): void {
    const wire = message.wire ?? 1
    // Once per client: an old client may send many calls.
    if (this.otherWireClients.first(message.clientId)) {
      this.logger.warn({ clientId: message.clientId.slice(0, 100), wire, ours: WIRE_VERSION }, "calls from a client of another remote wire version refused")
    }
    // A call of this version on a bare subject is no client of ours: ours name themselves in
    // the subject. Refused all the same, or the bare subject would pass the subject's check.
    const error = new ProtocolError({
      message: wire === WIRE_VERSION
        ? `a call of remote wire version ${WIRE_VERSION} must come on a subject that names its client (${this.subjects.agentFrom(this.id, "<clientId>")} or ${this.subjects.callFrom("<clientId>")})`
        : `this agent speaks remote wire version ${WIRE_VERSION} and the call version ${wire}: run the same snakepit version on agents and clients`,
      workerId: this.id,
    })
    this.publishNow(reply, () => this.encode({ type: "error", callId: message.callId, error: errorToWire(error) }))
  }

  /** Publishes at once, past the outbox; a message the NATS client refuses is only logged. */
  private publishNow(subject: string, data: () => Uint8Array): void {
    try {
      this.nc.publish(subject, data())
    } catch (e) {
      this.logger.debug({ err: e }, "reply not sent")
    }
  }

  /**
   * Publishes on a reply subject, with the other replies of this turn (one socket write for
   * them all); a value that cannot travel (not serialisable, over our frame limit, over the
   * server's `max_payload`) is replaced by the reason why.
   */
  private reply(subject: string, envelope: Record<string, unknown>): void {
    const failed = (e: unknown) => this.encode({ type: "error", ...(envelope.callId === undefined ? {} : { callId: envelope.callId }), error: errorToWire(e) })
    const instead = (e: unknown) => this.publishNow(subject, () => failed(e))
    let data: Uint8Array
    try {
      data = this.encode(envelope)
    } catch (e) {
      this.outbox.publish(subject, failed(e))
      return
    }
    this.outbox.publish(subject, data, { onError: instead })
  }

  /**
   * Whether a request from client `sender` (undefined: from a bare subject of an older wire
   * version) may be answered on `reply`; logs (once per message) when not.
   */
  private answersTo(reply: string | undefined, what: string, sender: string | undefined): reply is string {
    if (reply !== undefined && sender !== undefined && this.isReplyOf(reply, sender)) return true
    if (reply !== undefined && this.answerable(reply, sender)) return true
    this.warnDropped({ reply: reply?.slice(0, 200), clientId: sender?.slice(0, 100) }, `${what} dropped: its reply subject is not its client's`)
    return false
  }

  /**
   * Runs a call, its client already checked to be its subject's; `old`: it came on a bare
   * subject of an older wire version, and is only refused.
   */
  private async run(message: CallRequest, reply: string | undefined, fromQueue: boolean, old: boolean): Promise<void> {
    // The client the call names: its subject's, or (on a bare subject) only the call's claim,
    // which is why the version refusal below goes only to that client's reply subject.
    if (!this.answersTo(reply, "call", old ? undefined : message.clientId)) return
    // Every reply names its call: the replies of calls that shared a message (or finished in
    // one turn) share a NATS message too.
    const callId = message.callId
    const send = (envelope: Record<string, unknown>) => this.reply(reply, envelope)
    // Results (and the session's tool calls) go to the client the call names, and only there:
    // a peer naming another client gets nothing back.
    if (!isSubjectToken(callId) || !this.isReplyOf(reply, message.clientId)) {
      this.warnDropped({ clientId: message.clientId.slice(0, 100), callId: callId.slice(0, 100), reply: reply.slice(0, 200) }, "call refused: its reply subject is not its client's")
      send({ type: "error", callId, error: errorToWire(new ProtocolError({ message: "a call's reply subject must be <prefix>.<pool>.client.<clientId>.reply.<token>", workerId: this.id })) })
      return
    }
    if (old || message.wire !== WIRE_VERSION) {
      this.refuseVersion(message, reply)
      return
    }
    if (message.sessionId !== null && message.sessionId.length > MAX_SESSION_ID_LENGTH) {
      const issue = `sessionId must be at most ${MAX_SESSION_ID_LENGTH} characters, got ${message.sessionId.length}`
      send({ type: "error", callId, error: errorToWire(new InvalidOptions({ message: `invalid call: ${issue}`, issues: [issue] })) })
      return
    }
    const key = `${message.clientId}/${message.callId}`
    const sessionId = message.sessionId === null ? null : localSession(message.clientId, message.sessionId)
    // `nested` is the client's claim: honoured only while this session waits on a tool call
    // this agent forwarded, else any caller could pass the queue and `workerConcurrency`.
    const nested = message.nested === true && sessionId !== null && (this.toolsOut.get(sessionId) ?? 0) > 0
    if (this.draining && !nested) {
      // Not run: the client sends it to another agent (one that has not yet read this agent's
      // `draining` record sends calls here for up to a poll interval). A nested call serves a
      // call running here, which the drain waits for: it runs.
      send({ type: "error", callId, declined: "draining", error: errorToWire(new BridgeStopped({ message: `agent ${this.id} is draining; the call did not run` })) })
      return
    }
    if (fromQueue) send({ type: "accepted", callId, agentId: this.id })
    // The client id is its subject's (checked in onMessage), which NATS permissions attest.
    const scope = clientScopeOf(message.clientId, this.settings.scopeTokens)
    // Past its scope's call cap, a nested call runs in the place of the call whose tool it
    // serves: one per tool call outstanding. More would let a client that holds one tool call
    // unanswered send nested calls past its cap for as long as the tool call's timeout.
    const inPlace = nested && (this.nestedInPlace.get(sessionId) ?? 0) < (this.toolsOut.get(sessionId) ?? 0)
    const admitted = this.quotas.admit(scope, sessionId, inPlace)
    if (!admitted.ok) {
      send({ type: "error", callId, error: errorToWire(scopeRefusalError(admitted, scope, message.sessionId, this.id)) })
      return
    }
    if (inPlace) addCount(this.nestedInPlace, sessionId, 1)
    const running: Running = { clientId: message.clientId, callId: message.callId, session: sessionId, abort: new CancelSignal(), credit: STREAM_WINDOW, wake: undefined }
    this.running.set(key, running)
    const options: { -readonly [K in keyof ExecuteOptions]: ExecuteOptions[K] } = { signal: running.abort.signal }
    if (message.kwargs) options.kwargs = message.kwargs as Record<string, unknown>
    if (typeof message.timeoutMs === "number") options.timeoutMs = message.timeoutMs
    // The client's deadline runs from its send, and the client judges an agent silent a TTL past
    // it as lost. The bridge's runs from the call's start on a worker: a call queued here behind
    // other clients' work would answer late, and its healthy agent be judged lost. So the
    // deadline runs from arrival here, queue included: past it, the call ends as a CallTimeout.
    let timedOut: CallTimeout | undefined
    const deadline = typeof message.timeoutMs === "number" && message.timeoutMs >= 0 && message.timeoutMs <= MAX_TIMER_MS
      ? setTimeout(() => {
        timedOut = new CallTimeout({ message: `the call exceeded its ${String(message.timeoutMs)} ms deadline on agent ${this.id} (counted from its arrival there, the time it waited for a worker included)`, timeoutMs: message.timeoutMs!, workerId: this.id })
        abortRun(running, timedOut)
      }, message.timeoutMs)
      : undefined
    const { module, fn } = message
    const args = message.args ?? []
    const serve = async () => {
      if (message.kind === "stream") {
        for await (const item of this.bridge.stream(sessionId, module, fn, args, options)) {
          while (running.credit <= 0 && !running.abort.aborted) await this.waitForCredit(running, message.clientId)
          if (running.abort.aborted) break
          running.credit--
          send({ type: "item", callId, value: item })
        }
        if (timedOut) throw timedOut
        send({ type: "end", callId })
      } else if (message.kind === "exec") {
        send({ type: "result", callId, value: await this.bridge.executeCode(sessionId, message.code ?? "", (message.context ?? {}) as Record<string, unknown>, options) })
      } else {
        send({ type: "result", callId, value: await this.bridge.executePython(sessionId, module, fn, args, options) })
      }
    }
    try {
      // A nested call (a client's tool calling back into the same session) runs in the tool
      // scope of the session's worker, as it would locally, so it does not queue behind the
      // call that waits for the tool.
      const waiting = nested ? this.bridge.getSessionWorker(sessionId) : undefined
      await (waiting !== undefined ? toolScope.run({ sessionId, workerId: waiting }, serve) : serve())
    } catch (e) {
      send({ type: "error", callId, error: errorToWire(timedOut ?? e) })
    } finally {
      clearTimeout(deadline)
      this.running.delete(key)
      this.quotas.endCall(scope)
      if (inPlace) addCount(this.nestedInPlace, sessionId, -1)
      // A call the bridge refused (allowlist, options, too many sessions) made no session: a
      // record of it here would only grow with every forged call, and hold its scope's place.
      if (sessionId !== null && !this.bridge._hasSession(sessionId)) this.quotas.endSession(sessionId)
    }
  }

  /**
   * Waits for stream credit, checking every TTL that the client still exists: a client that
   * died mid-stream has no subscriber left, NATS answers "no responders", and the stream (and
   * its Python generator) is cancelled instead of holding a worker for ever.
   */
  private async waitForCredit(running: Running, clientId: string): Promise<void> {
    const granted = new Promise<void>((r) => (running.wake = r))
    const timer = new Promise<"check">((r) => setTimeout(() => r("check"), this.settings.ttlMs).unref?.())
    if ((await Promise.race([granted, timer])) !== "check") return
    const alive = await this.requests
      .request(this.subjects.tools(clientId), this.encode({ type: "alive" }), this.settings.ttlMs)
      .then(() => true, (e: unknown) => !(e instanceof NoResponders))
    if (!alive) running.abort.abort(new Error("the client is gone"))
  }

  /**
   * A tool call of a remote session goes to its client, naming the call it belongs to (the
   * client reads the session from its record of that call); others are answered locally. A call
   * of the session still runs here after its cleanup (it was sent before it), when the session is
   * no longer held: it is forwarded all the same, so the client answers from what it kept for
   * that call, never this agent's own variables, nor those of a new session of that id whose
   * calls run here beside it. The call is known by the signal the agent made it with, never by
   * its session alone: with the calls of both sessions here, the newest of them had named the
   * new session's call, and the old call's writes reached the new session.
   */
  private forwardTool(call: ToolCallRequest): Promise<ToolAnswer> | undefined {
    if (call.sessionId === null) return undefined
    let under: Running | undefined
    for (const r of this.running.values()) if (r.session === call.sessionId && r.abort.signal === call.signal) under = r
    if (!under && !this.quotas.holds(call.sessionId)) return undefined
    if (!under) return Promise.resolve({ ok: false, message: `no call of session ${call.sessionId} is running on this agent` })
    const owner = under.clientId
    let request: Uint8Array
    try {
      request = this.encode({ type: "tool_call", agentId: this.id, callId: under.callId, name: call.name, args: call.args, kwargs: call.kwargs })
    } catch (e) {
      return Promise.resolve({ ok: false, message: `the tool call cannot be sent to the client: ${(e as Error).message}` })
    }
    // A client that is gone answers at once ("no responders"); a live one may run a long tool.
    this.outbox.flush()
    const session = call.sessionId
    addCount(this.toolsOut, session, 1)
    const answered = () => addCount(this.toolsOut, session, -1)
    return this.requests.request(this.subjects.tools(owner), request, 600_000).finally(answered).then(
      (m): ToolAnswer => {
        const r = readMessage<ToolResultAnswer>(m.data, toolResultSpecs, this.settings.maxFrameBytes, this.settings.limits)
        if (!r.ok) return { ok: false, message: `the client's answer to tool ${shownName(call.name)} was refused: ${r.error.message}` }
        const answer = r.message
        if (answer.ok) return { ok: true, value: answer.value }
        const message = answer.message ?? "the tool failed"
        // A typed failure (ToolNotFound, VariableLimitExceeded) keeps its type and fields for Python.
        return answer.errorType !== undefined
          ? { ok: false, message, errorType: answer.errorType, ...(answer.fields !== undefined ? { fields: answer.fields } : {}) }
          : { ok: false, message }
      },
      (e: unknown): ToolAnswer => ({ ok: false, message: `the client of session ${call.sessionId} did not answer the tool call: ${(e as Error).message}` }),
    )
  }

  /**
   * Graceful exit: no new sessions, the queue group left, calls in flight finished (up to the
   * bridge's `shutdownTimeoutMs`), the record deleted, the bridge stopped. Idempotent.
   */
  drain(): Promise<void> {
    this.stopped ??= (async () => {
      this.draining = true
      // Written now, even while a heartbeat waits: clients must stop sending new sessions.
      await this.beat(true)
      // Its own subject stays: calls of its sessions already sent, cancels and stream credit.
      this.queueSubscription?.unsubscribe()
      this.oldQueueSubscription?.unsubscribe()
      const deadline = Date.now() + this.settings.shutdownTimeoutMs
      // And stays for a heartbeat at least, declining new calls: a client reads records every
      // half heartbeat, and until it has read this one it may send calls here. Declined, they
      // run elsewhere; with the subject gone they would meet "no responders", which fails a
      // call that is not idempotent.
      const lingerUntil = Date.now() + this.settings.heartbeatMs
      while ((this.running.size > 0 || Date.now() < lingerUntil) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      if (this.running.size > 0) {
        this.logger.warn({ running: this.running.size, shutdownTimeoutMs: this.settings.shutdownTimeoutMs }, "drain deadline passed with calls still running: they are stopped, and their clients judge this agent lost")
      }
      await this.stopServing()
    })()
    return this.stopped
  }

  /** Stops at once: calls in flight are cancelled. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.draining = true
      for (const r of this.running.values()) abortRun(r, new Error("the agent is stopping"))
      await this.stopServing()
    })()
    return this.stopped
  }

  private async stopServing(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat)
    // The last replies leave before the connection drains.
    this.outbox.flush()
    this.queueSubscription?.unsubscribe()
    this.ownSubscription?.unsubscribe()
    this.oldQueueSubscription?.unsubscribe()
    this.oldOwnSubscription?.unsubscribe()
    await this.kv.delete(this.id).catch(() => {})
    this.requests.close()
    await this.nc.drain().catch(() => {})
    await this.bridge.stop()
    this.logger.info("snakepit agent stopped")
  }
}
