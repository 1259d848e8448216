/**
 * The published package works: `npm pack` builds the tarball (prepack runs the build), which is
 * installed offline, from the file and npm's cache, into an empty project; there the README's
 * quick start runs against real Python and `npx snakepit doctor` passes.
 *
 * The pack runs in a copy of the working tree (its tracked and untracked, not ignored files, with
 * node_modules linked): prepack deletes and rebuilds `dist/`, which other tests and tools running
 * beside this one may be reading in the real tree.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"
import { afterAll, expect, it } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const work = mkdtempSync(join(tmpdir(), "snakepit-pack-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/**
 * A lockfile for the empty project: snakepit from the tarball, and its production dependencies
 * exactly as this repository's lockfile resolved them (dev-only entries left out, so a runtime
 * import of a devDependency fails here). `npm ci --offline` then installs them from npm's cache,
 * which `npm ci` filled, by integrity: no registry request at all. (`resolved` is rebuilt from
 * name and version because lockfiles here omit it: omit-lockfile-registry-resolved.)
 */
const offlineLock = (tarball: string) => {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string; dev?: boolean; devOptional?: boolean; link?: boolean; dependencies?: Record<string, string>; engines?: unknown }>
  }
  const self = lock.packages[""]!
  const packages: Record<string, unknown> = {
    "": { name: "app", dependencies: { snakepit: `file:${tarball}` } },
    "node_modules/snakepit": { version: self.version, resolved: `file:${tarball}`, dependencies: self.dependencies, bin: { snakepit: "dist/cli.js" } },
  }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith("node_modules/") || entry.dev || entry.devOptional || entry.link) continue
    const name = path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)
    packages[path] = { ...entry, resolved: `https://registry.npmjs.org/${name}/-/${name.split("/").pop()}-${entry.version}.tgz` }
  }
  return { name: "app", lockfileVersion: 3, requires: true, packages }
}

const npm = (args: string[], cwd: string) => execa("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env: { npm_config_update_notifier: "false" } })

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

it("npm pack → install offline into an empty project → the quick start and doctor run there", async () => {
  const source = join(work, "source")
  await copyTree(source)
  const packed = await npm(["pack", "--json", "--pack-destination", work], source)
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>
  const files = info!.files.map((f) => f.path)
  for (const f of ["dist/index.js", "dist/index.d.ts", "dist/cli.js", "dist/supervisor/index.js", "dist/testing/index.js", "python/snakepit_bridge/__main__.py", "python/snakepit_bridge/examples/demo.py", "LICENSE", "README.md", "CHANGELOG.md"]) {
    expect(files).toContain(f)
  }
  // src/ ships so that source maps resolve inside the package (test/package/sourceMaps.test.ts).
  expect(files.filter((f) => /(^|\/)(test|bench|examples\/http-service)\/|__pycache__|\.pyc$/.test(f))).toEqual([])
  expect(files.filter((f) => f.startsWith("src/") && !f.endsWith(".ts"))).toEqual([])

  const project = join(work, "app")
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies: { snakepit: `file:../${info!.filename}` } }))
  writeFileSync(join(project, "package-lock.json"), JSON.stringify(offlineLock(`../${info!.filename}`)))
  await npm(["ci", "--offline"], project)
  writeFileSync(
    join(project, "quickstart.mjs"),
    `import { PythonBridge, toMermaid, workerMachine } from "snakepit"
import { Supervisor } from "snakepit/supervisor"
const bridge = await PythonBridge.start({ minWorkers: 2 })
try {
  const root = await bridge.executePython("s1", "math", "sqrt", [16])
  const items = []
  for await (const item of bridge.stream("s1", "itertools", "repeat", ["x", 2])) items.push(item)
  console.log(JSON.stringify({ root, items, diagram: toMermaid(workerMachine).split("\\n")[0], supervisor: typeof Supervisor.start }))
} finally {
  await bridge.stop()
}
`,
  )
  const run = await execa("node", ["quickstart.mjs"], { cwd: project })
  expect(JSON.parse(run.stdout)).toEqual({ root: 4, items: ["x", "x"], diagram: "stateDiagram-v2", supervisor: "function" })

  const doctor = await execa(join(project, "node_modules", ".bin", "snakepit"), ["doctor"], { cwd: project, reject: false })
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0)
  expect(readdirSync(join(project, "node_modules", "snakepit", "python", "snakepit_bridge"))).toContain("__main__.py")
}, 180_000)
