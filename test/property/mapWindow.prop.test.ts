/**
 * The batch path's promises, over every interleaving fast-check's scheduler finds: each input's
 * outcome comes out once, in input order (whatever order chunks finish in, whether a chunk fails
 * whole), no chunk exceeds `chunkSize`, the map never reads more than `window` inputs ahead
 * of its consumer, never has more chunks submitted than the pool has room for (one at least), and
 * a stop of the pool ends it after the items it read, even while an input it waits for never
 * comes. Runs the real loop (`mapCalls.ts`) on the pure rules (`mapWindow.ts`) with
 * chunks answered by the scheduler instead of Python.
 */
import { getEventListeners } from "node:events"
import { expect } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { BridgeStopped } from "../../src/errors.js"
import { mapCalls, type RunChunk } from "../../src/bridge/mapCalls.js"
import { emptyWindow, isOver, itemRead, mayRead, OrderedOutcomes, shouldSend, chunkSent } from "../../src/bridge/mapWindow.js"
import type { ItemOutcome } from "../../src/worker/connection.js"

/** Item `i` fails alone when `i % 7 === 3`; a chunk whose first item is a multiple of 5 fails whole. */
const answer = (items: readonly (readonly unknown[])[]): ItemOutcome[] | "lost" =>
  (items[0]![0] as number) % 5 === 0 ? "lost" : items.map(([i]) => ((i as number) % 7 === 3 ? { ok: false, error: `item ${i}` } : { ok: true, value: i }))

const expected = (i: number, lostChunks: Set<number>): ItemOutcome =>
  lostChunks.has(i) ? { ok: false, error: "lost" } : i % 7 === 3 ? { ok: false, error: `item ${i}` } : { ok: true, value: i }

/**
 * Inputs `[0]`, `[1]`, … up to `n` (`Infinity`: endless), as a sync generator or one that waits
 * for the scheduler before each item; counts what was pulled and says whether they were closed.
 */
const countedInputs = (s: fc.Scheduler, n: number) => {
  let pulled = 0
  let closed = false
  return {
    pulled: () => pulled,
    closed: () => closed,
    *sync() {
      try {
        for (let i = 0; i < n; i++) {
          pulled++
          yield [i]
        }
      } finally {
        closed = true
      }
    },
    async *slow() {
      try {
        for (let i = 0; i < n; i++) {
          await s.schedule(Promise.resolve())
          pulled++
          yield [i]
        }
      } finally {
        closed = true
      }
    },
  }
}

test.prop([
  fc.scheduler(),
  fc.integer({ min: 0, max: 60 }),
  fc.integer({ min: 1, max: 10 }),
  fc.integer({ min: 1, max: 25 }),
  fc.boolean(),
  fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
  fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
])(
  "every item comes out once, in order, with reads bounded by the window and chunks in flight by the pool's room",
  async (s, n, chunkSize, window, asyncInputs, stopAfter, capacity) => {
    const inputs = countedInputs(s, n)
    const lost = new Set<number>()
    // A pool that can start `capacity` chunks at once (undefined: a backend with no limit).
    let inFlight = 0
    const room = capacity === undefined ? undefined : () => capacity - inFlight
    const runChunk: RunChunk = (items) => {
      expect(items.length).toBeGreaterThan(0)
      expect(items.length).toBeLessThanOrEqual(Math.min(chunkSize, window))
      inFlight++
      if (capacity !== undefined) expect(inFlight).toBeLessThanOrEqual(Math.max(1, capacity))
      const a = answer(items)
      if (a === "lost") for (const [i] of items) lost.add(i as number)
      return s.schedule(Promise.resolve()).then(() => {
        inFlight--
        return a === "lost" ? Promise.reject("lost") : a
      })
    }
    const out: ItemOutcome[] = []
    // The pool's end, which never comes here: a map listens to it while it waits, and no longer.
    const ended = new AbortController().signal
    const consumer = (async () => {
      for await (const r of mapCalls(asyncInputs ? inputs.slow() : inputs.sync(), runChunk, { plan: { chunkSize, window }, room, ended })) {
        out.push(r)
        expect(inputs.pulled()).toBeLessThanOrEqual(out.length + window)
        if (stopAfter !== undefined && out.length === stopAfter) break
      }
    })()
    await s.waitFor(consumer)
    const count = stopAfter !== undefined && stopAfter > 0 && stopAfter < n ? stopAfter : n
    expect(out).toEqual(Array.from({ length: count }, (_, i) => expected(i, lost)))
    expect(getEventListeners(ended, "abort")).toHaveLength(0)
    if (count < n) {
      // Ending early closes the inputs (an async generator once its pending `next` settles).
      await s.waitAll()
      await new Promise((r) => setTimeout(r, 0))
      expect(inputs.closed()).toBe(true)
    }
  },
)

