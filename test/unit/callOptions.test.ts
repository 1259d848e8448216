/**
 * The call-option validator: every malformed argument or option is an InvalidOptions naming it,
 * nothing else is ever thrown, and valid calls pass with their options copied.
 */
import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { checkCall, checkCode, checkCommand, checkSession, isAbortSignal, MAX_SESSION_ID_LENGTH, MAX_TIMEOUT_MS, parseCallOptions } from "../../src/bridge/callOptions.js"
import { InvalidOptions } from "../../src/errors.js"

const thrown = (run: () => unknown): unknown => {
  try {
    run()
  } catch (e) {
    return e
  }
  return undefined
}

/** Runs a check and says how it ended: the value, or the InvalidOptions (anything else fails the test). */
const outcome = (run: () => unknown): { ok: true; value: unknown } | { ok: false; error: InvalidOptions } => {
  try {
    return { ok: true, value: run() }
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptions)
    return { ok: false, error: e as InvalidOptions }
  }
}

const validTimeout = fc.oneof(fc.integer({ min: 0, max: MAX_TIMEOUT_MS }), fc.double({ min: 0, max: MAX_TIMEOUT_MS, noNaN: true }), fc.constant(Infinity))
const validOptions = fc.record(
  {
    kwargs: fc.dictionary(fc.string(), fc.jsonValue()),
    timeoutMs: validTimeout,
    signal: fc.constant(new AbortController().signal),
    idempotent: fc.boolean(),
  },
  { requiredKeys: [] },
)

