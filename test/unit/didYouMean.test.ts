import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { suggest, unknownName } from "../../src/didYouMean.js"

const bridgeKeys = ["python", "pythonPath", "minWorkers", "maxWorkers", "callTimeoutMs", "startupTimeoutMs", "pipelineDepth", "maxQueue"]

describe("suggest", () => {
  it.each([
    ["minWorker", "minWorkers"],
    ["pythonpath", "pythonPath"],
    ["PYTHONPATH", "pythonPath"],
    ["maxWokers", "maxWorkers"],
    ["mxaWorkers", "maxWorkers"],
    ["callTimeout", "callTimeoutMs"],
    ["pipelinedepth", "pipelineDepth"],
  ])("%s → %s", (typo, meant) => {
    expect(suggest(typo, bridgeKeys)).toBe(meant)
  })

  it("timeout → timeoutMs among the call options", () => {
    expect(suggest("timeout", ["kwargs", "timeoutMs", "signal", "idempotent"])).toBe("timeoutMs")
  })

  it("suggests nothing for a name unlike every known one", () => {
    expect(suggest("colour", bridgeKeys)).toBeUndefined()
    expect(suggest("x", bridgeKeys)).toBeUndefined()
  })

  it("unknownName says where and, when it can, what was meant", () => {
    expect(unknownName("minWorker", "minWorker", "a bridge option", bridgeKeys)).toBe("minWorker is not a bridge option (did you mean minWorkers?)")
    expect(unknownName("colour", "colour", "a bridge option", bridgeKeys)).toBe("colour is not a bridge option")
  })
})

describe("suggest: properties", () => {
  const name = fc.stringMatching(/^[a-zA-Z]{4,16}$/)
  test.prop([fc.uniqueArray(name, { minLength: 1, maxLength: 12 }), fc.nat()])("a known name is its own suggestion; one dropped, doubled or swapped letter still finds it", (known, pick) => {
    const k = known[pick % known.length]!
    expect(suggest(k, known)?.toLowerCase()).toBe(k.toLowerCase())
    const i = pick % (k.length - 1)
    for (const typo of [k.slice(0, i) + k.slice(i + 1), k.slice(0, i) + k[i] + k.slice(i), k.slice(0, i) + k[i + 1] + k[i] + k.slice(i + 2)]) {
      const s = suggest(typo, known)
      expect(s).toBeDefined()
      // Another known name may be as close; the suggestion is never farther than one edit.
      expect(known).toContain(s)
    }
  })
})
