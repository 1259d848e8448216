/**
 * `assertSettledOnce` compares a call's value with the expected one deeply and strictly: the
 * hostile-value properties send NaN, -0, bigints and maps, and a bridge that turned them into
 * null, 0, another bigint or `{}` must fail them (JSON text made those equal, and threw on a
 * bigint). `timeoutMs: Infinity` waits as long as it takes.
 */
import { describe, expect, it } from "vitest"
import { assertSettledOnce, CallLedger } from "../../src/testing/invariants.js"

const check = (expected: unknown, got: unknown) => {
  const ledger = new CallLedger()
  ledger.track({ kind: "echo", expected }, Promise.resolve(got))
  return assertSettledOnce(ledger, { timeoutMs: 1_000 })
}

describe("assertSettledOnce", () => {
  it("a value that is not strictly the expected one is a violation, named", async () => {
    for (const [expected, got] of [[Number.NaN, null], [Infinity, null], [-0, 0], [new Map([["a", 1]]), {}], [{ a: undefined }, {}], [2n, 1n]] as const) {
      await expect(check(expected, got)).rejects.toThrow(/returned .*, expected /)
    }
  })

  it("equal values pass, key order aside; Infinity as timeoutMs waits for a late call", async () => {
    await check({ a: 1, b: [2n, Number.NaN] }, { b: [2n, Number.NaN], a: 1 })
    const ledger = new CallLedger()
    ledger.track({ kind: "echo", expected: 1 }, new Promise((r) => setTimeout(() => r(1), 100)))
    await assertSettledOnce(ledger, { timeoutMs: Infinity })
  })
})
