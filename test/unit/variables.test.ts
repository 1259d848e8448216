/**
 * Host-held session variables: bytes counted at encoded size, caps per session and per bridge,
 * replacements count the difference, deletes and cleanup free bytes.
 */
import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { SessionVariables } from "../../src/placement/variables.js"
import { encodedSize } from "../../src/protocol/encodedSize.js"
import { VariableLimitExceeded } from "../../src/errors.js"

const KiB = 1024

describe("SessionVariables", () => {
  it("counts the encoded size: JSON text plus binary attachments", () => {
    const vars = new SessionVariables()
    vars.set("s", "text", "héllo")
    expect(vars.bytes).toBe(8)
    vars.set("s", "blob", Buffer.alloc(10 * KiB))
    expect(vars.bytes).toBe(8 + encodedSize(Buffer.alloc(10 * KiB)))
    expect(encodedSize(Buffer.alloc(10 * KiB))).toBeGreaterThan(10 * KiB)
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
    expect(vars.sessionBytes("s")).toBe(encodedSize(Buffer.alloc(12 * KiB)))
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
        const held = vars.entries(s).reduce((n, [, v]) => n + encodedSize(v), 0)
        expect(vars.sessionBytes(s)).toBe(held)
        expect(held).toBeLessThanOrEqual(limits.maxSessionVariableBytes)
        total += held
      }
      expect(vars.bytes).toBe(total)
      expect(total).toBeLessThanOrEqual(limits.maxVariableBytes)
    }
  })
})
