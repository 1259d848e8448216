/**
 * The NATS client is an optional peer dependency (issue 23, item 1): with every `@nats-io/*`
 * package unresolvable (test/hosts/hideNats.mjs), all of snakepit's entry points import and a
 * local pool runs a real Python call; a remote pool and an agent reject with `StartupFailed`
 * naming the two packages and the command that installs them, before any connection or worker.
 * (test/package/pack.test.ts checks the same on the packed, installed package.)
 */
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"
import { pythonCommand } from "../support/worker.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

it("without @nats-io every entry point imports and a local call runs; remote and agent say what to install", async () => {
  const r = await execa(process.execPath, ["--import", "tsx", "--import", join(root, "test/hosts/hideNats.mjs"), join(root, "test/hosts/withoutNats.ts"), pythonCommand], {
    cwd: root,
    reject: false,
    timeout: 120_000,
  })
  expect(r.exitCode, r.stderr).toBe(0)
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<"remote" | "agent" | "again", { tag: string; message: string }> & { local: unknown; entries: string[] }
  expect(out.local).toBe(4)
  expect(out.entries).toEqual(["function", "function", "function", "function"])
  for (const [what, outcome] of [["a remote pool (the `remote` option)", out.remote], ["a snakepit agent", out.agent], ["a remote pool (the `remote` option)", out.again]] as const) {
    expect(outcome.tag).toBe("StartupFailed")
    expect(outcome.message).toContain(`${what} needs the NATS client packages @nats-io/transport-node and @nats-io/kv`)
    expect(outcome.message).toContain("npm install @nats-io/transport-node@^3.4.0 @nats-io/kv@^3.4.0")
    expect(outcome.message).toContain("hidden by test/hosts/hideNats.mjs")
  }
}, 150_000)
