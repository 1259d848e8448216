/**
 * Environment restarts, one generation at a time. A generation replaces every worker and ends
 * once its replacements are ready; a restart asked for while one runs joins the next generation,
 * which begins when the running one has settled, and every caller who asked meanwhile shares it.
 *
 * Why not join the running generation: its workers may already have imported the code the caller
 * just changed (preloads, a fork server's template), and the promise is that once it resolves,
 * every worker serving was started after the call. Why not start a generation per caller at once
 * (each retiring the last one's workers while they start): N callers in the same tick then started
 * N generations, killed all but the last one's workers mid-start, and ran into the cap of twice
 * `maxWorkers` processes, past which the last generation's workers never started and its callers
 * (every caller) waited for good. Here a burst of callers costs at most two generations, and no
 * more than one pool of replacements starts at once.
 *
 * No timers and no I/O: `run` is the generation itself (the pool's), which checks on its own
 * whether the pool still takes restarts when it begins (stopped, or given up).
 *
 * @example
 * const generations = new RestartGenerations(() => pool.replaceEveryWorker())
 * const a = generations.request() // runs now
 * const b = generations.request() // the next generation, after a settles
 * const c = generations.request() // the same promise as b
 */
export class RestartGenerations<T> {
  /** The generation under way. */
  private running: Promise<T> | undefined
  /** The generation that begins once the running one settles, shared by all who asked meanwhile. */
  private queued: Promise<T> | undefined

  constructor(private readonly run: () => Promise<T>) {}

  /** A restart: resolves once a generation that began after this request has ended. */
  request(): Promise<T> {
    if (this.queued) return this.queued
    if (this.running === undefined) return this.begin()
    const queued = this.running.then(
      () => this.next(),
      // The running generation's callers get its failure; this one is a fresh attempt, and the
      // generation itself says (BridgeStopped, MaxRestartIntensity) if the pool takes none.
      () => this.next(),
    )
    this.queued = queued
    return queued
  }

  private next(): Promise<T> {
    this.queued = undefined
    return this.begin()
  }

  private begin(): Promise<T> {
    let generation: Promise<T>
    try {
      generation = this.run()
    } catch (error) {
      generation = Promise.reject(error)
    }
    this.running = generation
    const ended = () => {
      if (this.running === generation) this.running = undefined
    }
    // Registered before any request can chain a queued generation on it, so that one finds
    // `running` cleared when it begins. The caller handles the rejection; this branch only
    // observes it.
    generation.then(ended, ended)
    return generation
  }
}
