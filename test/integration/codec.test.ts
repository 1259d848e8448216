/**
 * Every codec type through a real Python worker and back, exactly; large binary data as raw
 * bytes.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { fc } from "@fast-check/vitest"
import { NDArray } from "../../src/protocol/codec.js"
import { startBridge } from "../support/bridge.js"
import { codecEqual, codecValueArb } from "../support/codecValues.js"
import { pythonCommand, readyWorker } from "../support/worker.js"

const hasNumpy = (() => {
  try {
    execFileSync(pythonCommand, ["-c", "import numpy"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe("codec through real Python", () => {
  it("every codec value round-trips exactly through a Python echo (property, 100 runs)", async () => {
    const { connection } = await readyWorker()
    await fc.assert(
      fc.asyncProperty(codecValueArb, async (value) => {
        const back = await connection.call("echo", "echo", [value])
        expect(codecEqual(back, value)).toBe(true)
      }),
      { numRuns: 100 },
    )
  })

  it("a 16 MiB Buffer round-trips as raw bytes", async () => {
    const { connection } = await readyWorker()
    const big = Buffer.alloc(16 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251
    const back = (await connection.call("echo", "echo", [big])) as Buffer
    expect(Buffer.isBuffer(back)).toBe(true)
    expect(back.equals(big)).toBe(true)
    // Python really received bytes of that length, not a base64 or hex string.
    expect(await connection.call("builtins", "len", [big])).toBe(big.length)
  })

  it.skipIf(!hasNumpy)("a 2000×2000 float64 matrix arrives in Python as a numpy array and comes back exactly", async () => {
    const { connection } = await readyWorker()
    const data = new Float64Array(2000 * 2000).map((_, i) => i / 7)
    const matrix = new NDArray("float64", [2000, 2000], data)
    const back = (await connection.call("echo", "echo", [matrix])) as NDArray
    expect(back.shape).toEqual([2000, 2000])
    expect(codecEqual(back, matrix)).toBe(true)
    expect(await connection.call("numpy_helpers", "describe", [matrix])).toEqual({ type: "ndarray", dtype: "float64", shape: [2000, 2000] })
  })
})

describe("raw memory through the bridge (issue 20, item 6)", () => {
  const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex")
  const arrival = (bridge: Awaited<ReturnType<typeof startBridge>>, x: unknown) =>
    bridge.executePython(null, "received", "describe_bytes", [x]) as Promise<{ type: string; length: number; sha256: string; value: unknown }>

  it("an ArrayBuffer arrives in Python as bytes with its content, and comes back as a Buffer", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const content = Buffer.from("raw memory \u0000\u00ff")
    const memory = new Uint8Array(content).buffer
    const got = await arrival(bridge, memory)
    expect(got).toMatchObject({ type: "bytes", length: content.length, sha256: sha256(content) })
    expect(Buffer.isBuffer(got.value) && got.value.equals(content)).toBe(true)
  })

  it("a SharedArrayBuffer arrives as bytes, a big one (written from its own memory) too", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    for (const size of [5, 1 << 20]) {
      const shared = new SharedArrayBuffer(size)
      const view = new Uint8Array(shared)
      for (let i = 0; i < size; i++) view[i] = (i * 31) % 251
      const got = await arrival(bridge, shared)
      expect(got).toMatchObject({ type: "bytes", length: size, sha256: sha256(view) })
    }
  })

  it("a DataView over part of a buffer sends only its window", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const whole = Buffer.from("0123456789abcdef")
    const window = new DataView(whole.buffer, whole.byteOffset + 4, 6)
    const got = await arrival(bridge, window)
    expect(got).toMatchObject({ type: "bytes", length: 6, sha256: sha256(Buffer.from("456789")) })
    expect((got.value as Buffer).toString()).toBe("456789")
  })
})
