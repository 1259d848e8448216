/**
 * How many calls may wait inside a worker's pipe beyond its concurrency: the pipeline depth,
 * adapted to how long the worker takes per call unless `pipelineDepth` is set.
 *
 * A pipelined call waits in Python behind the ones sent before it, so a deep pipe is right for
 * microsecond calls (the worker never idles between replies, and replies leave in batches) and
 * wrong for slow ones: ten calls behind a 100 ms call wait a second, while another worker (or
 * the host's queue, from which any worker that frees up takes them) could have served them. So
 * the depth is the number of calls a worker serves in {@link PIPE_WAIT_BUDGET_MS}, between
 * {@link MIN_ADAPTIVE_DEPTH} and {@link MAX_ADAPTIVE_DEPTH}; before anything was measured it is
 * {@link UNMEASURED_DEPTH} (the old fixed default).
 *
 * The service time is an exponentially weighted mean of the time between a worker's replies
 * while it is busy ({@link nextServiceMs}); a call that is running now and has already taken
 * longer than that mean counts with its age ({@link serviceEstimateMs}), so a slow call gets
 * only a shallow pipe behind it as soon as it turns out slow, before it ends. A call running far
 * longer than the mean has *stalled* ({@link isStalled}): nothing more waits behind it (depth 0),
 * the calls already waiting there without a session are taken back to run elsewhere, and routing
 * weighs each pipe by the wait it promises ({@link expectedPipeWaitMs}), not by its length alone,
 * so one caller's endless call does not hold other callers' calls. All pure; the pool keeps the
 * two numbers per worker (`src/bridge/pool.ts`).
 *
 * @example
 * pipelineDepthFor(0.02, undefined) // 64: echo-sized calls pipeline deep
 * pipelineDepthFor(50, undefined)   // 2: a 50 ms call gets two calls queued behind it
 * pipelineDepthFor(50, 8)           // 8: an explicit pipelineDepth wins
 */

/** The deepest adaptive pipe. */
export const MAX_ADAPTIVE_DEPTH = 64
/**
 * The shallowest adaptive pipe. Two, not one: a worker that serves several sessions (whose calls
 * must go to it) would otherwise idle for a host round trip between their calls; in the
 * integration test that kills workers under 8 sessions of 5 ms calls, a depth of 1 doubled the run.
 */
export const MIN_ADAPTIVE_DEPTH = 2
/** The depth before a worker's service time is known. */
export const UNMEASURED_DEPTH = 4
/** How long the last call of a full adaptive pipe may expect to wait in it, in ms. */
export const PIPE_WAIT_BUDGET_MS = 2
/** Weight of the newest sample in the service time's moving mean. */
export const SERVICE_WEIGHT = 0.3
/** A call running this many times the worker's mean service time has stalled. */
export const STALL_FACTOR = 8
/**
 * A call younger than this (ms) has not stalled, whatever the mean: before anything was measured
 * there is no mean to compare with, and a loaded machine pauses a process for tens of ms.
 */
export const STALL_MIN_MS = 100

/**
 * The pipeline depth for a worker whose calls take `serviceMs` each (undefined: not measured
 * yet); `override` (the `pipelineDepth` option) wins when set. Non-increasing in `serviceMs`,
 * always within [{@link MIN_ADAPTIVE_DEPTH}, {@link MAX_ADAPTIVE_DEPTH}] without an override.
 *
 * @example
 * pipelineDepthFor(undefined, undefined) // 4
 * pipelineDepthFor(0.5, undefined)       // 4 (2 ms / 0.5 ms)
 */
export const pipelineDepthFor = (serviceMs: number | undefined, override: number | undefined): number => {
  if (override !== undefined) return override
  if (serviceMs === undefined || Number.isNaN(serviceMs)) return UNMEASURED_DEPTH
  if (serviceMs * MAX_ADAPTIVE_DEPTH <= PIPE_WAIT_BUDGET_MS) return MAX_ADAPTIVE_DEPTH
  return Math.max(MIN_ADAPTIVE_DEPTH, Math.min(MAX_ADAPTIVE_DEPTH, Math.floor(PIPE_WAIT_BUDGET_MS / serviceMs)))
}

/**
 * The moving mean after one more sample: `sampleMs` is the time from the worker's previous
 * reply (or from the call's hand-over, when it found the worker idle) to this reply.
 *
 * @example
 * nextServiceMs(undefined, 0.05) // 0.05
 * nextServiceMs(1, 0)            // 0.7
 */