describe("call options", () => {
  it.each([
    [{ timeoutMs: "50" }, "options.timeoutMs"],
    [{ timeoutMs: -1 }, "options.timeoutMs"],
    [{ timeoutMs: NaN }, "options.timeoutMs"],
    [{ timeoutMs: -Infinity }, "options.timeoutMs"],
    [{ timeoutMs: MAX_TIMEOUT_MS + 1 }, "options.timeoutMs"],
    [{ signal: 42 }, "options.signal"],
    [{ signal: {} }, "options.signal"],
    [{ kwargs: [1] }, "options.kwargs"],
    [{ kwargs: new Map() }, "options.kwargs"],
    [{ idempotent: "yes" }, "options.idempotent"],
    [{ timeoutMS: 50 }, "options.timeoutMS"],
    [1, "options must be a plain object"],
    [null, "options must be a plain object"],
    ["fast", "options must be a plain object"],
    [[], "options must be a plain object"],
  ])("%j is InvalidOptions naming %s", (options, named) => {
    const error = thrown(() => parseCallOptions(options))
    expect(error).toBeInstanceOf(InvalidOptions)
    expect((error as InvalidOptions).message).toContain(named)
    expect((error as InvalidOptions).issues.some((i) => i.includes(named))).toBe(true)
  })

  it("reports every problem at once", () => {
    const error = thrown(() => parseCallOptions({ timeoutMs: "50", signal: 42, typo: 1 })) as InvalidOptions
    expect(error.issues).toHaveLength(3)
  })

  it("accepts omitted options, undefined values, Infinity and a signal from a polyfill", () => {
    expect(parseCallOptions(undefined)).toEqual({})
    expect(parseCallOptions({ timeoutMs: undefined, kwargs: undefined, somethingElse: undefined })).toEqual({})
    expect(parseCallOptions({ timeoutMs: Infinity })).toEqual({ timeoutMs: Infinity })
    expect(parseCallOptions({ kwargs: Object.create(null) })).toHaveProperty("kwargs")
    const polyfill = { aborted: false, addEventListener: () => {}, removeEventListener: () => {} }
    expect(isAbortSignal(polyfill)).toBe(true)
  })

  it("the Effect API's options refuse a signal (interruption cancels an Effect call)", () => {
    const error = thrown(() => parseCallOptions({ signal: new AbortController().signal }, { allowSignal: false })) as InvalidOptions
    expect(error.message).toContain("options.signal is not a call option")
  })

  it("a throwing getter is InvalidOptions, not the getter's error", () => {
    const options = Object.defineProperty({}, "timeoutMs", { enumerable: true, get: () => { throw new Error("boom") } })
    const error = thrown(() => parseCallOptions(options)) as InvalidOptions
    expect(error).toBeInstanceOf(InvalidOptions)
    expect(error.message).toContain("boom")
  })

  it("returns a copy, so a getter cannot change the options after the check", () => {
    let reads = 0
    const options = Object.defineProperty({}, "timeoutMs", { enumerable: true, get: () => (++reads === 1 ? 50 : "50") })
    const copy = parseCallOptions(options)
    expect(copy.timeoutMs).toBe(50)
    expect(copy.timeoutMs).toBe(50)
  })

  test.prop([fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true })])(
    "any value as options either passes or is InvalidOptions",
    (options) => {
      outcome(() => parseCallOptions(options))
    },
  )

  test.prop([fc.constantFrom("kwargs", "timeoutMs", "signal", "idempotent"), fc.anything({ withBoxedValues: true, withMap: true, withNullPrototype: true })])(
    "any value for each option either passes or is InvalidOptions naming it",
    (key, value) => {
      const result = outcome(() => parseCallOptions({ [key]: value }))
      if (!result.ok) expect(result.error.message).toContain(`options.${key}`)
      else if (value !== undefined) expect((result.value as Record<string, unknown>)[key]).toBe(value)
    },
  )

  test.prop([validOptions])("valid options pass unchanged, but for the signal, which the bridge's own follows", (options) => {
    const { signal, ...rest } = parseCallOptions(options)
    const { signal: given, ...others } = options
    expect(rest).toEqual(others)
    expect(signal === undefined).toBe(given === undefined)
    if (given !== undefined) expect(signal!.aborted).toBe(given.aborted)
  })

  it("one signal given to many calls is followed by one signal of the bridge's, which aborts with its reason", () => {
    const controller = new AbortController()
    const followers = new Set(Array.from({ length: 20 }, () => parseCallOptions({ signal: controller.signal }).signal))
    expect(followers.size).toBe(1)
    const [follower] = followers
    expect(follower).not.toBe(controller.signal)
    controller.abort("the request went away")
    expect(follower!.aborted).toBe(true)
    expect(follower!.reason).toBe("the request went away")
  })
})

