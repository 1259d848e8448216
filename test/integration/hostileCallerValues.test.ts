/**
 * What a caller (or a host tool) hands the bridge may run its own code when read: a getter, a
 * Proxy trap, a toJSON, a custom decoder, an AbortSignal's methods. Whatever that code throws,
 * even a value that cannot be printed, the call fails alone with the typed error the docs
 * promise (SerializationError for values, InvalidOptions for options), and the worker serves on,
 * unrecycled. Before, these escaped as raw TypeErrors, and a throwing custom decoder recycled the
 * worker as a ProtocolError. Real Python workers.
 */
import { describe, expect, it } from "vitest"
import { registerDecoder } from "../../src/protocol/customTypes.js"
import { record, startBridge } from "../support/bridge.js"

const unprintable = () => Object.create(null) as object

const failure = (p: Promise<unknown>) => p.then(
  (value) => { throw new Error(`expected a rejection, got ${JSON.stringify(value)}`) },
  (e: unknown) => e as { _tag?: string; message: string; path?: string },
)

const detached = (): ArrayBuffer => {
  const b = new ArrayBuffer(8)
  structuredClone(b, { transfer: [b] })
  return b
}

/** A view made over a buffer that is then detached (transferred away). */
const detachedView = <V,>(view: (b: ArrayBuffer) => V): V => {
  const b = new ArrayBuffer(8)
  const v = view(b)
  structuredClone(b, { transfer: [b] })
  return v
}

/** A view out of the bounds of a resizable buffer shrunk under it. */
const shrunkView = (): Uint8Array => {
  const b = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16, { maxByteLength: 32 })
  const v = new Uint8Array(b, 8, 8)
  b.resize(4)
  return v
}

describe("values that throw when the bridge reads them", () => {
  it("a getter, a Proxy trap or a detached buffer in the arguments is a SerializationError naming where; the worker serves on", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const restarted = record(bridge, "worker.restarted")
    const cases: Array<[unknown, RegExp | undefined]> = [
      [{ rows: { get bad() { throw new Error("boom") } } }, /boom/],
      [{ rows: { get bad() { throw unprintable() } } }, /an unprintable object/],
      [[new Proxy({}, { ownKeys() { throw unprintable() } })], /an unprintable object/],
      [[new Proxy({}, { getPrototypeOf() { throw unprintable() } })], /an unprintable object/],
      [{ buffer: detached() }, /detached/],
      // Views over a detached buffer: a Uint8Array and a Buffer threw a plain TypeError when
      // copied into the frame (found by a review); the other views were typed already.
      [{ view: detachedView((b) => new Uint8Array(b)) }, /detached/],
      [{ view: detachedView((b) => Buffer.from(b)) }, /detached/],
      [{ view: detachedView((b) => new Float64Array(b)) }, /detached/],
      // A view out of a shrunk resizable buffer: a plain TypeError before.
      [[shrunkView()], /detached|shrunk/],
    ]
    for (const [arg, says] of cases) {
      const e = await failure(bridge.executePython(null, "echo", "echo", [arg]))
      expect(e._tag).toBe("SerializationError")
      expect(e.path).toMatch(/^args\[0\]/)
      if (says) expect(e.message).toMatch(says)
    }
    // Detached after the codec took the view, by a getter later in the same value: refused as
    // the frame is made (where in the value is no longer known).
    const buffer = new ArrayBuffer(8)
    const late = await failure(bridge.executePython(null, "echo", "echo", [{ a: new Uint8Array(buffer), get b() { structuredClone(buffer, { transfer: [buffer] }); return 1 } }]))
    expect(late).toMatchObject({ _tag: "SerializationError", message: expect.stringMatching(/detached/) })
    expect(await bridge.executePython(null, "echo", "echo", ["alive"])).toBe("alive")
    expect(restarted).toHaveLength(0)
  })

  // Found by a review: Python hashes ints without a seed; 22 000 that hash alike (multiples of
  // 2^61 - 1) held the worker's reading thread 2.7 s building the set, before any check.
  it("a set whose ints all hash alike in Python fails its call as a hash flood at once; the worker serves on, unrecycled", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const restarted = record(bridge, "worker.restarted")
    const m61 = (1n << 61n) - 1n
    const flood = new Set(Array.from({ length: 22_000 }, (_, k) => BigInt(k + 1) * m61))
    const e = await failure(bridge.executePython(null, "echo", "echo", [flood]))
    expect(e).toMatchObject({ _tag: "SerializationError", message: expect.stringMatching(/hash flood/) })
    const spread = new Set(Array.from({ length: 22_000 }, (_, k) => BigInt(k + 1) * m61 + 1n + BigInt(k * 7_919)))
    expect(((await bridge.executePython(null, "echo", "echo", [spread])) as Set<bigint>).size).toBe(22_000)
    expect(restarted).toEqual([])
  })

  it("a toJSON or a getter that answers JSON.stringify with a codec tag cannot end the worker: a toJSON's value is sent as a value, a lying getter fails its call alone", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const restarted = record(bridge, "worker.restarted")
    const pid = bridge.getStatus().workers[0]?.pid
    // What toJSON returns is encoded like any value: a user object with the reserved key.
    const list = [1]
    Object.defineProperty(list, "toJSON", { value: () => ({ __sp: "bytes", i: 7 }) })
    expect(await bridge.executePython(null, "echo", "echo", [list])).toEqual({ __sp: "bytes", i: 7 })
    // A getter read twice (once by the codec, once by JSON.stringify) can still write a tag the
    // codec never saw: the worker refuses that call's arguments and reads on.
    let reads = 0
    const lying = { get v(): unknown { return reads++ === 0 ? 1 : { __sp: "bytes", i: 7 } } }
    const e = await failure(bridge.executePython(null, "echo", "echo", [lying]))
    expect(e).toMatchObject({ _tag: "SerializationError", path: "args[0].v" })
    expect(e.message).toMatch(/attachment index 7 out of range/)
    expect(await bridge.executePython(null, "echo", "echo", ["alive"])).toBe("alive")
    expect(bridge.getStatus().workers[0]?.pid).toBe(pid)
    expect(restarted).toHaveLength(0)
  })

  it("a custom decoder that throws an unprintable value fails that call with SerializationError, not a recycled worker", async () => {
    const unregister = registerDecoder("n", () => { throw unprintable() })
    try {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
      const restarted = record(bridge, "worker.restarted")
      const pid = bridge.getStatus().workers[0]?.pid
      const e = await failure(bridge.executePython(null, "hostile", "result_with_deep_ext", [1]))
      expect(e).toMatchObject({ _tag: "SerializationError" })
      expect(e.message).toMatch(/threw: an unprintable object/)
      expect(await bridge.executePython(null, "hostile", "echo", ["alive"])).toBe("alive")
      expect(bridge.getStatus().workers[0]?.pid).toBe(pid)
      expect(restarted).toHaveLength(0)
    } finally {
      unregister()
    }
  })

  it("a host tool whose result throws when read raises ToolError in Python; the host lives on", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    bridge.registerTool("explode", () => ({ get x() { throw unprintable() } }))
    expect(await bridge.executePython("s", "tools", "catch_failing")).toMatch(/^caught ToolError: SerializationError: .*an unprintable object/)
    expect(await bridge.executePython(null, "echo", "echo", ["alive"])).toBe("alive")
  })
})

