/**
 * The client half of a remote pool: `PythonBridge.start({ remote: { nats, pool } })` runs its
 * calls here, on agents that each supervise local Python workers and serve them over NATS.
 *
 * - **Where a call goes**: a session bound to a live agent goes there (its Python-side state is
 *   there); otherwise the least-loaded agent from the KV records, by the same pure
 *   {@link chooseRoute} as local workers. Each call goes to the chosen agent's own subject, so
 *   the client always knows which agent holds it.
 * - **Agent lost**: an agent whose KV record stops changing (or disappears) for its `ttlMs` and
 *   that does not answer a `ping` then, or to which NATS answers a call "no responders" (nobody
 *   subscribes to its subject: it is gone), is down: its calls in flight reject once with
 *   `WorkerCrashed` (reason `"agent lost"`), and its sessions are bound anew on their next call.
 *   Host-held variables and tools live here, in the client, so they follow the session. Calls
 *   marked `idempotent` are retried on another agent; a call that reached nobody did not run,
 *   and goes to another agent (or waits for one) whether or not it is. An agent that answers a
 *   ping again serves again, though its records may not land (a KV electing a leader).
 * - **NATS lost**: calls in flight reject with `WorkerCrashed` (reason `"nats disconnected"`),
 *   new calls too until the connection is back; calls marked `idempotent` run again when it is
 *   back within their deadline. No agent is judged while we cannot hear them
 *   (disconnected, or the KV unreadable); once we can, every agent's clock starts again, and
 *   for one TTL a "no responders" means "not back on NATS yet": the call, which never reached
 *   anyone, is sent again shortly instead.
 * - **Who may ask what**: a tool call (or `session.variables`) is served only for a call this
 *   client sent to the agent the message names, still running, answered into that agent's
 *   inbox; its session is this client's record of that call, never a field of the message.
 *   Client and call ids are random; the client's subjects (and its inboxes) sit under
 *   `client.<clientScope>.<id>`, where NATS permissions can keep other users out.
 *
 * @example
 * const pool = new RemotePool(options, telemetry, logger, tools, metrics)
 * await pool.start()
 * await pool.call("s1", "math", "sqrt", [16], {}) // 4, on some agent
 */
import { randomBytes } from "node:crypto"
import type { Logger } from "pino"
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node"
import type { KV } from "@nats-io/kv"
import { BridgeStopped, CallCancelled, CallTimeout, ProtocolError, StartupFailed, WorkerCrashed } from "../errors.js"
import { withCallContext, withCallerStack } from "../errorContext.js"
import type { TelemetryEmitter } from "../telemetry/events.js"
import type { BridgeMetrics } from "../telemetry/metrics.js"
import type { CallHold, CallOptions } from "../worker/connection.js"
import { cutText, MAX_TOOL_REFUSAL_CHARS } from "../protocol/shownName.js"
import { thrownText } from "../thrown.js"
import { addCount } from "../counts.js"
import type { PoolBackend } from "../bridge/backend.js"
import type { ResolvedOptions } from "../bridge/options.js"
import type { StopOptions } from "../bridge/stopOptions.js"
import type { WorkerStatus } from "../bridge/status.js"
import { chooseRoute, type WorkerLoad } from "../placement/routing.js"
import { SessionCalls } from "../placement/sessionCalls.js"
import { SessionTable } from "../placement/sessions.js"
import { toolScope, type ToolAnswer, type ToolRegistry } from "../placement/tools.js"
import { CallRecord, callContext, emitExecution, refusal, serviceEnd, stoppedError, type CallKind } from "../bridge/callLifecycle.js"
import { AsyncQueue } from "../asyncQueue.js"
import { connectNats } from "./natsConnection.js"
import { loadNats, type NatsModules } from "./natsModules.js"
import { DEFAULT_AGENT_TTL_MS, parseAgentRecord, STREAM_WINDOW, WIRE_VERSION, type AgentRecord } from "./protocol.js"
import { natsOptionsOf, type RemoteOptions } from "./remoteOptions.js"
import { poolSubjects, type PoolSubjects } from "./subjects.js"
import { encodeMessage, errorFromWire, readMessage, readMessages } from "./wire.js"
import { batchBytes, Outbox } from "./outbox.js"
import { FirstSeen } from "./firstSeen.js"
import { recordRead, verdict, type AgentClock } from "./agentVerdicts.js"
import { guardedCallback, PeerRequests, statusOf } from "./peerMessages.js"
import { randomHex } from "./randomIds.js"
import { callReplySpecs, clientToolSpecs, pongReplySpecs, restartReplySpecs, type CallReply, type ClientToolInbound, type PongReply, type RestartReply } from "./protocol.js"
import { valueLimits, type ValueLimits } from "../protocol/limits.js"
import { IdTable } from "../idTable.js"

