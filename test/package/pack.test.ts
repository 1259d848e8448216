/**
 * The published package works: `npm pack` builds the tarball (prepack runs the build), which a
 * plain `npm install` puts into an empty project, as a user's would (the registry resolves the
 * dependencies; `--prefer-offline` takes what npm's cache holds). The install prints no engine
 * warning on this Node (20 in CI) and brings no NATS client (optional peer dependencies); there
 * every entry point imports without them, the README's quick start runs against real Python,
 * `npx snakepit doctor` passes, and a remote pool or an agent says which packages to install.
 *
 * The pack runs in a copy of the working tree (its tracked and untracked, not ignored files, with
 * node_modules linked): prepack deletes and rebuilds `dist/`, which other tests and tools running
 * beside this one may be reading in the real tree.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"
import { afterAll, expect, it } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const work = mkdtempSync(join(tmpdir(), "snakepit-pack-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const npm = (args: string[], cwd: string, loglevel = "error") =>
  execa("npm", [...args, "--no-audit", "--no-fund", `--loglevel=${loglevel}`], { cwd, all: true, env: { npm_config_update_notifier: "false" } })

/** The working tree's files (tracked, and untracked but not ignored) copied to `into`. */
const copyTree = async (into: string) => {
  const { stdout } = await execa("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root })
  for (const file of stdout.split("\0").filter(Boolean)) {
    mkdirSync(dirname(join(into, file)), { recursive: true })
    // A tracked file deleted in the working tree is not part of it.
    try {
      cpSync(join(root, file), join(into, file))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    }
  }
  symlinkSync(join(root, "node_modules"), join(into, "node_modules"), "dir")
}

it("npm pack → npm install into an empty project: no engine warning, no NATS client; the quick start, doctor and the missing-NATS errors there", async () => {
  const source = join(work, "source")
  await copyTree(source)
  const packed = await npm(["pack", "--json", "--pack-destination", work], source)
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>
  const files = info!.files.map((f) => f.path)
  for (const f of ["dist/index.js", "dist/index.d.ts", "dist/cli.js", "dist/supervisor/index.js", "dist/testing/index.js", "python/snakepit_bridge/__main__.py", "python/snakepit_bridge/groupwatch.sh", "python/snakepit_bridge/examples/demo.py", "LICENSE", "README.md", "CHANGELOG.md"]) {
    expect(files).toContain(f)
  }
  // src/ ships so that source maps resolve inside the package (test/package/sourceMaps.test.ts).
  expect(files.filter((f) => /(^|\/)(test|bench|examples\/http-service)\/|__pycache__|\.pyc$/.test(f))).toEqual([])
  expect(files.filter((f) => f.startsWith("src/") && !f.endsWith(".ts"))).toEqual([])

  const project = join(work, "app")
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
  // npm's own warnings kept (loglevel warn): an EBADENGINE line is what a user on Node 20 saw
  // while @nats-io/nuid (engines: node >= 22) was a regular dependency.
  const install = await npm(["install", `../${info!.filename}`, "--prefer-offline"], project, "warn")
  expect(install.all).not.toMatch(/EBADENGINE|Unsupported engine/)
  expect(existsSync(join(project, "node_modules", "@nats-io")), install.all).toBe(false)
  writeFileSync(
    join(project, "quickstart.mjs"),
    `import { PythonBridge, toMermaid, workerMachine } from "snakepit"
import { Supervisor } from "snakepit/supervisor"
import * as effectApi from "snakepit/effect"
import * as testingApi from "snakepit/testing"
const bridge = await PythonBridge.start({ minWorkers: 2 })
try {
  const root = await bridge.executePython("s1", "math", "sqrt", [16])
  const items = []
  for await (const item of bridge.stream("s1", "itertools", "repeat", ["x", 2])) items.push(item)
  console.log(JSON.stringify({ root, items, diagram: toMermaid(workerMachine).split("\\n")[0], supervisor: typeof Supervisor.start, effect: typeof effectApi.executePython, testing: typeof testingApi.createFaults }))
} finally {
  await bridge.stop()
}
`,
  )
  const run = await execa("node", ["quickstart.mjs"], { cwd: project })
  expect(JSON.parse(run.stdout)).toEqual({ root: 4, items: ["x", "x"], diagram: "stateDiagram-v2", supervisor: "function", effect: "function", testing: "function" })

  // A remote pool and an agent: a typed StartupFailed naming both packages and the command,
  // before any connection attempt (nothing listens on port 1) or Python worker.
  writeFileSync(
    join(project, "remote.mjs"),
    `import { PythonBridge, RemoteAgent } from "snakepit"
const settle = (p) => p.then(() => ({ tag: "resolved" }), (e) => ({ tag: e._tag, message: e.message }))
console.log(JSON.stringify({
  remote: await settle(PythonBridge.start({ remote: { nats: "nats://127.0.0.1:1", pool: "ml" } })),
  agent: await settle(RemoteAgent.start({ servers: "nats://127.0.0.1:1", pool: "ml", bridge: { minWorkers: 1 } })),
}))
`,
  )
  const remote = JSON.parse((await execa("node", ["remote.mjs"], { cwd: project })).stdout) as Record<"remote" | "agent", { tag: string; message: string }>
  for (const [what, outcome] of [["a remote pool (the `remote` option)", remote.remote], ["a snakepit agent", remote.agent]] as const) {
    expect(outcome.tag).toBe("StartupFailed")
    expect(outcome.message).toContain(`${what} needs the NATS client packages @nats-io/transport-node and @nats-io/kv`)
    expect(outcome.message).toContain("npm install @nats-io/transport-node@^3.4.0 @nats-io/kv@^3.4.0")
  }
  const agentCli = await execa(join(project, "node_modules", ".bin", "snakepit"), ["agent", "--nats", "nats://127.0.0.1:1", "--pool", "ml"], { cwd: project, reject: false })
  expect(agentCli.exitCode, agentCli.stderr).toBe(1)
  expect(agentCli.stderr).toContain("StartupFailed: a snakepit agent needs the NATS client packages @nats-io/transport-node and @nats-io/kv")
  expect(agentCli.stderr).toContain("npm install @nats-io/transport-node@^3.4.0 @nats-io/kv@^3.4.0")

  const doctor = await execa(join(project, "node_modules", ".bin", "snakepit"), ["doctor"], { cwd: project, reject: false })
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0)
  expect(readdirSync(join(project, "node_modules", "snakepit", "python", "snakepit_bridge"))).toContain("__main__.py")
}, 600_000)