describe("arrays longer than maxValueBytes could hold", () => {
  it("are refused before they are walked: a sparse array of 2³²−1 slots, or a Proxy whose length lies, costs no item read", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxValueBytes: 1 << 20 } })
    const sparse: unknown[] = []
    sparse.length = 2 ** 32 - 1 // one line of code, no memory: walking it blocked the event loop for minutes
    let itemReads = 0
    const lying = new Proxy([1, 2, 3], {
      get: (target, key, receiver) => {
        if (key === "length") return 1e9
        if (typeof key === "string" && /^\d+$/.test(key)) itemReads++
        return Reflect.get(target, key, receiver) as unknown
      },
    })
    for (const value of [sparse, { rows: lying }]) {
      const e = await failure(bridge.executePython(null, "echo", "echo", [value]))
      expect(e).toMatchObject({ _tag: "SerializationError", message: expect.stringMatching(/items takes at least \d+ bytes of JSON, over limits\.maxValueBytes \(1048576\)/) })
    }
    expect(itemReads).toBe(0)
    // Within the rule: half a MiB of one-digit items is walked and sent (it fits).
    const fits = new Array<number>((1 << 19) - 1).fill(0)
    expect(await bridge.executePython(null, "echo", "echo", [fits.length])).toBe(fits.length)
    expect((await bridge.executePython<number[]>(null, "echo", "echo", [fits.slice(0, 1000)])).length).toBe(1000)
  })
})

describe("an AbortSignal that throws", () => {
  it("one whose addEventListener throws is InvalidOptions before anything starts", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const signal = { aborted: false, reason: undefined, addEventListener() { throw unprintable() }, removeEventListener() {} } as unknown as AbortSignal
    const e = await failure(bridge.executePython(null, "echo", "echo", [1], { signal }))
    expect(e._tag).toBe("InvalidOptions")
    expect(e.message).toMatch(/signal could not be listened to.*an unprintable object/)
    expect(bridge.getStatus().queued).toBe(0)
    expect(await bridge.executePython(null, "echo", "echo", ["alive"])).toBe("alive")
  })

  it("one whose removeEventListener throws still serves its calls, and still cancels them", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const listeners: Array<() => void> = []
    const polyfill = {
      aborted: false,
      reason: undefined as unknown,
      addEventListener(_type: string, f: () => void) { listeners.push(f) },
      removeEventListener() { throw unprintable() },
    }
    const signal = polyfill as unknown as AbortSignal
    for (let i = 0; i < 20; i++) expect(await bridge.executePython(null, "echo", "echo", [i], { signal })).toBe(i)
    expect(listeners).toHaveLength(1) // followed once, not once per call
    const slow = failure(bridge.executePython(null, "echo", "sleep", [30], { signal }))
    await new Promise((r) => setTimeout(r, 200))
    polyfill.aborted = true
    polyfill.reason = "enough"
    for (const f of listeners) f()
    expect(await slow).toMatchObject({ _tag: "CallCancelled", reason: "enough" })
    expect(await bridge.executePython(null, "echo", "echo", ["alive"])).toBe("alive")
  })
})
