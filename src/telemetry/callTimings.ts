/**
 * Where a call's time goes, as `getStatus().stats` reports it: how long calls waited before they
 * ran (`waitTime`), how long they ran (`runTime`), and how much of the pool's capacity was busy
 * (`utilization`). Pure bookkeeping: the pool tells it when a call is handed to a worker and when
 * it ended, with timestamps; no timers, no I/O.
 *
 * **When a call starts running.** The host hands a call to a worker at once when it has a free
 * execution slot, but also when it has none, into the worker's pipe (`pipelineDepth`), where
 * Python runs it first-in first-out as a slot frees. The host cannot see that moment, so each
 * worker is modelled as a *lane* with `workerConcurrency` slots and a FIFO: a call starts when
 * it is handed over with a slot free, else when the call ahead of it ends (as the host hears of
 * it). For calls that waited in a pipe, the start is therefore late by the reply's transit time
 * and each one's run time may be off by the difference between two replies' transit times; the
 * sum of run times per worker is exact (it telescopes to first hand-over … last reply).
 *
 * **What counts.** `waitTime` is from submission (`executePython` …) to the start; `runTime` from
 * the start to the end, for every call Python answered (a result or a Python-side error). Calls
 * that never ran or whose end the host decided (refused, queue timeout, call timeout, cancelled,
 * lost with their worker, bridge stopped) are not in the histograms: they are in
 * `snakepit_call_errors_total`. A nested call (a tool calling back into its own session's
 * worker) runs at once, beyond concurrency, and waits nothing.
 *
 * **Utilization** is busy slot-time ÷ capacity slot-time over the last 55–60 s (since the start
 * if younger): the integral of running calls (at most `workerConcurrency` per worker) divided by
 * `maxWorkers × workerConcurrency` × the time elapsed, so 1 means every slot the pool may ever
 * have was busy the whole window. Piscina's `utilization` uses the same capacity (`maxThreads`
 * × duration) but over the pool's whole life and from completed tasks only.
 *
 * Cost per call: two `Map` lookups, a few number updates and two histogram records (one
 * `Math.log2` each) and one small object; memory is fixed (two 4 KiB histograms, 14
 * checkpoints, up to 64 idle workers' lanes) plus one small object per call in flight.
 *
 * @example
 * const timings = new CallTimings(4, performance.now()) // maxWorkers × workerConcurrency slots
 * const run = timings.started("w1", 1, submittedAt, performance.now())
 * timings.ended(run, undefined, performance.now())   // Python answered
 * timings.snapshot(performance.now())                // { waitTime, runTime, utilization }
 */
import { LatencyHistogram, type LatencySummary } from "./latencyHistogram.js"

/** `getStatus().stats`. Durations in ms; `utilization` in [0, 1]. */
export interface PoolStats {
  readonly waitTime: LatencySummary
  readonly runTime: LatencySummary
  readonly utilization: number
}

/** One worker's execution slots and the calls queued in its pipe. */
interface Lane {
  readonly id: string
  slots: number
  running: number
  readonly pipe: Run[]
  head: number
  /** Calls in `pipe` from `head` on that have not ended. */
  waiting: number
}

const PIPED = 0
const RUNNING = 1
const DONE = 2

/** One call's stay on one worker; returned by {@link CallTimings.started}, passed back at its end. */
export interface Run {
  readonly lane: Lane
  readonly queuedAt: number
  readonly handedAt: number
  startedAt: number
  state: typeof PIPED | typeof RUNNING | typeof DONE
  /** Runs beyond concurrency (a nested call): occupies no slot. */
  readonly nested: boolean
}

/**
 * Errors by which the host, not Python, ended a call (or that mean it never ran): their calls
 * are kept out of the histograms. Tags, not classes, so this leaf module imports no errors.
 */
const HOST_ENDED: ReadonlySet<string> = new Set(["WorkerCrashed", "CallTimeout", "CallCancelled", "BridgeStopped", "QueueFull", "QueueTimeout", "MaxRestartIntensity"])