/** What the client knows of one agent: its clock (see agentVerdicts.ts), which `judge` updates, and more. */
interface Agent extends Mutable<AgentClock> {
  readonly id: string
  /**
   * Its record's {@link AgentRecord.connects} when our connection to NATS was lost: a record
   * read since with a higher count proves it has resubscribed after the outage. New versions of
   * its record prove nothing: the server may hand out several written before the outage that we
   * had not read yet (a server shutting down closes our connection before the agents').
   */
  connectsBeforeOutage: number | undefined
  /** When (`Date.now()`) it was last pinged while down (see `pingBack`). */
  pingedAt: number
  /** Our calls on it now. */
  inFlight: number
  served: number
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** A ping out to an agent (see `RemotePool.ping`): settled with its `pong`, or undefined. */
interface Ping {
  readonly agentId: string
  /** The last token of its reply subject: `p` and random hex (a call's never begins with `p`). */
  readonly token: string
  readonly answer: Promise<PongReply | undefined>
  readonly settle: (pong: PongReply | undefined) => void
}

/** One call out on an agent. */
interface Outgoing {
  readonly id: string
  readonly agentId: string
  readonly sessionId: string | null
  /** Set when its session was cleaned up while it was in flight: what its tool calls act on. */
  hold: CallHold | undefined
  /** Delivers one message from the agent (an item, the result, an error). */
  readonly deliver: (message: CallReply) => void
  /** Settles the call with an error once (agent lost, NATS lost, aborted). */
  readonly fail: (error: unknown) => void
  /** Publishes the call again (after "no responders": it reached nobody). */
  readonly resend: () => void
  /**
   * The reply subject of the NATS message it last left in (its first call's): a "no responders"
   * on it concerns every call of that message, once.
   */
  sentOn: string | undefined
  /**
   * When (`performance.now()`) silence on it proves its agent unresponsive: its deadline plus
   * the agent's TTL (Infinity without a deadline). Checked by the poller, not a timer per call.
   */
  readonly overdueAt: number
}

/**
 * Sends a call again, to an agent not in `tried`, with what is left of its deadline; once
 * nothing is, rejects with `failure` (the last one). `deadline`: `Date.now()` when it ends.
 */
type Retry = ((tried: ReadonlySet<string>, failure: unknown) => Promise<unknown>) & { readonly deadline: number }

/** The `workerId` of a call that failed because no agent was live to take it. */
const NO_AGENT = "-"

/** No agent to avoid: a call's first attempt (one set for all, never changed). */
const NO_AGENTS: ReadonlySet<string> = new Set()

/** The shortest time a client gives a read of the agent records (see `poll`). */
const MIN_RECORDS_READ_MS = 1_000

/** How many times an idempotent call is sent again after our NATS connection came back. */
const MAX_RECONNECT_RETRIES = 3

/**
 * How many times an idempotent call whose every agent was lost is sent again once an agent is
 * live, a rejoined one included.
 */
const MAX_LOST_RETRIES = 3

/**
 * A call that finds no agent live waits for one for up to this many TTLs (the largest of the
 * agents it knows), within its deadline: long enough for an agent judged lost while it
 * reconnected (its NATS node died) to show two fresh heartbeats, or for a restarted one to join.
 */
const AGENT_WAIT_TTLS = 2

/**
 * How long a ping (see `RemotePool.ping`) waits for its answer: two of the agent's heartbeats,
 * and two seconds at least (a loaded machine may take a second to run the agent's turn), but
 * half its TTL at most, so that a hung agent is still lost within two TTLs of its last heartbeat.
 */
const pingWaitMs = (record: AgentRecord): number => Math.min(record.ttlMs / 2, Math.max(2 * record.heartbeatMs, 2_000))

/**
 * How long a "no responders" waits before the round trip that confirms it (see `noResponders`):
 * long enough for a server that is shutting down to have closed our connection too.
 */
const NO_RESPONDERS_CONFIRM_MS = 50

/** The random bytes of a call id (written as hex, before the call's sequence number). */
const CALL_ID_RANDOM_BYTES = 12

/** What needs the NATS client, in the error that says it is not installed. */
const REMOTE_FEATURE = "a remote pool (the `remote` option)"

const lost = (agentId: string, reason: string, message: string) => new WorkerCrashed({ message, workerId: agentId, exitCode: null, signal: null, reason })

/**
 * The failure of a call NATS answered "no responders" for: it reached nobody, so it did not run,
 * and goes to another agent (or waits for one) like a call an agent declined, idempotent or not;
 * with no agent left to try, this is what its caller sees.
 */
const reachedNobody = (agentId: string): Declined =>
  new Declined(agentId, lost(agentId, "agent lost", `no agent received the call, so it did not run (NATS answered "no responders" for agent ${agentId})`))

/**
 * A call an agent declined without running it (it is draining): sent again to another agent,
 * idempotent or not. Never reaches a caller: with no agent left to try, `refusal` does.
 */
class Declined extends Error {
  constructor(
    readonly agentId: string,
    readonly refusal: unknown,
  ) {
    super(`declined by agent ${agentId}`)
  }
}

/** One complete read of the agents' records. */
interface RecordsRead {
  /** Every well-formed record of our wire version, by agent id. */
  readonly records: ReadonlyMap<string, { record: AgentRecord; revision: number }>
  /** Agents we knew whose record's last write is a delete: they left. */
  readonly deleted: ReadonlySet<string>
}

export class RemotePool implements PoolBackend {
  private readonly remote: RemoteOptions
  private readonly subjects: PoolSubjects
  /** Random (so not guessable), under `remote.clientScope` when given. */
  private readonly clientId: string
  /** How the client names itself to NATS (and in its startup errors). */
  private readonly name: string
  private nc: NatsConnection | undefined
  /** Every publish to agents goes through it, coalesced per turn (see outbox.ts). */
  private outbox: Outbox | undefined
  /** Requests agents answer (clean-ups, restarts), read safely (peerMessages.ts). */
  private requests: PeerRequests | undefined
  /** `@nats-io/kv`, loaded by `start()` (an optional peer dependency). */
  private kvModule: NatsModules["kv"] | undefined
  private kv: KV | undefined
  private readonly agents = new Map<string, Agent>()
  private readonly bindings = new SessionTable()
  /**
   * The calls sent and not settled, by their sequence number (an IdTable, not a Map: see
   * idTable.ts for why). A call's id is 24 random hex digits followed by that number: a reply
   * finds its call by the number and must name the whole id (see {@link RemotePool.outgoingCall}).
   * Keyed by the random ids themselves, the table made V8 intern every new id, a fifth of the
   * client's table costs.
   */
  private readonly outgoing = new IdTable<Outgoing>()
  /**
   * The calls in flight by the reply subject of the message they last left in: a "no
   * responders" on a subject touches its own calls, not every call in flight (it looked through
   * all of them: with 20 000 in flight, 200 such statuses read together held the loop 1.1 s).
   */
  private readonly sentOnSubject = new Map<string, Set<Outgoing>>()
  /** The sequence number of the next call sent. */
  private nextCall = 0
  /** Tool calls from agents not yet answered, by the session of the call each belongs to. */
  private readonly toolCallsOfSession = new IdTable<number, string>()
  private readonly sessionCalls = new SessionCalls()
  private readonly subscriptions: Subscription[] = []
  /** KV records already reported: malformed (`key@revision`) or of another wire version (`key@wireN`). */
  private readonly reportedRecords = new FirstSeen()
  /** Agents that speak another wire version (id → version), as last read: never used. */
  private otherWire = new Map<string, number>()
  private connected = true
  private stopping = false
  /** Wakes each call polling for an agent or a reconnect (`pollUntil`), so `stop()` refuses it at once. */
  private readonly waiters = new Set<() => void>()
  /** Calls held here, not sent, while they wait for an agent or a reconnect (`pollUntil`). */
  private waitingCalls = 0
  /** Aborted once `stop()` began (`ended`): agents come and go, but a stopped client is done. */
  private readonly ending = serviceEnd()
  /**
   * Set while we cannot hear agents (disconnected, the KV unreadable); the next poll that reads
   * the KV clears it and starts every agent's clock again.
   */
  private deaf = false
  /** From a disconnect until the first read of the KV after the reconnect. */
  private reconnecting = false
  /** When the records were last read and judged (`Date.now()`). */
  private judgedAt = Number.NEGATIVE_INFINITY
  /**
   * That first read after a reconnect: for one TTL after it, "no responders" from an agent not
   * yet proven back (see `noResponders`) is no evidence.
   */
  private rejoinedAt = Number.NEGATIVE_INFINITY
  /** Calls NATS answered "no responders", by agent, while that agent's loss is confirmed (see `noResponders`). */
  private readonly unconfirmed = new Map<string, Outgoing[]>()
  /** Pings out, by agent: one per agent at a time (see `ping`). */
  private readonly pings = new Map<string, Ping>()
  /** Counts connection changes: a poll that read across one judges nobody. */
  private generation = 0
  /** The poll whose read counts; a read abandoned at its deadline is ignored when it ends. */
  private readToken = 0
  /** True once `stop()` has finished. */
  private stopped = false
  private poller: ReturnType<typeof setInterval> | undefined
  private polling = false

  constructor(
    private readonly options: ResolvedOptions,
    private readonly telemetry: TelemetryEmitter,
    private readonly logger: Logger,
    private readonly tools: ToolRegistry,
    private readonly metrics: BridgeMetrics,
  ) {
    this.remote = options.remote!
    this.subjects = poolSubjects(this.remote.prefix ?? "snakepit", this.remote.pool)
    const id = randomBytes(16).toString("hex")
    this.clientId = this.remote.clientScope === undefined ? id : `${this.remote.clientScope}.${id}`
    this.name = `snakepit client ${this.clientId} (pool ${this.remote.pool})`
  }

