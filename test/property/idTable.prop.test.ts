/**
 * `IdTable` (src/idTable.ts) behaves as a `Map` from whole-number ids, over arbitrary sequences
 * of sets, deletes, clears and lookups, with ids handed out in ascending order as a connection
 * does (its values in ascending id order, which is then the order they were added), and with
 * deletions during an iteration skipped as a `Map` skips them.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { IdTable } from "../../src/idTable.js"

type Op =
  | { readonly kind: "add" }
  | { readonly kind: "set"; readonly pick: number; readonly value: string }
  | { readonly kind: "delete"; readonly pick: number }
  | { readonly kind: "clear" }

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ kind: "add" as const }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("set" as const), pick: fc.nat(), value: fc.string() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }), weight: 3 },
  { arbitrary: fc.constant({ kind: "clear" as const }), weight: 1 },
)

describe("IdTable", () => {
  it("agrees with a Map on get, has, size, delete's answer and values' order (1000 runs)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const table = new IdTable<{ v: string }>()
        const model = new Map<number, { v: string }>()
        let next = 0
        for (const o of ops) {
          const ids = [...model.keys(), next, next + 1]
          if (o.kind === "add") {
            const value = { v: `#${next}` }
            table.set(next, value)
            model.set(next++, value)
          } else if (o.kind === "set") {
            const id = ids[o.pick % ids.length]!
            if (!model.has(id)) continue // only ids already handed out are set again
            const value = { v: o.value }
            table.set(id, value)
            model.set(id, value)
          } else if (o.kind === "delete") {
            const id = ids[o.pick % ids.length]!
            expect(table.delete(id)).toBe(model.delete(id))
          } else {
            table.clear()
            model.clear()
          }
          expect(table.size).toBe(model.size)
          for (const id of ids) {
            expect(table.get(id)).toBe(model.get(id))
            expect(table.has(id)).toBe(model.has(id))
          }
          expect([...table.values()]).toEqual([...model.values()])
        }
      }),
      { numRuns: 1000 },
    )
  })

  it("an entry deleted during an iteration is not visited, as with a Map", () => {
    const table = new IdTable<number>()
    for (let id = 0; id < 10; id++) table.set(id, id)
    const seen: number[] = []
    for (const v of table.values()) {
      seen.push(v)
      if (v === 2) for (const id of [3, 5, 7]) table.delete(id)
    }
    expect(seen).toEqual([0, 1, 2, 4, 6, 8, 9])
    expect(table.size).toBe(7)
  })

  it("an entry added during an iteration is not visited; string ids iterate in the order they were added", () => {
    const table = new IdTable<number>()
    table.set(0, 0)
    expect([...(function* () {
      for (const v of table.values()) {
        table.set(1, 1)
        yield v
      }
    })()]).toEqual([0])
    const named = new IdTable<string, string>()
    for (const id of ["c/2", "a/9", "__proto__", "b/1"]) named.set(id, id)
    expect([...named.values()]).toEqual(["c/2", "a/9", "__proto__", "b/1"])
    expect(named.get("__proto__")).toBe("__proto__")
  })
})