/**
 * True when Python answered the call (it ran to a result or raised), false when the host ended
 * it (timeout, cancel, crash …).
 *
 * @example
 * answered(undefined) // true
 * answered(new CallTimeout({ message: "late", workerId: "w1", timeoutMs: 500 })) // false
 */
export const answered = (error: unknown): boolean => {
  if (error === undefined) return true
  const tag = (error as { _tag?: unknown } | null)?._tag
  return !(typeof tag === "string" && HOST_ENDED.has(tag))
}

/** Length of the utilization window, and how often it takes a checkpoint. */
export const UTILIZATION_WINDOW_MS = 60_000
const CHECKPOINT_MS = 5_000
/** Workers' lanes kept while idle (see `release`). */
const KEPT_IDLE_LANES = 64

export class CallTimings {
  readonly waitTime = new LatencyHistogram()
  readonly runTime = new LatencyHistogram()
  private readonly lanes = new Map<string, Lane>()
  private capacity: number
  /** Slots running calls now, and the integral of that over time (slot-ms) up to `at`. */
  private running = 0
  private busy = 0
  private at: number
  /** (time, busy integral) at multiples of CHECKPOINT_MS, oldest first; the window's start. */
  private readonly checkpoints: Array<{ readonly at: number; readonly busy: number }> = []

  /**
   * @param capacity execution slots the pool may have (`maxWorkers × workerConcurrency`)
   * @param now the clock the caller passes to every method (`performance.now()`)
   */
  constructor(capacity: number, now: number) {
    this.capacity = Math.max(1, capacity)
    this.at = now
    this.checkpoints.push({ at: now, busy: 0 })
  }

  /**
   * Changes the capacity (a remote pool's agents come and go). The window's utilization is then
   * computed against the new capacity.
   *
   * @example
   * timings.setCapacity(agents.reduce((n, a) => n + a.capacity, 0))
   */
  setCapacity(capacity: number): void {
    this.capacity = Math.max(1, capacity)
  }

  /**
   * A call was handed to worker `laneId` (which runs `slots` calls at once) at `now`; it was
   * submitted at `queuedAt`. `nested`: it runs at once, beyond concurrency.
   *
   * @example
   * const run = timings.started(slot.id, workerConcurrency, submitted, performance.now())
   */
  started(laneId: string, slots: number, queuedAt: number, now: number, nested = false): Run {
    let lane = this.lanes.get(laneId)
    if (!lane) {
      lane = { id: laneId, slots, running: 0, pipe: [], head: 0, waiting: 0 }
      this.lanes.set(laneId, lane)
    }
    lane.slots = slots
    const run: Run = { lane, queuedAt, handedAt: now, startedAt: Number.NaN, state: PIPED, nested }
    if (nested) {
      run.state = RUNNING
      run.startedAt = now
    } else if (lane.running < lane.slots) {
      this.begin(run, now)
    } else {
      lane.pipe.push(run)
      lane.waiting++
    }
    return run
  }

  /**
   * The call ended at `now` with `error` (undefined: it succeeded). Records its wait and run
   * when Python answered it, and starts the next call in the worker's pipe.
   *
   * @example
   * timings.ended(run, error, performance.now())
   */
  ended(run: Run, error: unknown, now: number): void {
    const was = run.state
    if (was === DONE) return
    run.state = DONE
    const lane = run.lane
    if (was === PIPED) {
      lane.waiting--
      // The model had it still waiting, yet Python answered: it ran after all (out of order);
      // the best the host knows is that it ran since it was handed over.
      if (answered(error)) this.record(run.queuedAt, run.handedAt, now)
    } else {
      if (answered(error)) this.record(run.queuedAt, run.startedAt, now)
      this.leaveSlot(run, lane, now)
    }
    this.release(lane)
  }

