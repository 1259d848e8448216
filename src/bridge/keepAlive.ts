/**
 * Whether the bridge keeps Node running: only while it has work someone waits for.
 *
 * A bridge's workers, pipes and housekeeping timers are unref'd, so an idle bridge does not keep
 * a script alive that forgot `stop()` (piscina lets its idle threads go the same way; Python's
 * workers then see their pipes close and exit, and the host's exit hook kills their process
 * groups). Calls in flight or queued, a start and a stop each hold one reference: a single
 * ref'd timer that never fires, ref'd and unref'd as the count crosses zero, which costs two
 * counter updates per call.
 *
 * @example
 * const alive = new KeepAlive()
 * alive.hold()    // Node stays up
 * alive.release() // back to idle: Node may exit when nothing else holds it
 */
export class KeepAlive {
  private holds = 0
  private timer: ReturnType<typeof setInterval> | undefined

  /** Something someone waits for began. */
  hold(): void {
    if (this.holds++ > 0) return
    this.timer ??= setInterval(() => {}, 2 ** 31 - 1)
    this.timer.ref()
  }

  /** It ended (call once per `hold`). */
  release(): void {
    if (this.holds === 0 || --this.holds > 0) return
    this.timer?.unref()
  }

  /** Holds until `work` settles; returns it. */
  during<T>(work: Promise<T>): Promise<T> {
    this.hold()
    const release = () => this.release()
    work.then(release, release)
    return work
  }

  /** True while something holds Node up. */
  get held(): boolean {
    return this.holds > 0
  }

  /** Drops the timer (after the bridge stopped). */
  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.holds = 0
  }
}

/**
 * An XState clock whose timers do not keep Node alive: for the pool's actor tree, whose delays
 * (a worker's idle timeout, restart backoff, shutdown deadlines) run while work is pending or a
 * stop is under way, both of which hold Node up through {@link KeepAlive}.
 *
 * @example
 * createActor(machine, { clock: unrefClock })
 */
export const unrefClock = {
  setTimeout: (fn: (...args: unknown[]) => void, timeout: number): unknown => setTimeout(fn, timeout).unref(),
  clearTimeout: (id: unknown): void => clearTimeout(id as ReturnType<typeof setTimeout>),
}
