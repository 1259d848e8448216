/**
 * The `snakepit` CLI as tests run it: `src/cli.ts` bundled once per test process with esbuild
 * (dependencies left as imports), so each CLI start is plain `node`, not a TypeScript compile
 * through tsx — CLI tests stay fast and stay inside their timeouts on a loaded machine. The bundle
 * sits two levels below a temporary root that links the repository's `python/` and
 * `node_modules/`, as `dist/cli.js` sits in the package, so the CLI finds its Python package the
 * same way. Never touches the repository's own `dist/`.
 *
 * @example
 * const entry = await cliEntry()
 * await execa(process.execPath, [entry, "call", "math.sqrt", "[16]"])
 */
import { randomUUID } from "node:crypto"
import { build } from "esbuild"
import { execa, type ResultPromise } from "execa"
import { afterEach, beforeAll, beforeEach } from "vitest"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { eventually } from "./bridge.js"
import { findProcessesWithEnv } from "./processes.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const bundles = new Map<string, Promise<string>>()

const bundle = async (source: string): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), "snakepit-cli-"))
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, "pkg", "dist"), { recursive: true })
  symlinkSync(join(root, "python"), join(dir, "python"), "dir")
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir")
  const outfile = join(dir, "pkg", "dist", `${basename(source, ".ts")}.mjs`)
  await build({ entryPoints: [join(root, source)], bundle: true, platform: "node", format: "esm", packages: "external", target: "node20", outfile, logLevel: "error" })
  return outfile
}

/**
 * A TypeScript entry point of the repository (`source`, relative to its root) bundled the same
 * way as the CLI, once per test process: for a test's helper that must run as its own process.
 *
 * @example
 * const entry = await bundledEntry("test/support/partitionClient.ts")
 */
export const bundledEntry = (source: string): Promise<string> => {
  let entry = bundles.get(source)
  if (!entry) bundles.set(source, (entry = bundle(source)))
  return entry
}

/** The path of the bundled CLI (built on first use in this process). */
export const cliEntry = (): Promise<string> => bundledEntry("src/cli.ts")

/**
 * Runs the bundled CLI for one test file: each test gets a fresh mark (an environment variable
 * on every process it starts), and after each test every command still running is killed and no
 * process carrying the mark may be left.
 *
 * @example
 * const cli = new CliRunner("SNAKEPIT_CLI_TEST")
 * cli.hooks()
 * it("call", async () => expect((await cli.run(["call", "math.sqrt", "[16]"])).stdout).toBe("4"))
 */
export class CliRunner {
  mark = randomUUID()
  private entry = ""
  private readonly running = new Set<ResultPromise>()

  constructor(private readonly markName: string) {}

  /** Registers the file's hooks (call inside or outside a describe, once). */
  hooks(): void {
    beforeAll(async () => {
      this.entry = await cliEntry()
    }, 60_000)
    beforeEach(() => {
      this.mark = randomUUID()
    })
    afterEach(async () => {
      for (const c of this.running) c.kill("SIGKILL")
      await Promise.allSettled(this.running)
      this.running.clear()
      await eventually(() => findProcessesWithEnv(this.markName, this.mark).length === 0, 10_000, "no process left by the command")
    })
  }

  /** Starts `snakepit <args>` in the repository (or `cwd`), marked; resolves with its result (never rejects). */
  run(args: readonly string[], env: Record<string, string> = {}, cwd: string = root) {
    return this.track(
      execa(process.execPath, [this.entry, ...args], {
        cwd,
        env: { [this.markName]: this.mark, FORCE_COLOR: "0", ...env },
        reject: false,
        timeout: 120_000,
        buffer: true,
      }),
    )
  }

  /** Kills `child` after the test too (a process the test started beside the CLI). */
  track<T extends ResultPromise>(child: T): T {
    this.running.add(child)
    return child
  }
}
