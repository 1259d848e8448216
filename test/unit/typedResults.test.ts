/**
 * Typed results (issue 20): `executePython<T>()`, `stream<T>()`, their `BridgeSession`
 * counterparts and the Effect API take the result type as a parameter, `unknown` by default.
 * Nothing changes at run time, so these are type assertions: `npm run typecheck` (tsc over
 * test/) fails on a wrong one; vitest only runs the empty bodies.
 */
import type { Effect, Stream } from "effect"
import { describe, expectTypeOf, it } from "vitest"
import type { BridgeSession, PythonBridge } from "../../src/index.js"
import type { Bridge, SnakepitError } from "../../src/effect.js"
import { executePython, stream } from "../../src/effect.js"

/** Never called: only its types are checked (a real bridge is not needed for that). */
const typesOf = (_check: (bridge: PythonBridge, session: BridgeSession) => void): void => {}

describe("typed results", () => {
  it("executePython and stream default to unknown", () => {
    typesOf((bridge, session) => {
      expectTypeOf(bridge.executePython(null, "m", "f")).toEqualTypeOf<Promise<unknown>>()
      expectTypeOf(bridge.stream(null, "m", "gen")).toEqualTypeOf<AsyncGenerator<unknown>>()
      expectTypeOf(session.executePython("m", "f")).toEqualTypeOf<Promise<unknown>>()
      expectTypeOf(session.stream("m", "gen")).toEqualTypeOf<AsyncGenerator<unknown>>()
    })
  })

  it("executePython<T> resolves to T, stream<T> yields T, on the bridge and on a session", () => {
    typesOf((bridge, session) => {
      expectTypeOf(bridge.executePython<number>(null, "math", "sqrt", [16])).toEqualTypeOf<Promise<number>>()
      expectTypeOf(bridge.stream<{ row: number }>("s", "m", "rows", [])).toEqualTypeOf<AsyncGenerator<{ row: number }>>()
      expectTypeOf(session.executePython<string[]>("m", "labels")).toEqualTypeOf<Promise<string[]>>()
      expectTypeOf(session.stream<bigint>("m", "gen")).toEqualTypeOf<AsyncGenerator<bigint>>()
    })
  })

  it("an unknown result must be narrowed before use; a typed one need not", () => {
    typesOf(async (bridge) => {
      const untyped = await bridge.executePython(null, "math", "sqrt", [16])
      // @ts-expect-error: unknown is not a number
      untyped.toFixed(2)
      const typed = await bridge.executePython<number>(null, "math", "sqrt", [16])
      typed.toFixed(2)
    })
  })

  it("the Effect API carries the result type in its success channel", () => {
    expectTypeOf(executePython("s", "m", "f")).toEqualTypeOf<Effect.Effect<unknown, SnakepitError, Bridge>>()
    expectTypeOf(executePython<number>("s", "math", "sqrt", [16])).toEqualTypeOf<Effect.Effect<number, SnakepitError, Bridge>>()
    expectTypeOf(stream("s", "m", "gen")).toEqualTypeOf<Stream.Stream<unknown, SnakepitError, Bridge>>()
    expectTypeOf(stream<string>("s", "m", "gen")).toEqualTypeOf<Stream.Stream<string, SnakepitError, Bridge>>()
  })
})
