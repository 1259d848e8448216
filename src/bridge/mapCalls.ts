/**
 * The batch path's loop: pulls argument lists from `inputs`, sends them in chunks (many items
 * per frame, as many chunks in flight as the pool can start), and yields one {@link MapResult}
 * per item in input order. The rules (read-ahead bound, when a chunk forms, when it may start,
 * the reorder buffer) are `mapWindow.ts`'s; this file only runs them against real inputs and a
 * `runChunk` that reaches a pool.
 *
 * Every item read is settled exactly once: by its value, by its own error, or by its chunk's
 * error (a chunk that fails as a whole, e.g. `WorkerCrashed`, fails each of its items with that
 * error). Ending early (`break`, `return()`, the `signal`) stops reading, cancels the chunks in
 * flight (their items are never yielded) and closes the input iterator. The end of the pool's
 * service for good (`BridgeStopped`, or `MaxRestartIntensity` once the supervisor gave up),
 * learnt from the pool's `ended` signal or from a chunk that failed with it (`endsMap`), stops
 * reading and closes the inputs too; the items already read still come out (those that could not
 * run with that error), then the map throws it without waiting for an input still being read
 * (an item that read brings after the map ended is not part of it, as after `break`).
 *
 * @example
 * for await (const r of mapCalls([[1], [2]], (items, signal) => pool.map(null, "m", "f", items, { signal }), { plan, signal, room: () => pool.mapRoom(null) }))
 *   if (r.ok) use(r.value)
 */
import { setMaxListeners } from "node:events"
import { CallCancelled, InvalidOptions } from "../errors.js"
import type { ItemOutcome } from "../worker/connection.js"
import type { MapResult } from "./mapOptions.js"
import { endsMap } from "./mapEnding.js"
import { closeIterator, openInputs, type MapInputs } from "./mapInputs.js"
import {
  chunkAnswered,
  chunkSent,
  chunkStarted,
  emptyWindow,
  isOver,
  itemRead,
  itemRefused,
  mayRead,
  mayStart,
  OrderedOutcomes,
  resultYielded,
  shouldSend,
  unsentFailed,
  type MapPlan,
  type MapWindowState,
} from "./mapWindow.js"

/** Runs one chunk; resolves to one outcome per item, or rejects when the chunk fails whole. */
export type RunChunk = (items: readonly (readonly unknown[])[], signal: AbortSignal) => Promise<readonly ItemOutcome[]>

/** How {@link mapCalls} runs. */
export interface MapRun {
  readonly plan: MapPlan
  /** Ends the map with `CallCancelled` (its `reason` is the signal's). */
  readonly signal?: AbortSignal | undefined
  /**
   * The pool's `ended` (`backend.ts`): aborted once it takes no more calls, ever, with the error
   * that ended it as its `reason`. Ends the map as a chunk failing with that error would, also
   * while the map waits on its inputs and sends no chunk.
   */
  readonly ended?: AbortSignal | undefined
  /**
   * How many more chunks the pool could start now without making them wait behind other calls
   * (`mayStart`). Asked only while the map already has a chunk running. Without it every chunk
   * formed is sent at once (a backend with no queue of its own to flood).
   */
  readonly room?: (() => number) | undefined
}

const aborted = (signal: AbortSignal): CallCancelled => new CallCancelled({ message: "the map was aborted", reason: signal.reason })

const unlimited = (): number => Number.POSITIVE_INFINITY

/** A chunk formed from the items `start`, `start + 1`, …, waiting for room to start. */
interface Chunk {
  readonly start: number
  readonly items: readonly (readonly unknown[])[]
}

/**
 * Yields each input's outcome in input order (see the module comment).
 *
 * @example
 * const results: MapResult<unknown>[] = []
 * for await (const r of mapCalls(inputs, runChunk, { plan: { chunkSize: 64, window: 1024 } })) results.push(r)
 */
