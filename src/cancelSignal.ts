/**
 * A one-shot cancel signal for the calls an agent runs for its clients: the part of an
 * `AbortSignal` the local bridge reads (`aborted`, `reason`, `addEventListener` and
 * `removeEventListener` of `"abort"`), as a plain object. An agent makes one per call it
 * serves, and Node's `AbortController` (an `EventTarget`, its listeners kept in a map) cost
 * more to make and to listen on than the rest of a small call's bookkeeping; a signal is
 * checked with `isAbortSignal`, which takes any object of this shape, as it takes signals of
 * other realms.
 *
 * @example
 * const cancel = new CancelSignal()
 * const result = bridge.executePython(null, "m", "f", [], { signal: cancel.signal })
 * cancel.abort(new Error("cancelled by the client")) // the call fails with CallCancelled
 */
export class CancelSignal {
  aborted = false
  reason: unknown = undefined
  // A Set: adding and removing are O(1) whatever the number of calls listening (the bridge's
  // follower of a caller's signal has one listener per call in flight), and a listener added
  // twice runs once, as on an `EventTarget`.
  private listeners: Set<() => void> | undefined = undefined

  /** This object as the `AbortSignal` the bridge's call options take. */
  get signal(): AbortSignal {
    return this as unknown as AbortSignal
  }

  /** Adds a listener for `"abort"`; it runs once, on the first {@link CancelSignal.abort}. */
  addEventListener(_type: "abort", listener: () => void): void {
    if (this.aborted) return
    ;(this.listeners ??= new Set()).add(listener)
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    this.listeners?.delete(listener)
  }

  /** How many listeners wait for the abort (for tests and diagnostics). */
  get listenerCount(): number {
    return this.listeners?.size ?? 0
  }

  /** Marks it aborted with `reason` and runs its listeners once (all of them, even if one throws); later calls do nothing. */
  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const listeners = this.listeners
    this.listeners = undefined
    // Every listener runs, even after one throws; the first error is thrown after them.
    let failure: { error: unknown } | undefined
    for (const listener of listeners ?? []) {
      try {
        listener()
      } catch (error) {
        failure ??= { error }
      }
    }
    if (failure) throw failure.error
  }
}