describe("call arguments", () => {
  it("names a non-string module, an empty function, a numeric session id and non-array args", () => {
    const error = thrown(() => checkCall("executePython", 7, 42, "", "x", {})) as InvalidOptions
    expect(error.issues.map((i) => i.split(" ")[0])).toEqual(["sessionId", "module", "fn", "args"])
    expect(error.message).toMatch(/^invalid executePython call: /)
  })

  it("accepts null or a non-empty string as the session", () => {
    expect(checkCall("stream", null, "m", "f", [], undefined)).toEqual({})
    expect(checkCall("stream", "s1", "m", "f", [1, 2], { timeoutMs: 5 })).toEqual({ timeoutMs: 5 })
    expect(thrown(() => checkCall("stream", "", "m", "f", [], {}))).toBeInstanceOf(InvalidOptions)
    expect(thrown(() => checkCall("stream", undefined, "m", "f", [], {}))).toBeInstanceOf(InvalidOptions)
  })

  it("a session id is at most MAX_SESSION_ID_LENGTH characters, for calls and for cleanupSession and friends", () => {
    const longest = "s".repeat(MAX_SESSION_ID_LENGTH)
    expect(checkCall("executePython", longest, "m", "f", [], {})).toEqual({})
    expect(checkSession("cleanupSession", longest)).toBe(longest)
    const call = thrown(() => checkCall("executePython", `${longest}s`, "m", "f", [], {})) as InvalidOptions
    expect(call.issues).toEqual([`sessionId must be at most ${MAX_SESSION_ID_LENGTH} characters, got ${MAX_SESSION_ID_LENGTH + 1}`])
    expect(thrown(() => checkSession("cleanupSession", `${longest}s`))).toBeInstanceOf(InvalidOptions)
  })

  it("a session id is well-formed text: half of a surrogate pair is refused, for calls and for cleanupSession and friends", () => {
    const cut = "Zoë 🐍".slice(0, 5)
    const call = thrown(() => checkCall("executePython", cut, "m", "f", [], {})) as InvalidOptions
    expect(call).toBeInstanceOf(InvalidOptions)
    expect(call.issues).toEqual(["sessionId must be well-formed text, got one with half of a UTF-16 surrogate pair at index 4"])
    expect(thrown(() => checkSession("cleanupSession", "\udc00x"))).toBeInstanceOf(InvalidOptions)
    expect(checkCall("executePython", "Zoë 🐍", "m", "f", [], {})).toEqual({})
  })

  it("executeCode needs source text and a plain context", () => {
    expect(checkCode("s", "y = 1", {}, {})).toEqual({})
    expect((thrown(() => checkCode("s", 5, [], {})) as InvalidOptions).issues).toHaveLength(2)
  })

  it("cleanupSession and friends need a non-empty string", () => {
    expect(checkSession("cleanupSession", "s")).toBe("s")
    expect(thrown(() => checkSession("cleanupSession", null))).toBeInstanceOf(InvalidOptions)
  })

  test.prop([fc.anything(), fc.anything(), fc.anything(), fc.anything(), fc.anything()])(
    "any arguments either pass or are InvalidOptions",
    (sessionId, module, fn, args, options) => {
      outcome(() => checkCall("executePython", sessionId, module, fn, args, options))
      outcome(() => checkCode(sessionId, module, fn, options))
    },
  )
})

describe("routeCommand", () => {
  it("refuses a missing module instead of calling \"undefined\"", () => {
    const error = thrown(() => checkCommand("execute_python", { function: "sqrt" }, {})) as InvalidOptions
    expect(error.message).toContain("params.module")
  })

  it("translates a valid command; params.kwargs wins over params.options.kwargs", () => {
    expect(checkCommand("execute_python", { module: "m", function: "f", kwargs: { a: 1 }, options: { kwargs: { a: 2 }, timeoutMs: 9 } }, { sessionId: "s" })).toEqual({
      kind: "execute_python",
      sessionId: "s",
      module: "m",
      fn: "f",
      args: [],
      options: { kwargs: { a: 1 }, timeoutMs: 9 },
    })
    expect(checkCommand("get_python_status", undefined, undefined)).toEqual({ kind: "get_python_status" })
  })

  it("names bad options inside params", () => {
    const error = thrown(() => checkCommand("execute_python_code", { code: "x = 1", options: { timeoutMs: "50" } }, {})) as InvalidOptions
    expect(error.message).toContain("params.options.timeoutMs")
  })

  it("refuses params.options.signal for the Effect API (allowSignal: false), for both commands that run Python", () => {
    const signal = new AbortController().signal
    expect(checkCommand("execute_python", { module: "m", function: "f", options: { signal } }, {}).kind).toBe("execute_python")
    for (const params of [{ module: "m", function: "f", options: { signal } }, { code: "x = 1", options: { signal } }]) {
      const command = "code" in params ? "execute_python_code" : "execute_python"
      const error = thrown(() => checkCommand(command, params, {}, { allowSignal: false })) as InvalidOptions
      expect(error.issues).toEqual([expect.stringContaining("params.options.signal is not a call option here")])
    }
  })

  test.prop([fc.anything(), fc.anything(), fc.anything()])("any command either passes or is InvalidOptions", (command, params, context) => {
    outcome(() => checkCommand(command, params, context))
  })
})