export async function* mapCalls<T>(inputs: MapInputs, runChunk: RunChunk, run: MapRun): AsyncGenerator<MapResult<T>, void, undefined> {
  const { plan, signal, ended: poolEnded } = run
  const room = run.room ?? unlimited
  const { iterator, asyncInputs } = openInputs(inputs)
  // Cancels the chunks in flight when the map ends for any reason, the caller's signal included.
  const stop = new AbortController()
  // Every chunk in flight listens on it (queue and connection): as many as the pool can start.
  setMaxListeners(0, stop.signal)
  let w: MapWindowState = emptyWindow
  const ready = new OrderedOutcomes<ItemOutcome>()
  let chunk: (readonly unknown[])[] = []
  let chunkStart = 0
  /**
   * Chunks formed and waiting for room, oldest first, from `waitingHead` on. Taken by index, not
   * `shift()`, which copies the array in V8: with `chunkSize: 1` and a big `window` the waiting
   * chunks run into the thousands, and 200 000 items took 23 s, all of it in `shift`.
   */
  let waiting: Array<Chunk | undefined> = []
  let waitingHead = 0
  let ended = false
  let finished = false
  let reading = false
  let closed = false
  let inputFailure: { error: unknown } | undefined
  /** The pool takes no more calls (`endsMap`): nothing more is read or sent. */
  let halted: { error: unknown } | undefined
  let wake: (() => void) | undefined
  const poke = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const onAbort = () => {
    detach()
    stop.abort(signal?.reason)
    poke()
  }
  const onPoolEnded = () => {
    detach()
    halt(poolEnded!.reason)
  }
  // The caller's signal and the pool's end are listened to only while something can wait on
  // them: a chunk in flight, an input being read, the consumer waiting. A map whose consumer
  // took a result and dropped the iterator never runs its `finally`; listening for its whole
  // life left a listener (and the map's buffered results) on a long-lived signal, such as a
  // server's or the bridge's own, for good. A map that starts listening again checks them first.
  let listening = false
  const listen = () => {
    if (listening || finished) return
    if (signal?.aborted) return onAbort()
    if (poolEnded?.aborted) return onPoolEnded()
    if (signal === undefined && poolEnded === undefined) return
    signal?.addEventListener("abort", onAbort, { once: true })
    poolEnded?.addEventListener("abort", onPoolEnded, { once: true })
    listening = true
  }
  const detach = () => {
    if (!listening) return
    signal?.removeEventListener("abort", onAbort)
    poolEnded?.removeEventListener("abort", onPoolEnded)
    listening = false
  }
  const unlisten = () => {
    if (w.chunksInFlight > 0 || reading || wake !== undefined) return
    detach()
  }
  /** Closes the inputs unless they ended or failed (then there is nothing to close). */
  const closeInputs = () => {
    if (ended || closed) return
    closed = true
    closeIterator(iterator)
  }

  /** The items read so far leave the chunk being filled, and start when the pool has room. */
  const send = () => {
    if (chunk.length === 0) return
    waiting.push({ start: chunkStart, items: chunk })
    chunk = []
    chunkStart = w.read
    w = chunkSent(w)
    start()
  }

  /** Submits waiting chunks, oldest first, while the pool can start them. */
  const start = () => {
    while (!finished && !halted && mayStart(w, room)) {
      // Before the chunk leaves: a pool that ended meanwhile fails what waits (`halt`) instead.
      listen()
      if (halted) break
      const { start: first, items } = waiting[waitingHead]!
      waiting[waitingHead++] = undefined
      // Let go of the taken slots once they are most of the array (each taken once: linear).
      if (waitingHead === waiting.length || (waitingHead >= 1024 && waitingHead * 2 >= waiting.length)) {
        waiting = waiting.slice(waitingHead)
        waitingHead = 0
      }
      w = chunkStarted(w)
      let settled: Promise<readonly ItemOutcome[]>
      try {
        settled = runChunk(items, stop.signal)
      } catch (error) {
        settled = Promise.reject(error)
      }
      settled
        .then(
          (outcomes) => {
            if (outcomes.length !== items.length) return ready.settle(first, items.map(() => ({ ok: false, error: new Error("a chunk's answer does not match its items") })))
            ready.settle(first, outcomes)
            // A backend that sends each item as its own call reports a stop per item.
            for (const o of outcomes) if (!o.ok && endsMap(o.error)) return halt(o.error)
          },
          (error: unknown) => {
            ready.settle(first, items.map(() => ({ ok: false, error })))
            if (endsMap(error)) halt(error)
          },
        )
        .finally(() => {
          w = chunkAnswered(w)
          poke()
          start()
          // A partial chunk may wait for nothing else now: the window is full, or the reader
          // is waiting on a slow input (sending meanwhile is safe: it resumes on a new chunk).
          if (shouldSend(w, plan, { ended, waitingOnInput: reading && asyncInputs })) send()
          fill()
          unlisten()
        })
    }
  }

  /**
   * The pool takes no more calls: the items read and not sent (never run) come out with its
   * error, nothing more is read, the inputs are closed, and the map ends with that error once
   * what is in flight settled. An input being read is not waited for: it may never come (a queue
   * nobody fills any more). If it comes before the map ended, it fails with the error too.
   */
  const halt = (error: unknown) => {
    if (halted || finished) return
    halted = { error }
    const failed = { ok: false as const, error }
    for (let i = waitingHead; i < waiting.length; i++) ready.settle(waiting[i]!.start, waiting[i]!.items.map(() => failed))
    ready.settle(chunkStart, chunk.map(() => failed))
    waiting = []
    waitingHead = 0
    chunk = []
    w = unsentFailed(w)
    chunkStart = w.read
    // An async read under way is not awaited (`closeIterator`): an async generator suspended in
    // an `await` runs its `finally` once that `await` settles, if ever; a hand-written iterator
    // (a cursor, a stream's) may end the pending read at once. A sync read under way is this very
    // call stack (its generator may have called `stop()`): the reader closes them when it returns.
    if (!reading || asyncInputs) closeInputs()
    poke()
  }

  /** Reads inputs while the window allows; one reader at a time. */
  const fill = () => {
    if (reading || ended || finished || inputFailure || halted) return
    reading = true
    listen()
    void (async () => {
      try {
        while (!ended && !finished && !halted && mayRead(w, plan)) {
          let next = iterator.next()
          if (asyncInputs) {
            // Python must not idle while a slow input fills a chunk: send what is read.
            if (shouldSend(w, plan, { ended: false, waitingOnInput: true })) send()
            next = await next
          }
          const r = next as IteratorResult<readonly unknown[]>
          if (finished) return
          if (r.done) {
            ended = true
            break
          }
          // Set by a chunk's answer during the `await` (TS keeps the loop condition's narrowing).
          const stoppedBy = halted as { error: unknown } | undefined
          if (stoppedBy) {
            // Read while the pool stopped: it can never run, and comes out with the stop.
            const index = w.read
            w = itemRefused(w)
            chunkStart = w.read
            ready.settle(index, [{ ok: false, error: stoppedBy.error }])
            break
          }
          if (!Array.isArray(r.value)) {
            // Not an argument list: that item alone fails, as `executePython` would refuse it.
            send()
            const index = w.read
            w = itemRefused(w)
            chunkStart = w.read
            ready.settle(index, [{ ok: false, error: new InvalidOptions({ message: `map input ${index} must be an array of arguments`, issues: [`inputs[${index}] must be an array`] }) }])
            poke()
            continue
          }
          chunk.push(r.value)
          w = itemRead(w)
          if (shouldSend(w, plan, { ended: false, waitingOnInput: false })) send()
        }
        if (shouldSend(w, plan, { ended, waitingOnInput: false })) send()
      } catch (error) {
        // The inputs themselves failed: what was read still runs; the map then ends with it.
        inputFailure = { error }
        ended = true
        send()
      } finally {
        reading = false
        if (halted) closeInputs()
        poke()
        unlisten()
      }
    })()
  }

  try {
    // Inside the `try`: a map refused at once still closes its inputs, as `break` would.
    if (signal?.aborted) throw aborted(signal)
    fill()
    while (true) {
      if (signal?.aborted) throw aborted(signal)
      const next = ready.take()
      if (next !== undefined) {
        w = resultYielded(w)
        fill()
        yield next.value as MapResult<T>
        continue
      }
      if (isOver(w, { inputsEnded: ended, poolEnded: halted !== undefined, reading })) {
        if (halted) throw halted.error
        if (inputFailure) throw inputFailure.error
        return
      }
      const woken = new Promise<void>((resolve) => (wake = resolve))
      listen()
      await woken
      unlisten()
    }
  } finally {
    finished = true
    detach()
    stop.abort(signal?.aborted ? signal.reason : new CallCancelled({ message: "the map's consumer stopped" }))
    closeInputs()
  }
}
