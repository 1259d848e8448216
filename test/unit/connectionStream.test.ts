/**
 * `Connection.stream` without processes: its request is written when the stream is created (so
 * the worker counts it in flight the moment the pool places it, and a second stream placed in
 * the same tick goes elsewhere), and a stream closed before it was ever read is still cancelled
 * in Python and settled. The same with real workers: test/integration/streamFlow.test.ts.
 */
import { describe, expect, it } from "vitest"
import { connectionHarness } from "../support/connectionHarness.js"

const harness = connectionHarness

describe("Connection.stream", () => {
  it("writes its request when it is created, before anything reads it", () => {
    const { conn, sent } = harness()
    conn.stream("m", "gen", [1])
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({ id: 1, module: "m", function: "gen" })
    expect(conn.inFlight).toBe(1)
  })

  it.each(["return", "throw"] as const)("closed with %s() before its first read, it is cancelled in Python and settles as the consumer's end", async (how) => {
    const { conn, cancelled } = harness()
    const ends: unknown[] = []
    const items = conn.stream("m", "gen", [], {}, (error) => ends.push(error))
    const closed = how === "return" ? items.return(undefined) : items.throw(new Error("stop"))
    await closed.catch(() => {})
    expect(cancelled()).toEqual([1])
    expect(conn.inFlight).toBe(0)
    // The consumer ended it: not the source's end, which the pool would count as the call's.
    expect(ends).toEqual([])
    expect(await items.next()).toEqual({ done: true, value: undefined })
  })

  it("refused before it was sent (the connection is closed), closing it unread cancels nothing", async () => {
    const { conn, cancelled } = harness()
    conn.close(new Error("gone"))
    const items = conn.stream("m", "gen", [])
    await items.return(undefined)
    expect(cancelled()).toEqual([])
  })
})
