import { describe, expect, it } from "vitest"
import { RestartGenerations } from "../../src/bridge/restartGenerations.js"

/** A generation the test ends by hand; `began` counts them. */
const manual = () => {
  const ends: Array<{ resolve: (n: number) => void; reject: (e: unknown) => void }> = []
  const generations = new RestartGenerations(
    () =>
      new Promise<number>((resolve, reject) => {
        ends.push({ resolve, reject })
      }),
  )
  return { generations, ends }
}

const flush = () => new Promise<void>((r) => setImmediate(r))

describe("RestartGenerations", () => {
  it("a restart with none under way begins a generation at once", () => {
    const { generations, ends } = manual()
    void generations.request()
    expect(ends).toHaveLength(1)
  })

  it("restarts asked for while one runs share the next generation, which begins only once the running one has ended", async () => {
    const { generations, ends } = manual()
    const first = generations.request()
    const second = generations.request()
    const third = generations.request()
    expect(third).toBe(second)
    await flush()
    expect(ends).toHaveLength(1)
    ends[0]!.resolve(1)
    expect(await first).toBe(1)
    await flush()
    expect(ends).toHaveLength(2)
    ends[1]!.resolve(2)
    expect(await second).toBe(2)
  })

  it("a restart asked for once the next generation began waits for a third, not the one under way", async () => {
    const { generations, ends } = manual()
    void generations.request()
    const second = generations.request()
    ends[0]!.resolve(1)
    await flush()
    const third = generations.request()
    expect(third).not.toBe(second)
    ends[1]!.resolve(2)
    await flush()
    expect(ends).toHaveLength(3)
    ends[2]!.resolve(3)
    expect(await third).toBe(3)
  })

  it("a generation that fails fails its own callers only; those who asked meanwhile get a fresh one", async () => {
    const { generations, ends } = manual()
    const first = generations.request()
    const second = generations.request()
    ends[0]!.reject(new Error("start failed"))
    await expect(first).rejects.toThrow("start failed")
    await flush()
    ends[1]!.resolve(2)
    expect(await second).toBe(2)
  })

  it("a generation that throws before it waits rejects its callers, and the next one still runs", async () => {
    let n = 0
    const generations = new RestartGenerations(() => {
      if (n++ === 0) throw new Error("refused")
      return Promise.resolve(n)
    })
    await expect(generations.request()).rejects.toThrow("refused")
    expect(await generations.request()).toBe(2)
  })
})