  /** Connects and waits (up to `startupTimeoutMs`) until at least one agent serves the pool. */
  async start(): Promise<void> {
    this.kvModule = (await loadNats(this.name, REMOTE_FEATURE)).kv
    const nc = await connectNats(natsOptionsOf(this.remote), this.name, this.subjects.clientInbox(this.clientId), REMOTE_FEATURE)
    this.nc = nc
    this.outbox = new Outbox((subject, data, reply) => nc.publish(subject, data, reply === undefined ? undefined : { reply }), batchBytes(nc), nc.info?.max_payload)
    this.watchConnection(nc)
    // Every callback guarded (peerMessages.ts): one that throws would leave the connection deaf.
    const dropped = (e: unknown) => this.logger.error({ err: e }, "a NATS message could not be handled; it was dropped")
    this.subscriptions.push(nc.subscribe(`${this.subjects.replies(this.clientId)}.*`, { callback: guardedCallback((m) => this.onReply(m), dropped) }))
    this.subscriptions.push(nc.subscribe(this.subjects.tools(this.clientId), { callback: guardedCallback((m) => this.onToolCall(m), dropped) }))
    this.requests = new PeerRequests(nc, this.subjects.clientInbox(this.clientId), dropped)
    await this.checkSubscriptions(nc)
    const deadline = Date.now() + this.options.startupTimeoutMs
    for (;;) {
      await this.poll().catch((e: unknown) => this.logger.debug({ err: e }, "agent records not readable yet"))
      if (this.live().length > 0) break
      if (Date.now() >= deadline) {
        throw new StartupFailed({
          message: `no agent serves pool ${JSON.stringify(this.remote.pool)} on NATS within ${this.options.startupTimeoutMs} ms ${this.otherWire.size > 0 ? this.wireMismatch() : `(start one with: snakepit agent --nats <url> --pool ${this.remote.pool})`}`,
          workerId: "remote",
          exitCode: null,
          signal: null,
          stderr: "",
        })
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    const every = Math.max(50, this.live().reduce((least, a) => Math.min(least, a.record.heartbeatMs), Number.POSITIVE_INFINITY) / 2)
    let lastTick = performance.now()
    this.poller = setInterval(() => {
      const now = performance.now()
      // A tick two intervals late: this process did not run for that long (stopped, or its event
      // loop blocked by a caller's code). The replies and records that came meanwhile are still
      // unread, so silence is no evidence: nobody is judged until a read completes (deaf).
      if (now - lastTick > 2 * every) this.deaf = true
      else this.sweepOverdue(now)
      lastTick = now
      // Agents judged lost are asked whether they serve again whether or not the records can be
      // read: a replicated KV electing its leader after a NATS node died lists no keys for
      // seconds (longer on a loaded machine), and every agent that was on that node, judged lost
      // by "no responders" as it reconnected elsewhere, stayed lost until a read came through;
      // calls waiting for an agent failed meanwhile (remoteCluster.test.ts, twice in CI).
      const wallNow = Date.now()
      for (const agent of this.agents.values()) if (agent.down) this.pingBack(agent, wallNow)
      void this.poll().catch((e: unknown) => this.logger.debug({ err: e }, "agent poll failed"))
    }, every)
    this.poller.unref?.()
  }

  /**
   * NATS refuses a subscription it does not permit asynchronously (the subscription just ends):
   * after a round trip, a refused one is a `StartupFailed` naming the subject, not a client that
   * waits for replies it can never receive.
   */
  private async checkSubscriptions(nc: NatsConnection): Promise<void> {
    await nc.flush()
    // The server answers a SUB before the PING of the flush: a refused one is closed by now.
    const closed = this.subscriptions.find((sub) => sub.isClosed())
    const refused = closed ? ((await closed.closed) ?? new Error("subscription closed")) : undefined
    if (refused instanceof Error) {
      await nc.close().catch(() => {})
      throw new StartupFailed({
        message: `NATS refused this client's subscriptions (${refused.message}); with permissions per user, give remote.clientScope the scope the user may read`,
        workerId: "remote",
        exitCode: null,
        signal: null,
        stderr: "",
      })
    }
  }

  // ── calls ────────────────────────────────────────────────────────────────────────────────

  call(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): Promise<unknown> {
    return this.submit("call", sessionId, { module, fn, args, kwargs: options.kwargs ?? {} }, options)
  }

  exec(sessionId: string | null, code: string, context: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>> {
    return this.submit("exec", sessionId, { module: "<code>", fn: "exec", code, context }, options) as Promise<Record<string, unknown>>
  }

  async *stream(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): AsyncGenerator<unknown> {
    const items = new AsyncQueue<unknown>()
    let consumed = 0
    let call: Outgoing | undefined
    const record = new CallRecord(this.metrics)
    const body = { module, fn, args, kwargs: options.kwargs ?? {} }
    // An agent sends an item only on credit: it starts with a window and gets half a window back
    // for each half its consumer took, so it never has more than a window of items unconsumed
    // here. One more is a peer that ignored credit; held, its items would grow without bound.
    let received = 0
    const onItem = (item: unknown) => {
      if (++received - consumed <= STREAM_WINDOW) return items.push(item)
      if (!call) return
      this.publish(call.agentId, { type: "cancel", callId: call.id, clientId: this.clientId })
      call.fail(new ProtocolError({ message: `agent ${call.agentId} sent stream items past the credit it was given (${STREAM_WINDOW} unconsumed)`, workerId: call.agentId }))
    }
    const retry = this.retrier(options, (tried, callOptions) => attempt(tried, callOptions))
    const attempt = (tried: ReadonlySet<string>, callOptions: CallOptions): Promise<unknown> =>
      this.send("stream", sessionId, body, callOptions, (out) => (call = out), onItem, tried).catch((error: unknown) => this.again(error, tried, retry, options))
    const settled = attempt(NO_AGENTS, options)
    settled.then(
      () => {
        record.settled(undefined)
        items.end()
      },
      (e: unknown) => {
        record.settled(e)
        items.end(e)
      },
    )
    try {
      for await (const item of items) {
        yield item
        // Credit in half windows, so the agent never waits on a consumer that keeps up.
        if (++consumed % (STREAM_WINDOW / 2) === 0 && call) this.publish(call.agentId, { type: "credit", callId: call.id, clientId: this.clientId, items: STREAM_WINDOW / 2 })
      }
    } catch (e) {
      // Taken here, where the consumer's `for await` resumed us: its async frames are visible.
      throw withCallerStack(e)
    } finally {
      // Left early (break, throw in the loop body): the agent stops the Python generator.
      if (!items.ended && call) {
        this.publish(call.agentId, { type: "cancel", callId: call.id, clientId: this.clientId })
        call.fail(new CallCancelled({ message: "the stream was closed by its consumer", reason: undefined }))
      }
      await settled.catch(() => {})
    }
  }

  private submit(kind: CallKind, sessionId: string | null, body: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    const record = new CallRecord(this.metrics)
    let reconnects = 0
    let lostRetries = 0
    const retry = this.retrier(options, (tried, callOptions) => attempt(tried, callOptions))
    const attempt = (tried: ReadonlySet<string>, callOptions: CallOptions): Promise<unknown> =>
      this.send(kind, sessionId, body, callOptions, () => {}, () => {}, tried).catch(async (error: unknown) => {
        if (error instanceof Declined) return this.again(error, tried, retry, options)
        // Only a call its caller marked idempotent may run twice.
        if (options.idempotent !== true || !(error instanceof WorkerCrashed) || this.stopping) throw error
        if (error.reason === "nats disconnected" && reconnects < MAX_RECONNECT_RETRIES) {
          // Our own connection dropped (its NATS node died): once we are back (on any node of
          // the cluster) within the call's deadline, it runs again (a connection that flaps
          // while it comes back may take a few rounds).
          reconnects++
          if (!(await this.pollUntil(() => this.connected, options, retry.deadline))) throw error
          return retry(tried, error)
        }
        // Its agent was lost: retry it on another agent. ("-": no agent was live, and the call
        // waited for one already.)
        if (error.reason !== "agent lost" || error.workerId === NO_AGENT) throw error
        const next = new Set(tried).add(error.workerId)
        if (this.live().some((a) => !next.has(a.id))) return retry(next, error)
        // Every agent it tried was lost (their NATS node died, say): it runs on the first agent
        // live again, a rejoined one too, which it may since it is idempotent.
        if (lostRetries++ >= MAX_LOST_RETRIES) throw error
        return retry(NO_AGENTS, error)
      })
    const call = attempt(NO_AGENTS, options)
    call.then(
      () => record.settled(undefined),
      (e: unknown) => record.settled(e),
    )
    return call
  }

  /**
   * A call that did not run (an agent declined it, or it reached nobody) goes to an agent not
   * yet tried; with every live one tried, or with this pool stopping, it fails with the refusal;
   * with none live, it waits for one as a new call does (`agentLive`), then goes to any, and
   * fails with the refusal if none comes. Any other error passes through.
   */
  private async again(error: unknown, tried: ReadonlySet<string>, retry: Retry, options: CallOptions): Promise<unknown> {
    if (!(error instanceof Declined)) throw error
    const next = new Set(tried).add(error.agentId)
    const live = this.live()
    if (this.stopping || (live.length > 0 && live.every((a) => next.has(a.id)))) throw error.refusal
    if (live.length > 0) return retry(next, error.refusal)
    // None live (the only agent drains to be restarted, or every agent's NATS node died): any
    // agent live after the wait will do, the one that declined it too (back, or restarted).
    await this.agentLive(options, retry.deadline)
    // (Stopped or aborted meanwhile: `send` says so.)
    if (this.live().length === 0 && !this.stopping && !options.signal?.aborted) throw error.refusal
    return retry(NO_AGENTS, error.refusal)
  }

  /**
   * A call's retries (after a decline, a lost agent, a reconnect) share its one deadline, fixed
   * now: each is sent with what is left of it, and once nothing is, the last failure stands.
   */
  private retrier(options: CallOptions, attempt: (tried: ReadonlySet<string>, options: CallOptions) => Promise<unknown>): Retry {
    const deadline = Date.now() + (options.timeoutMs ?? this.options.callTimeoutMs)
    const retry = (tried: ReadonlySet<string>, failure: unknown) => {
      const leftMs = deadline - Date.now()
      return leftMs > 0 ? attempt(tried, { ...options, timeoutMs: leftMs }) : Promise.reject(failure)
    }
    return Object.assign(retry, { deadline })
  }

  /**
   * Resolves once an agent is live, or `until` (`Date.now()`), `AGENT_WAIT_TTLS` of the agents'
   * TTLs, an abort or the bridge's stop comes first.
   */
  private async agentLive(options: CallOptions, until: number): Promise<void> {
    let ttlMs = Number.NEGATIVE_INFINITY
    for (const a of this.agents.values()) ttlMs = Math.max(ttlMs, a.record.ttlMs)
    const end = Math.min(until, Date.now() + AGENT_WAIT_TTLS * (Number.isFinite(ttlMs) ? ttlMs : DEFAULT_AGENT_TTL_MS))
    await this.pollUntil(() => this.live().length > 0, options, end)
  }

  /**
   * Resolves true once `ready()` holds, false if `until` (`Date.now()`) passes, the call is
   * aborted or the bridge stops first. Polled: what it waits for (a reconnect, an agent when
   * every one is lost) is rare, and a timer per waiting call costs nothing on the call path.
   */
  private async pollUntil(ready: () => boolean, options: CallOptions, until: number): Promise<boolean> {
    if (ready()) return !this.stopping
    // Held here, not sent: `getStatus().queued` counts it meanwhile.
    this.waitingCalls++
    try {
      while (!ready()) {
        if (this.stopping || options.signal?.aborted || Date.now() >= until) return false
        // `stop()` wakes every waiter at once, so each is refused before the stop resolves.
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer)
            this.waiters.delete(wake)
            resolve()
          }
          const timer = setTimeout(wake, 50)
          this.waiters.add(wake)
        })
      }
      return !this.stopping
    } finally {
      this.waitingCalls--
    }
  }