test.prop([fc.scheduler(), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 25 }), fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 4 })])(
  "once a chunk fails with BridgeStopped the map reads no more, closes its endless inputs, and throws it after every item it read",
  async (s, chunkSize, window, asyncInputs, stopAt, capacity) => {
    const inputs = countedInputs(s, Number.POSITIVE_INFINITY)
    // The pool stops once a chunk from item `stopAt` on is submitted: it and every later one fail whole.
    let stopped = false
    let inFlight = 0
    const runChunk: RunChunk = (items) => {
      inFlight++
      if ((items[0]![0] as number) >= stopAt) stopped = true
      const fails = stopped
      return s.schedule(Promise.resolve()).then(() => {
        inFlight--
        return fails ? Promise.reject(new BridgeStopped({ message: "stopped" })) : items.map(([i]) => ({ ok: true, value: i }))
      })
    }
    const out: ItemOutcome[] = []
    const consumer = (async () => {
      for await (const r of mapCalls(asyncInputs ? inputs.slow() : inputs.sync(), runChunk, { plan: { chunkSize, window }, room: () => capacity - inFlight })) out.push(r)
    })()
    await expect(s.waitFor(consumer)).rejects.toBeInstanceOf(BridgeStopped)
    // Every item read came out once, in order: a value, or the stop for those that could not run.
    // An async read under way when the pool stopped is not waited for: the item it brings after
    // the map ended (as after a `break`) is not part of the map.
    const late = asyncInputs ? 1 : 0
    expect(inputs.pulled() - out.length).toBeGreaterThanOrEqual(0)
    expect(inputs.pulled() - out.length).toBeLessThanOrEqual(late)
    expect(out.length).toBeGreaterThan(stopAt)
    out.forEach((r, i) => {
      if (r.ok) expect(r.value).toBe(i)
      else expect(r.error).toBeInstanceOf(BridgeStopped)
    })
    const firstFailed = out.findIndex((r) => !r.ok)
    expect(firstFailed).toBeGreaterThanOrEqual(stopAt)
    expect(out.slice(firstFailed).every((r) => !r.ok)).toBe(true)
    await s.waitAll()
    await new Promise((r) => setTimeout(r, 0))
    expect(inputs.closed()).toBe(true)
    expect(inputs.pulled() - out.length).toBeLessThanOrEqual(late)
  },
)

test.prop([fc.scheduler(), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 25 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 4 })])(
  "once the pool's ended signal fires the map throws its reason after every item it read, even while its input never answers, and closes the input",
  async (s, chunkSize, window, stallAt, capacity) => {
    // A cursor-like iterator: item `stallAt` never comes; each earlier one when the scheduler says.
    let delivered = 0
    let closed = false
    const never = new Promise<never>(() => {})
    let asked = 0
    const inputs: AsyncIterableIterator<unknown[]> = {
      [Symbol.asyncIterator]: () => inputs,
      next: () => {
        const i = asked++
        if (i >= stallAt) return never
        return s.schedule(Promise.resolve()).then(() => {
          delivered++
          return { done: false, value: [i] }
        })
      },
      return: async () => {
        closed = true
        return { done: true, value: undefined }
      },
    }
    // The pool stops whenever the scheduler says: chunks submitted before still answer (a
    // graceful stop), later ones are refused with the stop.
    const ending = new AbortController()
    void s.schedule(Promise.resolve()).then(() => ending.abort(new BridgeStopped({ message: "stopped" })))
    let inFlight = 0
    const runChunk: RunChunk = (items) => {
      inFlight++
      const refused = ending.signal.aborted
      return s.schedule(Promise.resolve()).then(() => {
        inFlight--
        return refused ? Promise.reject(ending.signal.reason) : items.map(([i]) => ({ ok: true, value: i }))
      })
    }
    const out: ItemOutcome[] = []
    const consumer = (async () => {
      for await (const r of mapCalls(inputs, runChunk, { plan: { chunkSize, window }, room: () => capacity - inFlight, ended: ending.signal })) out.push(r)
    })()
    await expect(s.waitFor(consumer)).rejects.toBeInstanceOf(BridgeStopped)
    // Every item read came out once, in order: its value, or the stop for those that could not
    // run; an item delivered after the map had ended is not part of it.
    expect(out.length).toBeLessThanOrEqual(delivered)
    expect(out.length).toBeGreaterThanOrEqual(delivered - 1)
    out.forEach((r, i) => {
      if (r.ok) expect(r.value).toBe(i)
      else expect(r.error).toBeInstanceOf(BridgeStopped)
    })
    const firstFailed = out.findIndex((r) => !r.ok)
    if (firstFailed >= 0) expect(out.slice(firstFailed).every((r) => !r.ok)).toBe(true)
    expect(closed).toBe(true)
  },
)

