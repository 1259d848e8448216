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
import { build } from "esbuild"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
let entry: Promise<string> | undefined

const bundle = async (): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), "snakepit-cli-"))
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, "pkg", "dist"), { recursive: true })
  symlinkSync(join(root, "python"), join(dir, "python"), "dir")
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir")
  const outfile = join(dir, "pkg", "dist", "cli.mjs")
  await build({ entryPoints: [join(root, "src", "cli.ts")], bundle: true, platform: "node", format: "esm", packages: "external", target: "node20", outfile, logLevel: "error" })
  return outfile
}

/** The path of the bundled CLI (built on first use in this process). */
export const cliEntry = (): Promise<string> => (entry ??= bundle())