  /**
   * Sends one call to one agent; settles with its result or its one error. `waited`: it found
   * no agent live before and waited for one (it does not wait twice).
   */
  private send(
    kind: CallKind,
    sessionId: string | null,
    body: Record<string, unknown>,
    options: CallOptions,
    onStart: (call: Outgoing) => void,
    onItem: (item: unknown) => void,
    avoid: ReadonlySet<string> = NO_AGENTS,
    waited = false,
  ): Promise<unknown> {
    // What is known of the call; the agent's id and the call's id once it is sent. The agent's
    // error carries its own worker's ids: from here the call ran on the agent, as `callId`.
    const context = callContext(kind, String(body.module), String(body.fn), sessionId)
    const refused = refusal({
      stopping: this.stopping,
      stopped: this.stopped,
      signal: options.signal,
      unavailable: () => (this.connected ? undefined : lost("-", "nats disconnected", "the connection to NATS is down; the call was not sent")),
    })
    if (refused) return Promise.reject(withCallContext(refused, context))
    // Made by a tool for the same session while a call of it waits on an agent for a tool's
    // answer: the agent must run it on that call's worker at once (see docs/sessions.md, "Nested
    // calls"). Made once no call of the session waits (work a tool left behind), it is not.
    const scope = toolScope.getStore()
    const nested = sessionId !== null && scope?.sessionId === sessionId && this.toolCallsOfSession.has(sessionId)
    const agent = this.place(sessionId, avoid, nested)
    if (!agent && !waited && this.live().length === 0) {
      // Every agent lost at once (their NATS node died and they reconnect elsewhere; the only
      // agent restarting): the call waits for one, as a local call waits for a restarting
      // worker, rather than fail at once; what it waited counts against its deadline.
      // Any agent live after the wait will do: one it avoided (that declined it, draining, or
      // was lost under it, if idempotent) is a new incarnation, or serves again.
      const timeoutMs = options.timeoutMs ?? this.options.callTimeoutMs
      const until = Date.now() + timeoutMs
      return this.agentLive(options, until).then(() => {
        const leftMs = until - Date.now()
        // Past its deadline (not stopped, not aborted: `send` says so), it is not sent at all.
        if (leftMs <= 0 && !this.stopping && !options.signal?.aborted) {
          return Promise.reject(withCallContext(new CallTimeout({ message: `the call's ${timeoutMs} ms deadline passed while it waited for an agent of pool ${JSON.stringify(this.remote.pool)} (none was live)`, timeoutMs, workerId: NO_AGENT }), context))
        }
        return this.send(kind, sessionId, body, { ...options, timeoutMs: leftMs }, onStart, onItem, NO_AGENTS, true)
      })
    }
    if (!agent) {
      const waitedFor = waited ? ", though the call waited for one" : ""
      return Promise.reject(withCallContext(lost(NO_AGENT, "agent lost", `no agent of pool ${JSON.stringify(this.remote.pool)} is reachable${waitedFor}${this.otherWire.size > 0 ? ` ${this.wireMismatch()}` : ""}`), context))
    }
    // Random: a call id is what a tool call must name, so nobody may guess a running one.
    const seq = this.nextCall++
    const id = `${randomHex(CALL_ID_RANDOM_BYTES)}${seq}`
    const began = performance.now()
    return new Promise<unknown>((resolve, reject) => {
      let settled = false
      const finish = (error: unknown, value?: unknown) => {
        if (settled) return
        settled = true
        // A declined call did not run: no run time, no execution, as a local call withdrawn.
        const declined = error instanceof Declined
        if (declined) this.metrics.timings.withdrawn(timing, performance.now())
        else this.metrics.timings.ended(timing, error, performance.now())
        this.outgoing.delete(seq)
        this.forgetSent(call)
        call.hold?.leave()
        agent.inFlight--
        if (error === undefined) agent.served++
        this.sessionCalls.ended(sessionId)
        options.signal?.removeEventListener("abort", onAbort)
        if (!declined) emitExecution(this.telemetry, { sessionId, module: String(body.module), fn: String(body.fn), workerId: agent.id, began, error })
        if (error === undefined) resolve(value)
        // A declined call's refusal is what its caller sees once no agent is left to try.
        else if (declined) reject(new Declined(error.agentId, withCallContext(error.refusal, { ...context, workerId: agent.id, callId: id })))
        else reject(withCallContext(error, { ...context, workerId: agent.id, callId: id }))
      }
      const onAbort = () => {
        this.publish(agent.id, { type: "cancel", callId: id, clientId: this.clientId })
        finish(new CallCancelled({ message: "the call was aborted", reason: options.signal?.reason }))
      }
      const timeoutMs = options.timeoutMs ?? this.options.callTimeoutMs
      // Sent at the end of the turn: a call settled meanwhile (aborted, its agent judged lost)
      // is not noted, or nothing would ever take it out.
      const sent = (reply: string | undefined) => {
        if (!settled) this.noteSent(call, reply)
      }
      const post = () => {
        let data: Uint8Array
        try {
          data = this.encode({ type: "call", callId: id, clientId: this.clientId, kind, sessionId, ...body, timeoutMs, nested, wire: WIRE_VERSION })
        } catch (e) {
          finish(e)
          return
        }
        // Sent at the end of this turn, joined with the turn's other calls to this agent into
        // messages that each carry their first call's reply subject (learnt in `onSent`); a
        // publish the NATS client refuses (over the server's max_payload) fails the calls in it.
        this.outbox!.publish(this.subjects.agentFrom(agent.id, this.clientId), data, { reply: `${this.subjects.replies(this.clientId)}.${id}`, onError: finish, onSent: sent })
      }
      const call: Outgoing = {
        id,
        agentId: agent.id,
        sessionId,
        hold: undefined,
        // The agent enforces the deadline and answers CallTimeout at it; silence a TTL beyond it
        // means the agent itself is unresponsive (a partition the heartbeats have not shown yet).
        overdueAt: began + timeoutMs + agent.record.ttlMs,
        fail: (error) => finish(error),
        sentOn: undefined,
        resend: () => {
          if (!settled && this.connected) post()
        },
        deliver: (m) => {
          if (m.type === "item") onItem(m.value)
          else if (m.type === "result") finish(undefined, m.value)
          else if (m.type === "end") finish(undefined, undefined)
          else if (m.type === "error") {
            const error = errorFromWire(m.error as unknown as Record<string, unknown>)
            if (m.declined === undefined) return finish(error)
            // It said so before we read its record: no new call goes there from now on.
            if (m.declined === "draining") agent.record = { ...agent.record, draining: true }
            // Should the reply be forged (a peer that may publish on our reply subjects, which
            // per-user permissions prevent), the agent is told to drop the call all the same.
            this.publish(agent.id, { type: "cancel", callId: id, clientId: this.clientId })
            finish(new Declined(agent.id, withCallContext(error, { ...context, workerId: agent.id, callId: id })))
          }
        },
      }
      // The client sees no worker's slots: an agent is one lane of `capacity` slots, and only
      // this client's calls are in it (docs/observability.md, "Pool statistics").
      const timing = this.metrics.timings.started(agent.id, agent.record.capacity, began, began)
      this.outgoing.set(seq, call)
      agent.inFlight++
      this.sessionCalls.started(sessionId)
      options.signal?.addEventListener("abort", onAbort, { once: true })
      onStart(call)
      post()
    })
  }