export const nextServiceMs = (meanMs: number | undefined, sampleMs: number): number => {
  const sample = Math.max(0, sampleMs)
  return meanMs === undefined ? sample : meanMs + SERVICE_WEIGHT * (sample - meanMs)
}

/**
 * The service time to decide with now: the mean, or the age of the call running now
 * (`runningForMs`, time since the last reply; undefined when the worker has nothing in flight)
 * when that is longer. Before any reply, a call running longer than the budget already counts.
 *
 * @example
 * serviceEstimateMs(0.02, 120)       // 120: the running call turned out slow
 * serviceEstimateMs(0.02, undefined) // 0.02
 */
export const serviceEstimateMs = (meanMs: number | undefined, runningForMs: number | undefined): number | undefined => {
  if (runningForMs === undefined) return meanMs
  if (meanMs === undefined) return runningForMs > PIPE_WAIT_BUDGET_MS ? runningForMs : undefined
  return Math.max(meanMs, runningForMs)
}

/**
 * Whether the call running now (`runningForMs` since the worker's last reply; undefined when it
 * holds nothing) has stalled: it ran past {@link STALL_MIN_MS} and {@link STALL_FACTOR} times the
 * mean. A stalled worker's pipe takes nothing more; what waits in it may be taken back.
 *
 * @example
 * isStalled(0.05, 150)  // true: an echo-sized worker stuck for 150 ms
 * isStalled(50, 150)    // false: three 50 ms calls' worth
 * isStalled(undefined, 150) // true: unmeasured, and past the floor
 */
export const isStalled = (meanMs: number | undefined, runningForMs: number | undefined): boolean =>
  runningForMs !== undefined && runningForMs > Math.max(STALL_MIN_MS, STALL_FACTOR * (meanMs ?? 0))

/**
 * A call waiting in a pipe behind one that has run longer than this (ms) moves to a worker with a
 * free slot, if there is one. Well above an echo-sized call and its host round trip, so a pipe
 * of quick calls is left to drain; below any wait a caller would notice. Moving costs a `cancel`
 * and its answer through the pipe, and sending the call again.
 */
export const MOVE_AFTER_MS = 10

/**
 * Whether the calls waiting behind the running one (`runningForMs` since the worker's last reply;
 * undefined when it holds nothing) should move to a worker with a free slot. Unlike a stall
 * ({@link isStalled}) this needs no comparison with the mean: with a free slot elsewhere, every
 * call behind a running one waits for nothing, and after {@link MOVE_AFTER_MS} the wait is worth
 * a move however quick the worker usually is. A worker of 1 s calls only stalls after 8 s.
 *
 * @example
 * worthMoving(250)       // true: a call behind it waits out the rest of a slow call
 * worthMoving(0.05)      // false: an echo-sized call is about to reply
 * worthMoving(undefined) // false: nothing runs there
 */
export const worthMoving = (runningForMs: number | undefined): boolean => runningForMs !== undefined && runningForMs > MOVE_AFTER_MS

/**
 * How long (ms) a call may wait for a free execution slot (for a worker that is starting, or as
 * a stream) before later calls stop going into busy workers' pipes, so that one drains and a slot
 * frees for it. A worker started for a call gets that call, and the call never goes behind a
 * busy worker's running call (calls that wait for each other meet); but the pipes, refilled at
 * every reply, never drained, so a slow start (heavy imports, a loaded machine) held the call for
 * all of it (5.7 s) while later calls ran. A normal start is shorter than this.
 */
export const START_WAIT_MS = 100

/**
 * How long one more call sent into a busy worker's pipe may expect to wait (ms): the calls ahead
 * of it, plus the one running, each taking `estimateMs` ({@link serviceEstimateMs}; undefined:
 * unmeasured, at most the budget), spread over its `slots`. Routing sends a pipelined call to the
 * worker where this is least, so calls go behind quick ones, not behind one that turned out slow.
 *
 * @example
 * expectedPipeWaitMs(1, 1, 5_000) // 5000: behind a call that has run 5 s
 * expectedPipeWaitMs(3, 1, 0.05)  // 0.15: behind three echo-sized calls
 */
export const expectedPipeWaitMs = (inFlight: number, slots: number, estimateMs: number | undefined): number =>
  (Math.max(0, inFlight - slots + 1) * (estimateMs ?? PIPE_WAIT_BUDGET_MS)) / slots