  /**
   * The call left the worker without running there (Python confirmed it never started); it
   * will be handed over again, so nothing is recorded.
   *
   * @example
   * timings.withdrawn(run, performance.now())
   */
  withdrawn(run: Run, now: number): void {
    if (run.state === DONE) return
    if (run.state === PIPED) {
      run.state = DONE
      run.lane.waiting--
      this.release(run.lane)
      return
    }
    // The model thought it running: free its slot without recording a run.
    const lane = run.lane
    run.state = DONE
    this.leaveSlot(run, lane, now)
    this.release(lane)
  }
  /** A running call leaves its slot (a nested call never took one): the next piped call starts. */
  private leaveSlot(run: Run, lane: Lane, now: number): void {
    if (run.nested) return
    this.advance(now)
    lane.running--
    this.running--
    this.promote(lane, now)
  }


  /**
   * The statistics now: wait and run summaries, and utilization over the window.
   *
   * @example
   * const { runTime, utilization } = timings.snapshot(performance.now())
   */
  snapshot(now: number): PoolStats {
    this.advance(now)
    const since = this.checkpoints.find((c) => now - c.at <= UTILIZATION_WINDOW_MS) ?? this.checkpoints.at(-1)!
    const elapsed = now - since.at
    const ratio = elapsed > 0 ? (this.busy - since.busy) / (this.capacity * elapsed) : 0
    return { waitTime: this.waitTime.summary(), runTime: this.runTime.summary(), utilization: Math.min(1, Math.max(0, ratio)) }
  }

  private record(queuedAt: number, startedAt: number, endedAt: number): void {
    this.waitTime.record(startedAt - queuedAt)
    this.runTime.record(endedAt - startedAt)
  }

  private begin(run: Run, now: number): void {
    this.advance(now)
    run.state = RUNNING
    run.startedAt = now
    run.lane.running++
    this.running++
  }

  /** Starts queued calls of `lane` while it has free slots. */
  private promote(lane: Lane, now: number): void {
    while (lane.running < lane.slots && lane.head < lane.pipe.length) {
      const next = lane.pipe[lane.head]!
      lane.pipe[lane.head++] = undefined as never
      if (next.state !== PIPED) continue
      lane.waiting--
      this.begin(next, now)
    }
    // Compact now and then, so a worker that always has a backlog does not grow its array.
    if (lane.head > 64 && lane.head * 2 > lane.pipe.length) {
      lane.pipe.splice(0, lane.head)
      lane.head = 0
    }
  }

  /**
   * Forgets a worker with nothing running or waiting once more than {@link KEPT_IDLE_LANES} are
   * known, so ids of replaced workers do not pile up, while a steady pool reuses its lanes
   * instead of allocating one per call.
   */
  private release(lane: Lane): void {
    // Nothing waits: whatever is left in the pipe has ended.
    if (lane.waiting === 0 && lane.pipe.length > 0) {
      lane.pipe.length = 0
      lane.head = 0
    }
    if (lane.running === 0 && lane.waiting === 0 && this.lanes.size > KEPT_IDLE_LANES && this.lanes.get(lane.id) === lane) this.lanes.delete(lane.id)
  }

  /** Integrates busy slots up to `now`, taking a checkpoint at every CHECKPOINT_MS boundary passed. */
  private advance(now: number): void {
    if (now <= this.at) return
    const last = this.checkpoints.at(-1)!
    // Between two updates the number of running calls is constant, so the integral at any
    // boundary in between is exact: checkpoints cost nothing while the pool is idle.
    let next = last.at + CHECKPOINT_MS
    const oldest = now - UTILIZATION_WINDOW_MS - CHECKPOINT_MS
    if (next < oldest) next += Math.ceil((oldest - next) / CHECKPOINT_MS) * CHECKPOINT_MS
    for (; next <= now; next += CHECKPOINT_MS) this.checkpoints.push({ at: next, busy: this.busy + this.running * (next - this.at) })
    while (this.checkpoints.length > 1 && now - this.checkpoints[1]!.at >= UTILIZATION_WINDOW_MS) this.checkpoints.shift()
    this.busy += this.running * (now - this.at)
    this.at = now
  }
}