  /** Notes the reply subject of the message `call` left in (undefined: it left in none). */
  private noteSent(call: Outgoing, reply: string | undefined): void {
    this.forgetSent(call)
    call.sentOn = reply
    if (reply === undefined) return
    let calls = this.sentOnSubject.get(reply)
    if (calls === undefined) this.sentOnSubject.set(reply, (calls = new Set()))
    calls.add(call)
  }

  /** Forgets the message `call` last left in (it settled, or is sent again). */
  private forgetSent(call: Outgoing): void {
    const on = call.sentOn
    if (on === undefined) return
    call.sentOn = undefined
    const calls = this.sentOnSubject.get(on)
    if (calls === undefined) return
    calls.delete(call)
    if (calls.size === 0) this.sentOnSubject.delete(on)
  }

  /** The call sent and not settled whose id is `id` (any string a peer sent), or undefined. */
  private outgoingCall(id: string): Outgoing | undefined {
    const call = this.outgoing.get(Number(id.slice(2 * CALL_ID_RANDOM_BYTES)))
    return call?.id === id ? call : undefined
  }

  /**
   * The calls' backstop, run with every poll (half a heartbeat): an agent that let a call of
   * ours pass its deadline by a TTL without a word is lost (see `Outgoing.overdueAt`). One sweep
   * instead of a timer per call; the check is as late as one poll interval at most.
   */
  private sweepOverdue(now: number): void {
    if (!this.connected || this.stopping) return
    for (const call of this.outgoing.values()) {
      if (call.overdueAt > now) continue
      const agent = this.agents.get(call.agentId)
      if (agent && !agent.down) this.agentDown(agent, `no answer ${agent.record.ttlMs} ms after a call's deadline`)
    }
  }

  /** The agent for a call: the session's, else the least loaded. Binds the session. */
  private place(sessionId: string | null, avoid: ReadonlySet<string>, nested = false): Agent | undefined {
    const binding = sessionId === null ? undefined : this.bindings.get(sessionId)
    const bound = binding && this.agents.get(binding.workerId)
    // A binding made with an earlier process of an agent restarted under the same id is stale.
    const boundTo = bound && bound.record.pid === binding.pid ? bound.id : undefined
    const loads: WorkerLoad[] = []
    for (const a of this.agents.values()) {
      loads.push({
        id: a.id,
        // A nested call stays with the call it serves, on a draining agent too (which runs it).
        accepting: !a.down && (!a.record.draining || (nested && a.id === boundTo)) && !avoid.has(a.id),
        // Agents start on their own hosts: none is ever waited for here.
        starting: false,
        replacing: false,
        // Our own calls are exact; the record adds other clients' (as of its last heartbeat).
        inFlight: Math.max(a.inFlight, a.record.inFlight),
        sessions: this.bindings.countFor(a.id),
        slots: a.record.capacity,
        // An agent queues what it cannot run yet: never refuse for lack of room here.
        capacity: Number.POSITIVE_INFINITY,
        // Nothing is known of an agent's service times here: its queue is chosen by length.
        pipeWaitMs: 0,
        stalled: false,
      })
    }
    const route = chooseRoute(loads, { boundTo, hasSession: sessionId !== null, lostState: binding !== undefined, canSpawn: false, waitingForStart: 0 })
    if (route.kind !== "worker") return undefined
    const agent = this.agents.get(route.workerId)!
    if (sessionId !== null) {
      const previous = this.bindings.bind(sessionId, agent.id, agent.record.pid)
      if (previous && this.telemetry.has("session.reassigned")) {
        this.telemetry.emit("session.reassigned", { sessionId, from: previous.workerId, to: agent.id, reason: "agent lost or draining; Python-side session state was lost, host-held variables moved" })
      }
    }
    return agent
  }

  private publish(agentId: string, message: Record<string, unknown>): void {
    if (!this.connected || !this.outbox) return
    const failed = (e: unknown) => this.logger.debug({ err: e, agentId }, "could not publish to an agent")
    try {
      // Through the outbox, behind the call it names: a cancel never overtakes its call.
      this.outbox.publish(this.subjects.agentFrom(agentId, this.clientId), this.encode(message), { onError: failed })
    } catch (e) {
      failed(e)
    }
  }

  /** Values to and from agents are held to this bridge's limits, as a local worker's are. */
  private get limits(): ValueLimits {
    return (this.cachedLimits ??= valueLimits(this.options.limits))
  }

  private cachedLimits: ValueLimits | undefined

  private encode(envelope: Record<string, unknown>): Uint8Array {
    return encodeMessage(envelope, this.options.maxFrameBytes, this.limits)
  }

  /**
   * A message on one of our reply subjects: the replies (results, stream items, errors) of one
   * or more calls, each naming its call (a reply that names none is for the call the subject's
   * token names). One that is not a reply (garbage, a mistyped field, a value over the limits)
   * fails the call it names with the reason; the client serves on.
   */
  private onReply(m: Msg): void {
    const token = m.subject.slice(m.subject.lastIndexOf(".") + 1)
    const ping = token.startsWith("p") ? this.pingAnswered(token) : undefined
    if (ping) {
      // A ping's answer, or "no responders" for it (nobody subscribes to the agent's subject).
      const pong = statusOf(m) === 503 ? undefined : readMessage<PongReply>(m.data, pongReplySpecs, this.options.maxFrameBytes, this.limits)
      ping.settle(pong?.ok === true && pong.message.agentId === ping.agentId ? pong.message : undefined)
      return
    }
    // A status from the server, not a reply: 503 means nobody was subscribed to the agent's
    // subject when the message was published, so none of its calls ran anywhere.
    if (statusOf(m) === 503) {
      const calls = this.sentOnSubject.get(m.subject)
      if (calls === undefined) return
      // Handled once: a message is answered "no responders" at most once, and a call sent
      // again leaves in another message (noted under its own subject when it is sent).
      this.sentOnSubject.delete(m.subject)
      for (const call of calls) {
        call.sentOn = undefined
        this.noResponders(call)
      }
      return
    }
    const replies = readMessages<CallReply>(m.data, callReplySpecs, this.options.maxFrameBytes, this.limits)
    for (const r of replies) {
      const named = r.ok ? r.message.callId : r.envelope?.callId
      // A reply that names no call is for the subject's call only when it is the message's one
      // frame (as a reply was before replies were joined); in a joined message it is nobody's.
      const id = typeof named === "string" ? named : replies.length === 1 ? token : undefined
      const call = id === undefined ? undefined : this.outgoingCall(id)
      if (!call) continue // settled already (aborted, agent judged lost): the one outcome stands
      if (!r.ok) {
        // Python's generator (or the call) may run on: tell the agent to stop it.
        this.publish(call.agentId, { type: "cancel", callId: call.id, clientId: this.clientId })
        call.fail(r.error)
        continue
      }
      call.deliver(r.message)
    }
  }

  /** The ping out whose reply subject ends with `token` (a few agents at most are pinged at once). */
  private pingAnswered(token: string): Ping | undefined {
    for (const ping of this.pings.values()) if (ping.token === token) return ping
    return undefined
  }

