import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { admits, isDottedName, parseExposure } from "../../src/bridge/exposure.js"
import { InvalidOptions, ModuleNotAllowed } from "../../src/errors.js"

const issue18 = parseExposure({ allowedModules: ["json", "appmod"] })

const segment = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/)
const dotted = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("."))
const publicSegment = segment.filter((s) => !s.startsWith("_"))
const publicDotted = fc.array(publicSegment, { minLength: 1, maxLength: 4 }).map((s) => s.join("."))

describe("parseExposure", () => {
  it("no list admits everything (trusted callers only); an empty expose admits nothing", () => {
    expect(parseExposure({})).toBeUndefined()
    expect(admits(parseExposure({}), "builtins", "exec")).toBeUndefined()
    expect(admits(parseExposure({ expose: [] }), "math", "sqrt")).toBeInstanceOf(ModuleNotAllowed)
    expect(admits(parseExposure({ allowedModules: [] }), "math", "sqrt")).toBeInstanceOf(ModuleNotAllowed)
  })

  it("allowedModules m is the entry m.*, and the entries are what Python is given", () => {
    expect(parseExposure({ allowedModules: ["math"], expose: ["stats.*", "model.Model.fit"] })?.entries).toEqual(["math.*", "stats.*", "model.Model.fit"])
  })

  it("a malformed entry is InvalidOptions naming it", () => {
    for (const bad of [["json"], ["os.__dict__"], ["a..b"], ["<code>.exec"], ["m.*.*"], ["m.f g"], ["__main__.*"], [""]]) {
      let thrown: unknown
      try {
        parseExposure({ expose: bad })
      } catch (e) {
        thrown = e
      }
      expect(thrown, bad[0]).toBeInstanceOf(InvalidOptions)
      expect((thrown as InvalidOptions).message).toContain(JSON.stringify(bad[0]))
    }
    expect(() => parseExposure({ allowedModules: ["os.path", "bad-name"] })).toThrow(/"bad-name"/)
    expect(() => parseExposure({ allowedModules: ["__builtins__"] })).toThrow(InvalidOptions)
  })
})

describe("admits", () => {
  it("refuses the issue 18 names the host can see: dunders, private names, other modules, <code>", () => {
    const refused: Array<[string, string]> = [
      ["appmod", "predict.__globals__.__setitem__"],
      ["appmod", "__builtins__.__setitem__"],
      ["json", "__loader__.exec_module"],
      ["appmod", "_helper"],
      ["builtins", "exec"],
      ["os", "system"],
      ["<code>", "exec"],
      ["appmod.sub", "f"],
      ["appmod", "f g"],
      ["appmod", ""],
    ]
    for (const [m, f] of refused) {
      const e = admits(issue18, m, f)
      expect(e, `${m}.${f}`).toBeInstanceOf(ModuleNotAllowed)
      expect(e?.module).toBe(m)
    }
    // The module was allowed, the name was not: `function` says which.
    expect(admits(issue18, "appmod", "_helper")?.function).toBe("_helper")
    expect(admits(issue18, "builtins", "exec")?.function).toBeUndefined()
    expect(admits(issue18, "appmod", "predict.__globals__.__setitem__")?.message).toMatch(/"__"/)
  })

  it("admits an allowed module's public names (what they resolve to is Python's check)", () => {
    expect(admits(issue18, "json", "dumps")).toBeUndefined()
    expect(admits(issue18, "json", "JSONDecoder.decode")).toBeUndefined()
    // Only Python can see that `codecs` is a module: the host passes the name on.
    expect(admits(issue18, "json", "codecs.builtins.exec")).toBeUndefined()
  })

  it("an exact entry admits that name only, private segments included", () => {
    const exposure = parseExposure({ expose: ["appmod._helper", "appmod.Model.create"] })
    expect(admits(exposure, "appmod", "_helper")).toBeUndefined()
    expect(admits(exposure, "appmod", "Model.create")).toBeUndefined()
    expect(admits(exposure, "appmod", "predict")?.function).toBe("predict")
    expect(admits(exposure, "appmod", "Model.register")).toBeInstanceOf(ModuleNotAllowed)
  })

  test.prop([dotted, dotted])("without a list every name is admitted", (m, f) => {
    expect(admits(undefined, m, f)).toBeUndefined()
  })

  test.prop([fc.array(dotted, { maxLength: 3 }), dotted, dotted, fc.nat(3)])(
    "a name with a dunder segment is refused whatever the lists say",
    (modules, m, f, at) => {
      const parts = f.split(".")
      parts[at % parts.length] = `__${parts[at % parts.length]}`
      const exposure = parseExposure({ allowedModules: modules.filter((x) => !x.split(".").some((s) => s.startsWith("__"))), expose: [`${m}.*`].filter((e) => !e.split(".").some((s) => s.startsWith("__"))) })
      expect(admits(exposure, m, parts.join("."))).toBeInstanceOf(ModuleNotAllowed)
    },
  )

  test.prop([publicDotted, publicDotted])("m.* admits every public dotted name under exactly m, never under m.sub", (m, f) => {
    const exposure = parseExposure({ expose: [`${m}.*`] })
    expect(admits(exposure, m, f)).toBeUndefined()
    const [head, ...rest] = f.split(".")
    expect(admits(exposure, `${m}.${head}`, rest.length > 0 ? rest.join(".") : "f")).toBeInstanceOf(ModuleNotAllowed)
  })

  test.prop([fc.array(dotted, { maxLength: 4 }), fc.array(dotted.map((d) => `${d}.f`), { maxLength: 4 }), dotted, dotted])(
    "whatever is admitted is dotted, dunder-free, and listed (by module or exactly)",
    (modules, names, m, f) => {
      const clean = (xs: string[]) => xs.filter((x) => !x.split(".").some((s) => s.startsWith("__")))
      const exposure = parseExposure({ allowedModules: clean(modules), expose: clean(names) })
      if (admits(exposure, m, f) !== undefined) return
      expect(isDottedName(m) && isDottedName(f)).toBe(true)
      expect(`${m}.${f}`.split(".").some((s) => s.startsWith("__"))).toBe(false)
      const exact = clean(names).includes(`${m}.${f}`)
      expect(exact || (clean(modules).includes(m) && !f.split(".").some((s) => s.startsWith("_")))).toBe(true)
    },
  )

  // `admits` remembers the names an exposure admitted: asked again, in any order, mixed with
  // refused ones and strings that would join to the same key, it answers as a fresh check does.
  test.prop([
    fc.array(fc.constantFrom("m", "m.sub", "n", "m._p", "x\u0000y"), { maxLength: 3 }),
    fc.array(fc.tuple(fc.constantFrom("m", "n", "m.sub", "m\u0000f", "_m", "x"), fc.constantFrom("f", "_f", "g.h", "__f", "\u0000f", "y", "f\u0000")), { maxLength: 30 }),
  ])("a remembered answer is the answer a fresh check gives", (entries, asks) => {
    const options = { expose: entries.map((e) => (e.includes(".") ? e : `${e}.*`)).filter((e) => isDottedName(e.replace(/\.\*$/, ""))) }
    const kept = parseExposure(options)
    for (const [m, f] of [...asks, ...asks]) {
      expect(admits(kept, m, f)?.message).toBe(admits(parseExposure(options), m, f)?.message)
    }
  })

  test.prop([fc.string(), fc.string()])("arbitrary strings are admitted only when they are dotted names", (m, f) => {
    if (admits(issue18, m, f) === undefined) expect(isDottedName(m) && isDottedName(f)).toBe(true)
  })
})
