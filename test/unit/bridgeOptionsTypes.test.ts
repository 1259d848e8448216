/**
 * The option types tell a user which options apply (issue 22): `BridgeOptions` is
 * `LocalBridgeOptions | RemoteBridgeOptions`, so a worker option beside `remote` is a type error,
 * while at run time `resolveOptions` still accepts what it accepted (the remote pool ignores it).
 * The type assertions are checked by `tsc -p tsconfig.json --noEmit` (this file is in the
 * project): an `@ts-expect-error` that stops erring fails the typecheck.
 */
import { describe, expect, expectTypeOf, it } from "vitest"
import { resolveOptions } from "../../src/bridge/options.js"
import type { BridgeOptions, LocalBridgeOptions, RemoteBridgeOptions, SharedBridgeOptions } from "../../src/index.js"

const remote = { nats: "nats://127.0.0.1:4222", pool: "ml" } as const

describe("BridgeOptions as a union", () => {
  it("a local-only option beside remote is a type error, and accepted (ignored) at run time as before", () => {
    // @ts-expect-error minWorkers is a local worker option: the agents' business with `remote`
    const withWorkers: BridgeOptions = { remote, minWorkers: 2 }
    // @ts-expect-error spawnMode is a local worker option
    const withSpawnMode: BridgeOptions = { remote, spawnMode: "forkserver" }
    // @ts-expect-error testing options apply to a local bridge only
    const withTesting: BridgeOptions = { remote, testing: true }
    for (const o of [withWorkers, withSpawnMode, withTesting]) expect(resolveOptions(o).remote).toEqual(remote)
  })

  it("the options shared by both kinds type-check on either", () => {
    const local: BridgeOptions = { minWorkers: 2, callTimeoutMs: 500, allowedModules: ["json"] }
    const distant: BridgeOptions = { remote, callTimeoutMs: 500, allowedModules: ["json"], sessionTtlMs: 1_000 }
    expect(resolveOptions(local).callTimeoutMs).toBe(500)
    expect(resolveOptions(distant).sessionTtlMs).toBe(1_000)
  })

  it("the union narrows on remote", () => {
    const pick = (o: BridgeOptions) => (o.remote !== undefined ? o.remote.pool : o.minWorkers)
    expectTypeOf(pick).returns.toEqualTypeOf<string | number | undefined>()
    expectTypeOf<RemoteBridgeOptions["remote"]>().not.toBeUndefined()
    expectTypeOf<LocalBridgeOptions>().toMatchTypeOf<SharedBridgeOptions>()
    expectTypeOf<RemoteBridgeOptions>().toMatchTypeOf<SharedBridgeOptions>()
    expectTypeOf<keyof RemoteBridgeOptions>().not.toEqualTypeOf<keyof LocalBridgeOptions>()
    expect(pick({ remote })).toBe("ml")
  })
})
