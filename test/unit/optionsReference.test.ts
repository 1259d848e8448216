/**
 * docs/options.md cannot drift from the code (issue 23, "Docs"): it is what
 * scripts/options-reference.ts generates from the option types' doc comments, every option has a
 * doc comment and a default statement, and the stated defaults of every group that has a resolver
 * (`BridgeOptions`, `restart`, `limits` through `resolveOptions({})`; the supervisor's flags and
 * child specs through `resolveFlags`, `resolveChildSpec`) are the ones it fills in.
 */
import { readFileSync } from "node:fs"
import { beforeAll, describe, expect, it } from "vitest"
import { resolveOptions } from "../../src/bridge/options.js"
import { natsClientOptions } from "../../src/remote/natsConnection.js"
import { resolveChildSpec, resolveFlags } from "../../src/supervisor/childSpec.js"
import { workerChild } from "../../src/supervisor/children.js"
import { workerMachine } from "../../src/worker/machine.js"
import { cliHelp, defaultStatement, OPTIONS_MD, readOptionGroups, renderOptionsReference, type OptionGroup } from "../../scripts/options-reference.js"

let groups: OptionGroup[]
beforeAll(() => {
  groups = readOptionGroups()
}, 120_000)

const group = (type: string) => groups.find((g) => g.type === type)!

/** What a default statement means for the resolved value: a value, "not set", or unreadable. */
type Meaning = { readonly value: unknown } | "absent" | "unreadable"

const UNITS: Record<string, number> = { "": 1, ms: 1, s: 1_000, h: 3_600_000, KiB: 1024, MiB: 1024 ** 2 }

/**
 * Reads a default statement as the resolver must see it with nothing given and no environment:
 * "30 000" → 30000, "64 MiB", "1 h", "`\"warn\"`", "false", "`maxFrameBytes`" (another option's
 * resolved value), "`$ENV`, else X" → X, "2, or … when …" → 2, "none"/"never"/"no limit" → not set.
 */
const meaning = (statement: string, resolved: Record<string, unknown>): Meaning => {
  const s = statement.replace(/\s*\(.*\)$/, "").split(/, or /)[0]!.trim()
  const env = /^`\$\w+`, else (.+)$/.exec(s)
  if (env) return meaning(env[1]!, resolved)
  if (/^(none|never|no limit)$/.test(s)) return "absent"
  if (s === "unlimited") return { value: Infinity }
  const n = /^(\d+(?: \d{3})*(?:\.\d+)?) ?(ms|s|h|KiB|MiB)?$/.exec(s)
  if (n) return { value: Number(n[1]!.replace(/ /g, "")) * UNITS[n[2] ?? ""]! }
  if (s === "false" || s === "true") return { value: s === "true" }
  const code = /^`(.+)`$/.exec(s)?.[1]
  if (code !== undefined && /^"[^"]*"$/.test(code)) return { value: JSON.parse(code) }
  if (code !== undefined && code in resolved) return { value: resolved[code] }
  return "unreadable"
}

const same = (a: unknown, b: unknown) => (typeof a === "object" && a !== null ? JSON.stringify(a) === JSON.stringify(b) : Object.is(a, b))

const isUnset = (v: unknown) => v === undefined || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && v !== null && Object.keys(v).length === 0)