test.prop([fc.scheduler(), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 25 }), fc.boolean()])(
  "a map read once and dropped (never closed) leaves no listener on the pool's end or the caller's signal once its chunks are answered",
  async (s, n, chunkSize, window, asyncInputs) => {
    const inputs = countedInputs(s, n)
    const runChunk: RunChunk = (items) => s.schedule(Promise.resolve()).then(() => items.map(([i]) => ({ ok: true, value: i })))
    const ended = new AbortController().signal
    const signal = new AbortController().signal
    const results = mapCalls(asyncInputs ? inputs.slow() : inputs.sync(), runChunk, { plan: { chunkSize, window }, ended, signal })
    const first = results.next()
    await s.waitFor(first)
    expect(await first).toEqual({ done: false, value: { ok: true, value: 0 } })
    // Dropped: the map reads up to its window, its chunks are answered, and nothing waits (a
    // chunk may be scheduled only once the answer before it has run its callbacks).
    do {
      await s.waitAll()
      await new Promise((r) => setTimeout(r, 0))
    } while (s.count() > 0)
    expect(getEventListeners(ended, "abort")).toHaveLength(0)
    expect(getEventListeners(signal, "abort")).toHaveLength(0)
  },
)

test.prop([fc.nat({ max: 20 }), fc.nat({ max: 20 }), fc.boolean(), fc.boolean(), fc.boolean()])(
  "a map is over only once every item read came out and it reads no more: its inputs ended with no read under way, or the pool ended",
  (read, yielded, inputsEnded, poolEnded, reading) => {
    const w = { ...emptyWindow, read: Math.max(read, yielded), yielded }
    const over = isOver(w, { inputsEnded, poolEnded, reading })
    if (w.yielded < w.read) expect(over).toBe(false)
    else expect(over).toBe(poolEnded || (inputsEnded && !reading))
  },
)

test.prop([fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 20 }), fc.infiniteStream(fc.nat())])(
  "OrderedOutcomes hands out every settled index once, in order, whatever order chunks settle in",
  (sizes, picks) => {
    const chunks: Array<{ start: number; items: number[] }> = []
    let start = 0
    for (const size of sizes) {
      chunks.push({ start, items: Array.from({ length: size }, (_, k) => start + k) })
      start += size
    }
    const o = new OrderedOutcomes<number>()
    const out: number[] = []
    const it = picks[Symbol.iterator]()
    while (chunks.length > 0) {
      const [c] = chunks.splice(it.next().value % chunks.length, 1)
      o.settle(c!.start, c!.items)
      o.settle(c!.start, c!.items.map((x) => -x)) // a second settlement changes nothing
      for (let r = o.take(); r !== undefined; r = o.take()) out.push(r.value)
    }
    expect(out).toEqual(Array.from({ length: start }, (_, i) => i))
  },
)

test.prop([fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 8 })])(
  "a full window with nothing in flight always sends, so the consumer never waits for nothing",
  (chunkSize, window, inFlight) => {
    let w = emptyWindow
    while (mayRead(w, { chunkSize, window })) {
      w = itemRead(w)
      if (shouldSend(w, { chunkSize, window }, { ended: false, waitingOnInput: false })) w = chunkSent(w)
    }
    expect(w.read).toBe(window)
    const stuck = { ...w, unsent: Math.max(1, w.unsent), chunksWaiting: 0, chunksInFlight: inFlight }
    expect(shouldSend(stuck, { chunkSize, window }, { ended: false, waitingOnInput: false })).toBe(inFlight === 0 || stuck.unsent >= Math.min(chunkSize, window))
  },
)

test("thousands of chunks waiting for room (chunkSize 1, a big window, one slot) start in order, and a stop among them fails the rest in order", async () => {
  // Past the 1 024 taken chunks after which the waiting list is compacted, twice over.
  const n = 5_000
  const stopAt = 3_500
  let inFlight = 0
  const runChunk: RunChunk = async (items) => {
    inFlight++
    await new Promise((r) => setImmediate(r))
    inFlight--
    const i = items[0]![0] as number
    if (i >= stopAt) throw new BridgeStopped({ message: "stopped" })
    return [{ ok: true, value: i }]
  }
  const inputs = Array.from({ length: n }, (_, i) => [i])
  const out: ItemOutcome[] = []
  const consumer = (async () => {
    for await (const r of mapCalls(inputs, runChunk, { plan: { chunkSize: 1, window: n }, room: () => 1 - inFlight })) out.push(r)
  })()
  await expect(consumer).rejects.toBeInstanceOf(BridgeStopped)
  expect(out).toHaveLength(n)
  out.forEach((r, i) => {
    if (i < stopAt) expect(r).toEqual({ ok: true, value: i })
    else expect(r.ok ? r : r.error).toBeInstanceOf(BridgeStopped)
  })
})