  /**
   * NATS answered a call "no responders": nobody subscribes to its agent's subject. Normally
   * the agent is gone, and this is the fastest sign of it: it is lost within a round trip to the
   * server (its calls fail, idempotent ones are retried elsewhere, no new call goes there). But
   * just after we could hear agents again (NATS back), an agent may simply not have resubscribed
   * yet: until a record it wrote after its own reconnect proves it is back
   * ({@link AgentRecord.connects}), for up to one TTL, the call, which reached nobody, is sent
   * again shortly, and the agent is judged by its heartbeats. And a server that is shutting down
   * closes its connections one after another: the agent's may go before ours, and what we send
   * meanwhile finds nobody. So the verdict waits {@link NO_RESPONDERS_CONFIRM_MS}, a round trip
   * to the server and as long again: if our connection goes too, it was the server, not the
   * agent (the disconnect fails the call with "nats disconnected", or sends an idempotent one
   * again).
   */
  private noResponders(call: Outgoing): void {
    const agent = this.agents.get(call.agentId)
    // The call reached nobody, so it did not run: it goes to another agent, or waits for one,
    // like a call an agent declined. A draining agent has left (the drain's linger did not cover
    // this client); one judged lost is still not back.
    if (!agent || agent.down || agent.record.draining) {
      call.fail(reachedNobody(call.agentId))
      return
    }
    const before = agent.connectsBeforeOutage
    const back = before !== undefined && agent.record.connects !== undefined && agent.record.connects > before
    if (this.reconnecting || (!back && Date.now() - this.rejoinedAt < agent.record.ttlMs)) {
      const retry = setTimeout(() => call.resend(), Math.max(20, agent.record.heartbeatMs / 4))
      retry.unref?.()
      return
    }
    // One confirmation per agent: the calls of a burst wait for the same round trip.
    const waiting = this.unconfirmed.get(agent.id)
    if (waiting) {
      waiting.push(call)
      return
    }
    this.unconfirmed.set(agent.id, [call])
    const generation = this.generation
    const nc = this.nc
    const verdict = (gone: boolean) => {
      const calls = this.unconfirmed.get(agent.id) ?? []
      this.unconfirmed.delete(agent.id)
      // Not gone: our connection went too, and its disconnect has settled the calls.
      if (!gone) return
      for (const c of calls) c.fail(reachedNobody(c.agentId))
      if (agent.down) return
      // Records prove it writes to the KV, not that it hears calls (a process that lost its
      // subscription writes on; its last heartbeat may still be on its way): only an answer to a
      // ping (see `pingBack`) or a record of a new process under its id says it is back. What the
      // judgement rested on goes in the log line.
      this.agentDown(agent, `NATS answered "no responders" for a call to it`, Number.POSITIVE_INFINITY, {
        connectsBeforeOutage: before ?? null,
        connects: agent.record.connects ?? null,
        msSinceRejoin: Number.isFinite(this.rejoinedAt) ? Date.now() - this.rejoinedAt : null,
      })
    }
    const confirm = setTimeout(() => {
      if (!nc || this.generation !== generation) return verdict(false)
      // Still connected, on the same connection, a moment after the round trip: the server is
      // there, the agent is not. (The moment: a server shutting down answered our round trip and
      // closed our connection 5 ms later, in a run of the NATS restart test.)
      const stillHere = () => setTimeout(() => verdict(this.generation === generation && this.connected), NO_RESPONDERS_CONFIRM_MS).unref?.()
      nc.flush().then(stillHere, () => verdict(false))
    }, NO_RESPONDERS_CONFIRM_MS)
    confirm.unref?.()
  }

  /** A tool call (or `session.variables`) made by Python on an agent for one of our sessions. */
  private onToolCall(m: Msg): void {
    // Never throws: nothing awaits it, so a throw would end the host. The reason a value cannot
    // be sent quotes the value, and is cut so that it fits a frame.
    const respond = (answer: ToolAnswer) => {
      try {
        m.respond(this.encode({ type: "tool_result", ...answer }))
      } catch (e) {
        try {
          m.respond(this.encode({ type: "tool_result", ok: false, message: cutText(`the tool's value cannot be sent: ${thrownText(e)}`, MAX_TOOL_REFUSAL_CHARS) }))
        } catch (e2) {
          this.logger.warn({ err: e2 }, "tool answer not sent")
        }
      }
    }
    const r = readMessage<ClientToolInbound>(m.data, clientToolSpecs, this.options.maxFrameBytes, this.limits)
    if (!r.ok) {
      // Compact (no stack): a peer may send a flood of these.
      this.logger.warn({ subject: m.subject, error: { _tag: r.error._tag, message: r.error.message } }, "tool call refused")
      if (m.reply) respond({ ok: false, message: `${r.error._tag}: ${r.error.message}` })
      return
    }
    const message = r.message
    if (message.type === "alive") {
      m.respond(this.encode({ type: "alive" }))
      return
    }
    const call = this.outgoingCall(message.callId)
    // The answer goes to the reply subject: it must be the inbox of the agent that runs the call.
    const fromAgent = m.reply !== undefined && m.reply.startsWith(`${this.subjects.agentInbox(message.agentId)}.`)
    if (!call || call.agentId !== message.agentId || !fromAgent) {
      const why = !call
        ? "it names no call of this client that is running"
        : call.agentId !== message.agentId
          ? `the call runs on agent ${call.agentId}, not ${message.agentId}`
          : `its reply subject is not agent ${message.agentId}'s inbox`
      this.logger.warn({ subject: m.subject, agentId: message.agentId, callId: message.callId, tool: message.name.slice(0, 100), why }, "tool call refused")
      if (m.reply) respond({ ok: false, message: `tool call refused: ${why}` })
      return
    }
    const session = call.sessionId
    if (session !== null) addCount(this.toolCallsOfSession, session, 1)
    const answered = () => {
      if (session !== null) addCount(this.toolCallsOfSession, session, -1)
    }
    void this.tools
      .answer({ name: message.name, args: message.args as unknown[], kwargs: message.kwargs as Record<string, unknown>, sessionId: session, hold: call.hold }, call.agentId)
      .then((answer) => {
        answered()
        respond(answer)
      })
  }

  // ── agents: heartbeats, loss, the connection ──────────────────────────────────────────────

  private live(): Agent[] {
    return [...this.agents.values()].filter((a) => !a.down && !a.record.draining)
  }

  /**
   * Reads every agent record, then judges: an agent whose record has not changed for its TTL
   * (whether the record is still there or vanished) is lost, a draining one whose record is
   * gone has left. A read that fails, or outlasts its deadline, makes us deaf: nobody is judged,
   * and the next read that succeeds starts every agent's clock again.
   */
  private async poll(): Promise<void> {
    if (this.polling || !this.connected || this.stopping) return
    this.polling = true
    const generation = this.generation
    const token = ++this.readToken
    // A read can hang on a connection that went away under it (the key lister waits for its
    // consumer): it may take one TTL, after which it is abandoned.
    // (A fold, not Math.min(...): spread into arguments, a KV of 100 000s of records threw here,
    // outside the try, and left `polling` set for good.)
    let ttlMs = Number.POSITIVE_INFINITY
    for (const a of this.agents.values()) ttlMs = Math.min(ttlMs, a.record.ttlMs)
    if (!Number.isFinite(ttlMs)) ttlMs = DEFAULT_AGENT_TTL_MS
    // Never shorter than a second, whatever a record says: records are anyone's who may write the
    // bucket, and a read that always outlasts its deadline leaves the client deaf for good.
    ttlMs = Math.max(ttlMs, MIN_RECORDS_READ_MS)
    let deadline: ReturnType<typeof setTimeout> | undefined
    // Silence is judged up to the read's start: a record unchanged in a read shows its agent silent
    // until then, not until the read's end (our own process may pause in between).
    const began = Date.now()
    try {
      const read = await Promise.race([
        this.readRecords(),
        new Promise<never>((_, reject) => (deadline = setTimeout(() => reject(new Error(`the agent records could not be read within ${ttlMs} ms`)), ttlMs))),
      ])
      if (token !== this.readToken || generation !== this.generation || !this.connected) return // read across a reconnect: judge nobody
      this.judge(read, began, Date.now())
    } catch (e) {
      if (token === this.readToken) {
        this.deaf = true
        this.kv = undefined
      }
      throw e
    } finally {
      if (deadline) clearTimeout(deadline)
      if (token === this.readToken) this.polling = false
    }
  }

  /** Every well-formed agent record in the KV, by key, and the agents we know whose record was deleted. */
  private async readRecords(): Promise<RecordsRead> {
    this.kv ??= await new this.kvModule!.Kvm(this.nc!).open(this.subjects.bucket)
    const kv = this.kv
    const records = new Map<string, { record: AgentRecord; revision: number }>()
    const deleted = new Set<string>()
    const otherWire = new Map<string, number>()
    // The lister delivers each key's last record, then goes on with every record written since:
    // agents that write faster than it is read (a heartbeat each, a busy machine) would keep it
    // going for ever. A key seen twice is past the snapshot: the read is complete.
    const seen = new Set<string>()
    for await (const key of await kv.keys()) {
      if (seen.has(key)) break
      seen.add(key)
      await this.readRecord(key, records, otherWire)
    }
    // The lister can miss a key rewritten while it lists (seen on a loaded machine: an agent
    // whose drain rewrote its record twice at once was left out, and judged gone with its calls
    // in flight). An agent we know and did not hear of is asked for by name.
    for (const agent of this.agents.values()) {
      if (!agent.down && !seen.has(agent.id) && (await this.readRecord(agent.id, records, otherWire)) === "deleted") deleted.add(agent.id)
    }
    // So is an agent of another version we heard of: a start refused for want of agents names
    // every one of them, not those one listing happened to show (CI: one of two left out).
    for (const id of this.otherWire.keys()) {
      if (!seen.has(id) && !this.agents.has(id)) await this.readRecord(id, records, otherWire)
    }
    this.otherWire = otherWire
    return { records, deleted }
  }