/** Resolves with SNAKEPIT_PYTHON / SNAKEPIT_SPAWN_MODE as given (unset by default), then restores them. */
const resolvedWith = (env: Record<string, string | undefined> = {}) => {
  const saved = { SNAKEPIT_PYTHON: process.env.SNAKEPIT_PYTHON, SNAKEPIT_SPAWN_MODE: process.env.SNAKEPIT_SPAWN_MODE }
  try {
    for (const key of Object.keys(saved)) {
      const value = env[key]
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
    return resolveOptions({})
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

describe("the options reference", () => {
  it("docs/options.md is what scripts/options-reference.ts generates (run `npm run docs:options` after changing an option)", () => {
    expect(readFileSync(OPTIONS_MD, "utf8")).toBe(renderOptionsReference(groups))
  })

  it("every option of every group has a doc comment and a default statement (or is required)", () => {
    expect(groups.map((g) => g.options.length).every((n) => n > 0)).toBe(true)
    const undocumented = groups.flatMap((g) => g.options.filter((o) => o.doc === "").map((o) => `${g.type}.${o.name}`))
    const noDefault = groups.flatMap((g) => g.options.filter((o) => !o.required && o.group === undefined && o.default === undefined).map((o) => `${g.type}.${o.name}`))
    expect({ undocumented, noDefault }).toEqual({ undocumented: [], noDefault: [] })
  })

  it("every default it states for a group with a resolver is the one the resolver fills in", () => {
    const resolved = resolvedWith() as unknown as Record<string, unknown>
    const plain = (v: object) => v as unknown as Record<string, unknown>
    const checked = [
      { g: group("BridgeOptions"), values: resolved },
      { g: group("RestartOptions"), values: plain(resolved.restart as object) },
      { g: group("LimitsOptions"), values: plain(resolved.limits as object) },
      { g: group("SupervisorFlags"), values: plain(resolveFlags({})) },
      // The rest of a dynamic supervisor's options are SupervisorOptions', checked by review.
      { g: group("DynamicSupervisorOptions"), values: plain(resolveFlags({}, true)), only: ["intensity", "periodMs", "maxChildren", "backoff"] },
      { g: group("ChildSpec"), values: plain(resolveChildSpec({ id: "c", start: workerMachine })) },
      { g: group("ChildOptions"), values: plain(resolveChildSpec(workerChild("w", { python: "python3" }))) },
    ]
    const wrong: string[] = []
    let compared = 0
    for (const { g, values, only } of checked) {
      for (const o of g.options) {
        if (only && !only.includes(o.name)) continue
        if (o.default === undefined) continue // required, or a group of options whose fields are checked in their own table
        const m = meaning(o.default, resolved)
        const actual = values[o.name]
        compared++
        if (m === "unreadable") wrong.push(`${g.type}.${o.name}: cannot read "${o.default}" as a value`)
        else if (m === "absent" ? !isUnset(actual) : !same(actual, m.value))
          wrong.push(`${g.type}.${o.name}: the comment says ${o.default}, the resolver gives ${JSON.stringify(actual)}`)
      }
    }
    expect(wrong).toEqual([])
    expect(compared).toBeGreaterThan(60)
  })

  it("the defaults stated as an environment variable follow it", () => {
    const bridge = group("BridgeOptions").options
    expect(bridge.find((o) => o.name === "python")!.default).toMatch(/^`\$SNAKEPIT_PYTHON`, else/)
    expect(bridge.find((o) => o.name === "spawnMode")!.default).toMatch(/^`\$SNAKEPIT_SPAWN_MODE`, else/)
    const r = resolvedWith({ SNAKEPIT_PYTHON: "/opt/py/bin/python3", SNAKEPIT_SPAWN_MODE: "forkserver" })
    expect([r.python, r.spawnMode]).toEqual(["/opt/py/bin/python3", process.platform === "win32" ? "spawn" : "forkserver"])
  })

  it("the NATS connect timeout it states is the one the client is given", async () => {
    const stated = group("RemoteOptions").options.find((o) => o.name === "connectTimeoutMs")!.default!
    expect(meaning(stated, {})).toEqual({ value: natsClientOptions(await import("@nats-io/transport-node"), { servers: "nats://127.0.0.1:4222" }, "test").timeout })
  })

  it("every command-line flag is in a help text the reference shows", () => {
    const cli = readFileSync(new URL("../../src/cli.ts", import.meta.url), "utf8")
    const flagsBlock = cli.slice(cli.indexOf("const FLAGS = {"), cli.indexOf("} as const satisfies"))
    const flags = [...flagsBlock.matchAll(/^\s+"?([\w-]+)"?: \{ type:/gm)].map((m) => m[1]!)
    expect(flags.length).toBeGreaterThan(20)
    const help = [...cliHelp().values()].join("\n")
    expect(flags.filter((f) => !new RegExp(`--${f}\\b`).test(help))).toEqual([])
  })
})

describe("defaultStatement", () => {
  it.each([
    ["Upper bound on workers. Default 10.", "10"],
    ["Python executable. Default: `$SNAKEPIT_PYTHON`, else `\"python3\"`.", "`$SNAKEPIT_PYTHON`, else `\"python3\"`"],
    ["Level. Default `\"warn\"`: a library is quiet.", "`\"warn\"`"],
    ["Subject prefix (default `\"snakepit\"`).", "`\"snakepit\"`"],
    ["`\"backoff\"` (default for a bridge started with `start`). Default `\"backoff\"`.", "`\"backoff\"`"],
    ["Default 2, or `maxWorkers` when that is lower.", "2, or `maxWorkers` when that is lower"],
    ["Restarts tolerated. Default 3 (Elixir's; OTP's is 1).", "3 (Elixir's; OTP's is 1)"],
    ["Keyword arguments: a plain object.", undefined],
  ])("%s → %s", (doc, statement) => {
    expect(defaultStatement(doc)).toBe(statement)
  })
})
