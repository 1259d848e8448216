/**
 * Host-held session variables: bytes counted at name, encoded size and entry, caps per session and per bridge,
 * replacements count the difference, deletes and cleanup free bytes; a cleaned-up session's
 * remains, held by its calls in flight, stay bounded and counted until the last one leaves.
 */
import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { SessionVariables, VARIABLE_ENTRY_BYTES, variableBytes, type DetachedVariables } from "../../src/placement/variables.js"
import { encodedSize } from "../../src/protocol/encodedSize.js"
import { VariableLimitExceeded } from "../../src/errors.js"

const KiB = 1024

describe("SessionVariables", () => {
  it("counts the name's UTF-8 bytes, the value's encoded size (JSON text plus binary attachments) and the entry", () => {
    const vars = new SessionVariables()
    vars.set("s", "tëxt", "héllo")
    expect(vars.bytes).toBe(5 + 8 + VARIABLE_ENTRY_BYTES)
    vars.set("s", "blob", Buffer.alloc(10 * KiB))
    expect(vars.bytes).toBe(5 + 8 + 4 + encodedSize(Buffer.alloc(10 * KiB)) + 2 * VARIABLE_ENTRY_BYTES)
    expect(encodedSize(Buffer.alloc(10 * KiB))).toBeGreaterThan(10 * KiB)
  })

  it("long names and many empty entries count: 300 one-MiB names do not fit a 4 KiB cap, nor 100 000 nulls a 1 MiB one", () => {
    const small = new SessionVariables({ maxSessionVariableBytes: 4 * KiB, maxVariableBytes: 8 * KiB })
    expect(() => small.set("s", `0:${"x".repeat(1 << 20)}`, null)).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", scope: "session" }))
    expect(small.bytes).toBe(0)
    const vars = new SessionVariables({ maxSessionVariableBytes: 1024 * KiB, maxVariableBytes: 4096 * KiB })
    let written = 0
    try {
      for (; written < 100_000; written++) vars.set("s", String(written), null)
    } catch (e) {
      expect(e).toMatchObject({ _tag: "VariableLimitExceeded", scope: "session" })
    }
    expect(written).toBeLessThan(1024 * KiB / VARIABLE_ENTRY_BYTES)
    expect(vars.sessionBytes("s")).toBeLessThanOrEqual(1024 * KiB)
  })

  it("a write past the session cap fails with scope session and changes nothing", () => {
    const vars = new SessionVariables({ maxSessionVariableBytes: 16 * KiB, maxVariableBytes: 1024 * KiB })
    vars.set("s", "a", Buffer.alloc(10 * KiB))
    const before = vars.bytes
    let error: unknown
    try {
      vars.set("s", "b", Buffer.alloc(10 * KiB))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(VariableLimitExceeded)
    expect(error).toMatchObject({ scope: "session", sessionId: "s", name: "b", limitBytes: 16 * KiB })
    expect(vars.bytes).toBe(before)
    expect(vars.has("s", "b")).toBe(false)
  })

  it("replacing a variable counts the new size minus the old", () => {
    const vars = new SessionVariables({ maxSessionVariableBytes: 16 * KiB, maxVariableBytes: 1024 * KiB })
    vars.set("s", "a", Buffer.alloc(10 * KiB))
    vars.set("s", "a", Buffer.alloc(12 * KiB))
    expect(vars.sessionBytes("s")).toBe(variableBytes("a", Buffer.alloc(12 * KiB)))
  })

  it("the bridge cap counts every session together", () => {
    const vars = new SessionVariables({ maxSessionVariableBytes: 16 * KiB, maxVariableBytes: 24 * KiB })
    vars.set("s1", "a", Buffer.alloc(12 * KiB))
    expect(() => vars.set("s2", "a", Buffer.alloc(12 * KiB))).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", scope: "bridge", limitBytes: 24 * KiB }))
    vars.clear("s1")
    expect(vars.bytes).toBe(0)
    vars.set("s2", "a", Buffer.alloc(12 * KiB))
  })

  it("an unencodable value is a SerializationError and is not stored", () => {
    const vars = new SessionVariables()
    expect(() => vars.set("s", "f", () => 1)).toThrow(expect.objectContaining({ _tag: "SerializationError" }))
    expect(vars.has("s", "f")).toBe(false)
  })

  test.prop([
    fc.array(
      fc.record({
        op: fc.constantFrom("set", "delete", "clear"),
        session: fc.constantFrom("a", "b", "c"),
        name: fc.constantFrom("x", "y"),
        size: fc.integer({ min: 0, max: 300 }),
      }),
      { maxLength: 60 },
    ),
  ])("the counted bytes always equal the sum of what is held, and never exceed a cap", (ops) => {
    const limits = { maxSessionVariableBytes: 500, maxVariableBytes: 900 }
    const vars = new SessionVariables(limits)
    for (const { op, session, name, size } of ops) {
      if (op === "set") {
        try {
          vars.set(session, name, "x".repeat(size))
        } catch (e) {
          expect(e).toBeInstanceOf(VariableLimitExceeded)
        }
      } else if (op === "delete") vars.delete(session, name)
      else vars.clear(session)
      let total = 0
      for (const s of ["a", "b", "c"]) {
        const held = vars.entries(s).reduce((n, [name, v]) => n + variableBytes(name, v), 0)
        expect(vars.sessionBytes(s)).toBe(held)
        expect(held).toBeLessThanOrEqual(limits.maxSessionVariableBytes)
        total += held
      }
      expect(vars.bytes).toBe(total)
      expect(total).toBeLessThanOrEqual(limits.maxVariableBytes)
    }
  })
})

describe("a cleaned-up session's remains (DetachedVariables)", () => {
  it("keep the variables the cleanup found, apart from the session's next life, and are freed when the last holder leaves", () => {
    const vars = new SessionVariables()
    vars.set("s", "v", "before")
    const remains = vars.detach("s")
    remains.join()
    remains.join()
    remains.leave() // the cleanup's own hold
    expect(vars.entries("s")).toEqual([])
    remains.set("v", "from a call sent before the cleanup")
    vars.set("s", "v", "next life")
    expect(remains.entries()).toEqual([["v", "from a call sent before the cleanup"]])
    expect(vars.entries("s")).toEqual([["v", "next life"]])
    const nextLife = vars.bytes - variableBytes("v", "from a call sent before the cleanup")
    remains.leave()
    expect(remains.freed).toBe(false)
    remains.leave()
    expect({ freed: remains.freed, bytes: vars.bytes }).toEqual({ freed: true, bytes: nextLife })
    expect(() => remains.set("v", "late")).toThrow(/cleaned up/)
    expect(() => remains.join()).toThrow(/freed/)
    expect(vars.bytes).toBe(nextLife)
  })

  it("held by nobody, are freed at once", () => {
    const vars = new SessionVariables()
    vars.set("s", "v", "x".repeat(100))
    const remains = vars.detach("s")
    remains.leave()
    expect({ freed: remains.freed, bytes: vars.bytes }).toEqual({ freed: true, bytes: 0 })
  })

  it("are bounded by the session cap and count toward the bridge cap", () => {
    const vars = new SessionVariables({ maxSessionVariableBytes: 16 * KiB, maxVariableBytes: 24 * KiB })
    vars.set("s", "a", Buffer.alloc(10 * KiB))
    const remains = vars.detach("s")
    expect(() => remains.set("b", Buffer.alloc(10 * KiB))).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", scope: "session", sessionId: "s" }))
    expect(() => vars.set("t", "a", Buffer.alloc(15 * KiB))).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", scope: "bridge" }))
    remains.leave()
    vars.set("t", "a", Buffer.alloc(15 * KiB))
  })

  test.prop([
    fc.array(
      fc.record({
        op: fc.constantFrom("set", "delete", "detach", "setRemains", "deleteRemains", "join", "leave"),
        session: fc.constantFrom("a", "b", "c"),
        name: fc.constantFrom("x", "y"),
        size: fc.integer({ min: 0, max: 300 }),
        pick: fc.nat(),
      }),
      { maxLength: 80 },
    ),
  ])("the counted bytes always equal what live sessions and unfreed remains hold, and never exceed a cap", (ops) => {
    const limits = { maxSessionVariableBytes: 500, maxVariableBytes: 900 }
    const vars = new SessionVariables(limits)
    const remains: DetachedVariables[] = []
    const write = (f: () => void) => {
      try {
        f()
      } catch (e) {
        expect(e).toBeInstanceOf(VariableLimitExceeded)
      }
    }
    for (const { op, session, name, size, pick } of ops) {
      const live = remains.filter((r) => !r.freed)
      const some = live.length > 0 ? live[pick % live.length] : undefined
      if (op === "set") write(() => vars.set(session, name, "x".repeat(size)))
      else if (op === "delete") vars.delete(session, name)
      else if (op === "detach") {
        const r = vars.detach(session)
        expect(vars.entries(session)).toEqual([])
        r.join() // one call in flight took it before the cleanup let go of its own hold
        r.leave()
        remains.push(r)
      } else if (some && op === "setRemains") write(() => some.set(name, "x".repeat(size)))
      else if (some && op === "deleteRemains") some.delete(name)
      else if (some && op === "join") some.join()
      else if (some && op === "leave") some.leave()
      const heldIn = (entries: Array<[string, unknown]>) => entries.reduce((n, [name, v]) => n + variableBytes(name, v), 0)
      let total = 0
      for (const s of ["a", "b", "c"]) {
        const held = heldIn(vars.entries(s))
        expect(vars.sessionBytes(s)).toBe(held)
        expect(held).toBeLessThanOrEqual(limits.maxSessionVariableBytes)
        total += held
      }
      for (const r of remains.filter((r) => !r.freed)) {
        const held = heldIn(r.entries())
        expect(held).toBeLessThanOrEqual(limits.maxSessionVariableBytes)
        total += held
      }
      expect(vars.bytes).toBe(total)
      expect(total).toBeLessThanOrEqual(limits.maxVariableBytes)
    }
  })
})