  /**
   * Reads `key`'s record into `records` if it is a well-formed one of our wire version; says
   * whether its last write was a delete (an agent that drained deletes its record as it leaves).
   */
  private async readRecord(key: string, records: Map<string, { record: AgentRecord; revision: number }>, otherWire: Map<string, number>): Promise<"deleted" | undefined> {
    // The KV's own get, a direct get that any replica answers: a read through the stream's leader
    // (kvEntries.ts, as the agent reads its own record) failed while a cluster elected one, and no
    // agent judged lost came back meanwhile (remoteCluster.test.ts).
    const entry = await this.kv!.get(key)
    if (!entry) return undefined
    if (entry.operation !== "PUT") return "deleted"
    const record = parseAgentRecord(entry.value, key)
    if (!record) {
      // Once per version of the record: polls read it every half heartbeat.
      if (this.reportedRecords.first(`${key}@${entry.revision}`)) this.logger.warn({ key: key.slice(0, 100), revision: entry.revision }, "malformed agent record skipped")
      return
    }
    if (record.wire !== WIRE_VERSION) {
      // Another snakepit version: its calls and replies would not be read alike. Said once.
      if (this.reportedRecords.first(`${key}@wire${record.wire}`)) {
        this.logger.warn({ agentId: key, wire: record.wire, ours: WIRE_VERSION }, "agent speaks another remote wire version: not used (run the same snakepit version on agents and clients)")
      }
      otherWire.set(key, record.wire)
      return
    }
    records.set(key, { record, revision: entry.revision })
  }

  /** Why agents the KV lists are not used: they speak another wire version. */
  private wireMismatch(): string {
    const named = [...this.otherWire].slice(0, 5).map(([id, wire]) => `${id} speaks ${wire}`)
    return `(${this.otherWire.size} agent(s) speak another remote wire version: ${named.join(", ")}; this client speaks ${WIRE_VERSION}: run the same snakepit version on agents and clients)`
  }

  /** Applies one complete read of the records, begun at `began` and done at `now`. */
  private judge({ records, deleted }: RecordsRead, began: number, now: number): void {
    this.judgedAt = now
    if (this.deaf) {
      // Nobody could be heard for a while: what vanished or went stale then is no evidence.
      this.deaf = false
      for (const a of this.agents.values()) a.seenAt = Math.max(a.seenAt, now)
      this.logger.debug("agent records read again: every agent's clock restarts")
    }
    if (this.reconnecting) {
      this.reconnecting = false
      this.rejoinedAt = now
    }
    for (const [key, { record, revision }] of records) {
      const known = this.agents.get(key)
      if (!known) {
        this.agents.set(key, { id: key, record, revision, seenAt: now, connectsBeforeOutage: undefined, down: false, backAfter: 0, pingedAt: Number.NEGATIVE_INFINITY, inFlight: 0, served: 0 })
        this.logger.info({ agentId: key, hostname: record.hostname, capacity: record.capacity }, "agent joined")
        continue
      }
      const { clock, back } = recordRead(known, record, revision, now)
      Object.assign(known, clock)
      if (back) this.logger.info({ agentId: key }, "agent is back")
    }
    this.updateCapacity()
    for (const agent of this.agents.values()) {
      const judged = verdict(agent, { present: records.has(agent.id), deleted: deleted.has(agent.id), began })
      if (judged?.kind === "forget") this.agents.delete(agent.id)
      else if (judged?.kind === "ping back") this.pingBack(agent, now)
      else if (judged?.kind === "gone") this.agentDown(agent, judged.why)
      else if (judged?.kind === "silent") this.confirmSilence(agent, judged.why)
    }
  }

  private updateCapacity(): void {
    this.metrics.timings.setCapacity(this.live().reduce((n, a) => n + a.record.capacity, 0))
  }

  /**
   * Asks an agent whether it serves: a `ping` on its own subject, answered `pong` on one of our
   * reply subjects. Resolves with the answer, or undefined when NATS answers "no responders"
   * (nobody subscribes to its subject), nothing comes within {@link pingWaitMs}, or the ping
   * cannot be sent. One ping per agent at a time; only agents we have not
   * heard for a TTL, or judged lost, are pinged, so a pool whose heartbeats land sends none.
   */
  private ping(agent: Agent): Promise<PongReply | undefined> {
    const out = this.pings.get(agent.id)
    if (out) return out.answer
    const nc = this.nc
    if (!this.connected || !nc) return Promise.resolve(undefined)
    // Random, as a call's id is: a peer cannot answer a ping it did not see.
    const token = `p${randomHex(8)}`
    let settle!: (pong: PongReply | undefined) => void
    const answer = new Promise<PongReply | undefined>((resolve) => (settle = resolve))
    let timer: ReturnType<typeof setTimeout> | undefined
    // However the round trip below goes (a flush can wait across a reconnect), a ping ends: one
    // left open would keep the agent from being pinged, and so judged, again.
    const cap = setTimeout(() => ping.settle(undefined), pingWaitMs(agent.record) + agent.record.ttlMs)
    cap.unref?.()
    const ping: Ping = {
      agentId: agent.id,
      token,
      answer,
      settle: (pong) => {
        clearTimeout(cap)
        if (timer) clearTimeout(timer)
        if (this.pings.get(agent.id) === ping) this.pings.delete(agent.id)
        settle(pong)
      },
    }
    this.pings.set(agent.id, ping)
    try {
      // In a NATS message of its own, past the outbox: joined behind a call to the agent, it
      // would carry that call's reply subject, and its answer would be taken for the call's.
      nc.publish(this.subjects.agentFrom(agent.id, this.clientId), this.encode({ type: "ping", clientId: this.clientId }), { reply: `${this.subjects.replies(this.clientId)}.${token}` })
    } catch {
      ping.settle(undefined)
      return answer
    }
    // The wait starts once the server has the ping (a round trip behind it): our own connection
    // may be held up (nats-server stalls a publisher while a subscriber it writes to, a frozen
    // agent, takes nothing), and an answer that could not come yet is no silence. Settled after
    // the turn's I/O: a client whose event loop was held past the wait has the answer waiting in
    // its socket, read before the check phase runs the verdict.
    nc.flush().then(
      () => {
        if (this.pings.get(agent.id) !== ping) return
        timer = setTimeout(() => setImmediate(() => ping.settle(undefined)), pingWaitMs(agent.record))
        timer.unref?.()
      },
      () => ping.settle(undefined),
    )
    return answer
  }

  /** Whether a `pong` came from the process the agent's record names (not a restart under its id). */
  private sameProcess(agent: Agent, pong: PongReply): boolean {
    return pong.pid === agent.record.pid && pong.startedAt === agent.record.startedAt
  }

  /**
   * An agent silent for its TTL is pinged before it is judged: its heartbeats may not land though
   * it serves (a replicated KV takes no writes for seconds while it elects a leader after a NATS
   * node died). An answer from the same process restarts its clock; no answer (nobody on its
   * subject, or silence for the ping's time) judges it lost. Nothing is judged on a ping that
   * ended while we could not hear agents (deaf, disconnected, another connection).
   */
  private confirmSilence(agent: Agent, why: string): void {
    const seenAt = agent.seenAt
    const generation = this.generation
    void this.ping(agent).then((pong) => {
      // Judged or heard from meanwhile, or forgotten: this ping decides nothing.
      if (agent.down || agent.seenAt !== seenAt || this.agents.get(agent.id) !== agent || this.stopping) return
      if (pong && this.sameProcess(agent, pong)) {
        agent.seenAt = Date.now()
        if (pong.draining) agent.record = { ...agent.record, draining: true }
        this.logger.debug({ agentId: agent.id, why }, "agent silent in the KV answered a ping: its clock restarts")
        return
      }
      if (this.deaf || !this.connected || this.generation !== generation) return
      this.agentDown(agent, `${why}; ${pong ? "a restarted process answered a ping under its id" : "it did not answer a ping"}`)
    })
  }

  /**
   * An agent judged lost is pinged once a heartbeat (at each poller tick and each read, at most)
   * while we know it: an answer from the same process, not draining, brings it back at once.
   * Heartbeats alone would leave it lost while its records do not land (the KV electing a leader
   * after the NATS node it was on died: every agent on that node judged lost by "no responders"
   * as it reconnected elsewhere, and no record to bring it back for seconds), and reads alone
   * while the records cannot be listed (the same election).
   */
  private pingBack(agent: Agent, now: number): void {
    // Deaf or not: an answer from the same process is proof by itself, read or no read.
    if (agent.record.draining || now - agent.pingedAt < agent.record.heartbeatMs || !this.connected) return
    agent.pingedAt = now
    void this.ping(agent).then((pong) => {
      if (!pong || pong.draining || !agent.down || this.agents.get(agent.id) !== agent || !this.sameProcess(agent, pong) || this.stopping) return
      agent.down = false
      agent.backAfter = 0
      agent.seenAt = Date.now()
      this.logger.info({ agentId: agent.id }, "agent is back (it answered a ping)")
      this.updateCapacity()
    })
  }

