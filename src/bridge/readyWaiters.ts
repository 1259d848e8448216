/**
 * Promises that resolve once enough workers accept calls: `start()` waits for `minWorkers`,
 * `restartAll()` for as many new workers as there were old ones. The pool says how many are
 * ready (it owns the slots); this module only keeps the waiters and wakes them.
 *
 * A start failure or a stop rejects every waiter at once, so no `start()` or `restartAll()`
 * hangs on a worker that will never come.
 *
 * @example
 * const waiters = new ReadyWaiters((excluding) => countAccepting(excluding))
 * const ready = waiters.wait(2)   // resolves once two workers accept calls
 * waiters.resolve()               // a worker became ready: look again
 * waiters.reject(startupError)    // a start failed: nobody waits any longer
 */
export class ReadyWaiters {
  private readonly waiters = new Set<{ resolve: () => void; reject: (e: unknown) => void }>()

  /** `ready(excluding)` counts the workers that accept calls, leaving out the ids in `excluding`. */
  constructor(private readonly ready: (excluding: ReadonlySet<string> | undefined) => number) {}

  /** Resolves once `count` workers (not counting `excluding`) accept calls; at once for 0. */
  wait(count: number, excluding?: ReadonlySet<string>): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          if (this.ready(excluding) >= count) {
            this.waiters.delete(waiter)
            resolve()
          }
        },
        reject: (e: unknown) => {
          this.waiters.delete(waiter)
          reject(e)
        },
      }
      this.waiters.add(waiter)
      if (count === 0) waiter.resolve()
    })
  }

  /** A worker became ready: every waiter whose count is reached resolves. */
  resolve(): void {
    for (const w of [...this.waiters]) w.resolve()
  }

  /** Nothing more is coming (a start failed, the pool gave up or stops): every waiter rejects. */
  reject(error: unknown): void {
    for (const w of [...this.waiters]) w.reject(error)
  }
}
