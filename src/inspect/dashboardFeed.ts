/**
 * What the dashboard shows, kept from a bridge's status and telemetry events: the workers
 * (with each exited incarnation kept for a while, so a crash stays visible after the supervisor
 * has replaced it), the supervision tree, and a bounded log of what happened (starts, exits,
 * restarts, session reassignments), and the call panels (calls/s, latency, errors per worker, recent
 * errors; callPanels.ts) from the `execution` events. Listeners are told when something changed; the server
 * decides how often to push it.
 *
 * @example
 * const feed = new DashboardFeed(bridge)
 * feed.onChange(() => push(feed.snapshot()))
 * feed.onLog((entry) => push(entry))
 * feed.close()
 */
import { LoggedFeed } from "./feedLog.js"
import type { BridgeStatus, WorkerStatus } from "../bridge/status.js"
import type { BridgeEventName, BridgeEvents } from "../telemetry/events.js"
import { CallPanels, type CallsSnapshot } from "./callPanels.js"

/** The part of a bridge the feed reads. */
export interface FeedSource {
  getStatus(): BridgeStatus
  on<K extends BridgeEventName>(name: K, handler: (event: BridgeEvents[K]) => void): () => void
}

/** One worker row: a live worker, or an exited incarnation kept for `retainExitedMs`. */
export interface WorkerRow extends WorkerStatus {
  /** Set on an exited incarnation: why it exited and when (epoch ms). */
  readonly exit: { readonly reason: string; readonly signal: string | null; readonly exitCode: number | null; readonly at: number } | null
}

/** A line of the event log. */
export interface LogEntry {
  readonly seq: number
  /** Epoch ms. */
  readonly at: number
  readonly kind: BridgeEventName
  readonly workerId: string | null
  readonly text: string
}

/** Everything the page renders, JSON-safe. */
export interface DashboardSnapshot {
  readonly at: number
  readonly bridge: Omit<BridgeStatus, "workers" | "supervisor">
  readonly workers: readonly WorkerRow[]
  readonly supervisor: BridgeStatus["supervisor"]
  /** Calls/s, latency and errors per worker and in all, and the recent errors (see callPanels.ts). */
  readonly calls: CallsSnapshot
}

/** Feed settings. */
export interface FeedOptions {
  /** How long an exited worker incarnation stays listed. Default 15 000 ms. */
  readonly retainExitedMs?: number
  /** Log entries kept (and replayed to a page that connects), each at most 1 000 characters. Default 200. */
  readonly logSize?: number
}

/** Longest log line kept (characters); a longer one (a huge session id) is cut. */
const MAX_TEXT = 1_000

const describeExit = (e: BridgeEvents["worker.exited"]) =>
  `worker ${e.workerId} (pid ${e.pid ?? "?"}) exited: ${e.reason}${e.signal ? `, ${e.signal}` : e.exitCode !== null ? `, code ${e.exitCode}` : ""}`

/** Live dashboard state of one bridge. */
export class DashboardFeed extends LoggedFeed<LogEntry> {
  private readonly exited: WorkerRow[] = []
  private readonly unsubscribe: Array<() => void> = []
  /**
   * Each worker of the latest status as that status showed it, for the row it leaves when it
   * exits. Only those: every recycle starts a worker under a new id, so remembering every id
   * ever seen grew for the dashboard's life. A worker is still in the status until its
   * `worker.exited` has been emitted (the pool drops it after), so none is forgotten too soon.
   */
  private readonly lastSeen = new Map<string, WorkerStatus>()
  private seq = 0
  private readonly panels = new CallPanels(Date.now())
  private readonly retainExitedMs: number

  constructor(
    private readonly source: FeedSource,
    options: FeedOptions = {},
  ) {
    super(options.logSize ?? 200)
    this.retainExitedMs = options.retainExitedMs ?? 15_000
    const changed = () => this.changed()
    this.unsubscribe.push(
      source.on("worker.stateChanged", changed),
      // A failed call changes the recent errors: push it soon. A success only moves numbers,
      // which the next snapshot (at least once a second) shows.
      source.on("execution", (e) => {
        this.panels.record(e, Date.now())
        if (!e.ok) this.changed()
      }),
      source.on("worker.started", (e) => this.append("worker.started", e.workerId, `worker ${e.workerId} started (pid ${e.pid}) in ${Math.round(e.startupMs)} ms`)),
      source.on("worker.exited", (e) => {
        this.keepExited(e)
        this.append("worker.exited", e.workerId, describeExit(e))
      }),
      source.on("worker.restarted", (e) =>
        this.append("worker.restarted", e.workerId, `worker ${e.workerId} restarted by the supervisor (${e.reason}; restart #${e.restarts})`),
      ),
      source.on("session.reassigned", (e) => this.append("session.reassigned", e.to, `session ${e.sessionId} moved ${e.from} → ${e.to}: ${e.reason}`)),
      source.on("session.cleanedUp", (e) => this.append("session.cleanedUp", e.workerId ?? null, `session ${e.sessionId} cleaned up (${e.reason})`)),
      source.on("environment.restarted", (e) =>
        this.append("environment.restarted", null, `Python environment restarted: ${e.workers} workers in ${Math.round(e.durationMs)} ms`),
      ),
      source.on("supervisor.maxIntensity", (e) =>
        this.append("supervisor.maxIntensity", null, `supervisor ${e.supervisorId} gave up: more than ${e.intensity} restarts in ${e.periodMs} ms`),
      ),
    )
  }

  /** The current state: live workers, then recently exited incarnations, newest first. */
  snapshot(now = Date.now()): DashboardSnapshot {
    const { workers, supervisor, ...bridge } = this.source.getStatus()
    this.lastSeen.clear()
    for (const w of workers) this.lastSeen.set(w.id, w)
    while (this.exited.length > 0 && now - this.exited[this.exited.length - 1]!.exit!.at > this.retainExitedMs) this.exited.pop()
    return { at: now, bridge, workers: [...workers.map((w) => ({ ...w, exit: null })), ...this.exited], supervisor, calls: this.panels.snapshot(now) }
  }

  /** Stops listening to the bridge. */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u()
    this.log.close()
  }

  private keepExited(e: BridgeEvents["worker.exited"]): void {
    // The incarnation as last seen in a snapshot, with the state its machine ended in.
    const last = this.lastSeen.get(e.workerId)
    const crashed = e.reason !== "shutdown" && e.reason !== "normal"
    this.exited.unshift({
      id: e.workerId,
      pid: e.pid,
      state: crashed ? "crashed" : "stopped",
      sessions: 0,
      inFlight: 0,
      served: last?.served ?? 0,
      restarts: last?.restarts ?? 0,
      rssBytes: null,
      uptimeMs: last?.uptimeMs ?? 0,
      busyWait: null,
      exit: { reason: e.reason, signal: e.signal, exitCode: e.exitCode, at: Date.now() },
    })
    if (this.exited.length > 50) this.exited.length = 50
    this.changed()
  }

  private append(kind: BridgeEventName, workerId: string | null, text: string): void {
    // Bounded, so the log replayed to a page that connects stays small whatever the session ids.
    const bounded = text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text
    const entry: LogEntry = { seq: ++this.seq, at: Date.now(), kind, workerId, text: bounded }
    this.log.push(entry)
    this.changed()
  }

  private changed(): void {
    this.log.changed()
  }
}