  private agentDown(agent: Agent, why: string, backAfter = 1, evidence?: object): void {
    agent.down = true
    agent.backAfter = backAfter
    this.logger.warn({ agentId: agent.id, why, inFlight: agent.inFlight, ...evidence }, "agent lost")
    for (const call of [...this.outgoing.values()]) {
      if (call.agentId === agent.id) call.fail(lost(agent.id, "agent lost", `agent ${agent.id} was lost (${why}); the call's outcome is unknown`))
    }
    // Its sessions keep their binding until their next call, which `place` routes to a live
    // agent (and reports as reassigned); their host-held variables are here already.
    if (agent.record.draining) this.agents.delete(agent.id)
  }

  private watchConnection(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          // What each agent's count was when we lost NATS, if we read it just before: a read from
          // longer ago (the KV unreadable meanwhile, or no read since the last outage) may predate
          // a reconnect of the agent's, whose record would then pass for proof that it is back.
          const now = Date.now()
          for (const a of this.agents.values()) a.connectsBeforeOutage = !this.deaf && now - this.judgedAt <= a.record.heartbeatMs ? a.record.connects : undefined
          this.connected = false
          this.deaf = true
          this.reconnecting = true
          this.generation++
          this.logger.warn({ server: (status as { server?: string }).server }, "NATS connection lost")
          for (const call of [...this.outgoing.values()]) {
            call.fail(lost(call.agentId, "nats disconnected", "the connection to NATS was lost while the call was out; its outcome is unknown"))
          }
        } else if (status.type === "error") {
          // A publish NATS does not permit (this user may not call that agent) is dropped by the
          // server, and the call waits for its deadline: say why, loudly.
          this.logger.error({ error: { name: status.error.name, message: status.error.message } }, "NATS refused an operation of this client")
        } else if (status.type === "reconnect") {
          this.connected = true
          this.generation++
          // Nobody could be heard while we were away: every agent's clock starts again, from the
          // first read of the KV that succeeds (see `judge`), and until then nobody is judged.
          this.deaf = true
          this.reconnecting = true
          const now = Date.now()
          for (const a of this.agents.values()) a.seenAt = Math.max(a.seenAt, now)
          this.kv = undefined
          // A poll still waiting on the old connection must not hold up this one.
          this.readToken++
          this.polling = false
          this.logger.info("NATS connection back")
          void this.poll().catch(() => {})
        }
      }
    })().catch(() => {})
  }

  // ── sessions, status, lifecycle ──────────────────────────────────────────────────────────

  sessionWorker(sessionId: string): string | undefined {
    return this.place(sessionId, NO_AGENTS)?.id
  }

  sessionBound(sessionId: string): boolean {
    return this.bindings.get(sessionId) !== undefined
  }

  sessionInFlight(sessionId: string): boolean {
    return this.sessionCalls.running(sessionId)
  }

  /**
   * Gives `hold` to the session's calls this client has outgoing: all were sent, or leave in this
   * turn's flush, before the cleanup `forgetSession` publishes after it.
   */
  holdForSession(sessionId: string, hold: CallHold): void {
    for (const call of this.outgoing.values()) {
      if (call.sessionId !== sessionId || call.hold !== undefined) continue
      hold.join()
      call.hold = hold
    }
  }

  async forgetSession(sessionId: string, timeoutMs: number): Promise<{ bound: boolean; workerId: string | undefined }> {
    const agentId = this.bindings.delete(sessionId)?.workerId
    const agent = agentId === undefined ? undefined : this.agents.get(agentId)
    if (!agent || agent.down || !this.connected) return { bound: agentId !== undefined, workerId: undefined }
    let request: Uint8Array
    try {
      request = this.encode({ type: "cleanup", clientId: this.clientId, sessionId })
    } catch {
      // An id over this pool's limits: no call could carry it, so no agent holds it.
      return { bound: true, workerId: agent.id }
    }
    this.outbox?.flush()
    await this.requests!.request(this.subjects.agentFrom(agent.id, this.clientId), request, timeoutMs).catch(() => undefined)
    return { bound: true, workerId: agent.id }
  }

  get sessionCount(): number {
    return this.bindings.size
  }

  /** An agent's workers run on its machine: the pid in its record means nothing here. */
  killWorker(_id: string): number | undefined {
    return undefined
  }

  /** One entry per agent: an agent is the remote pool's unit of work, as a worker is locally. */
  workers(): WorkerStatus[] {
    const now = Date.now()
    return [...this.agents.values()].map((a) => ({
      id: a.id,
      pid: a.record.pid,
      state: a.down ? "crashed" : a.record.draining ? "stopping" : a.inFlight > 0 || a.record.inFlight > 0 ? "busy" : "ready",
      sessions: this.bindings.countFor(a.id),
      inFlight: a.inFlight,
      served: a.served,
      restarts: 0,
      rssBytes: null,
      uptimeMs: now - a.record.startedAt,
      busyWait: null,
    }))
  }

  /**
   * The calls this client holds, not sent: waiting for an agent to be live (none is) or, when
   * idempotent, for the connection to NATS to come back. Calls sent wait in agents' queues,
   * which are not counted here.
   */
  get queued(): number {
    return this.waitingCalls
  }

  /** Calls are not queued here (agents queue them), so never. */
  get needsDrain(): boolean {
    return false
  }

  get failed(): undefined {
    return undefined
  }

  get ended(): AbortSignal {
    return this.ending.signal
  }

  supervisorStatus(): null {
    return null
  }

  /**
   * Asks every live agent to restart its Python environment; resolves to the workers now serving.
   * An agent that fails is logged and counts 0; when every agent refused (agents restart for
   * clients only with `--allow-restart`), it rejects with the first refusal.
   */
  async restartAll(): Promise<number> {
    this.outbox?.flush()
    const refusals: unknown[] = []
    const live = this.live()
    const replies = await Promise.all(
      live.map((a) =>
        this.requests!.request(this.subjects.agentFrom(a.id, this.clientId), this.encode({ type: "restart" }), this.options.startupTimeoutMs)
          .then((m) => {
            const r = readMessage<RestartReply>(m.data, restartReplySpecs, this.options.maxFrameBytes, this.limits)
            if (!r.ok) throw r.error
            if (r.message.type === "error") {
              const refused = errorFromWire(r.message.error as unknown as Record<string, unknown>)
              refusals.push(refused)
              throw refused
            }
            return r.message.workers
          })
          .catch((e: unknown) => {
            this.logger.warn({ err: e, agentId: a.id }, "agent did not restart its environment")
            return 0
          }),
      ),
    )
    if (live.length > 0 && refusals.length === live.length) throw refusals[0]
    return replies.reduce((n, w) => n + w, 0)
  }

  /**
   * New calls are refused at once; calls in flight (sent to agents, running or waiting in an
   * agent's queue) get `shutdownTimeoutMs` to finish, or with `drain` its `timeoutMs`. The
   * client holds no queue of its own, so a drain is the same wait with its own deadline; what
   * is left then is cancelled on its agent and fails with `BridgeStopped`. An idempotent call
   * whose agent is lost during the wait is not retried.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.ending.abort(stoppedError(false))
    if (this.poller) clearInterval(this.poller)
    for (const ping of [...this.pings.values()]) ping.settle(undefined)
    // Calls waiting for an agent or a reconnect were not sent: refused now, drain or not.
    for (const wake of [...this.waiters]) wake()
    const drain = options.drain === true
    const timeoutMs = drain ? (options.timeoutMs ?? this.options.shutdownTimeoutMs) : this.options.shutdownTimeoutMs
    const deadline = Date.now() + timeoutMs
    while (this.outgoing.size > 0 && Date.now() < deadline && this.connected) await new Promise((r) => setTimeout(r, 20))
    const message = drain ? `the bridge's drain deadline (${timeoutMs} ms) passed before this call finished` : "the bridge stopped before the call finished"
    for (const call of [...this.outgoing.values()]) {
      this.publish(call.agentId, { type: "cancel", callId: call.id, clientId: this.clientId })
      call.fail(new BridgeStopped({ message }))
    }
    // The cancels leave before the connection closes.
    this.outbox?.flush()
    this.requests?.close()
    await this.nc?.close().catch(() => {})
    this.stopped = true
  }
}
