/**
 * The docs' end-to-end examples run (issue 23, item 7): every block fenced ```ts run in
 * README.md and docs/*.md is written out as a script, bundled with esbuild and run with `node`
 * against real python3, as a user would paste it. It must exit 0 and leave no process behind; when a
 * ```text output block follows it, its stdout must be exactly that text.
 *
 * The Python modules the examples import are the docs' own ```python blocks whose first line
 * names a file (`# py/pricing.py`): each example runs in a fresh directory holding all of them,
 * so a Python block cannot drift from the TypeScript that calls it. `snakepit` resolves to
 * src/ through the directory's tsconfig `paths` (esbuild reads them), as the compile check in
 * test/unit/docSnippets.test.ts maps it. The directory is under test-artifacts/ (ignored by git)
 * so that the packages the examples import resolve from the repository.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { randomUUID } from "node:crypto"
import { build } from "esbuild"
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { eventually } from "../support/bridge.js"
import { findProcessesWithEnv } from "../support/processes.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const out = join(root, "test-artifacts", "doc-examples")
const sources = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f))]

interface Example {
  readonly where: string
  readonly code: string
  readonly output: string | undefined
}

const lineOf = (text: string, index: number) => text.slice(0, index).split("\n").length + 1

const examples: Example[] = []
const pythonFiles = new Map<string, { code: string; where: string }>()
for (const source of sources) {
  const text = readFileSync(join(root, source), "utf8")
  // A ```ts run block, and the ```text output block right after it (blank lines between allowed).
  for (const m of text.matchAll(/^```ts run\n([\s\S]*?)^```\n(?:\s*^```text output\n([\s\S]*?)^```$)?/gm)) {
    examples.push({ where: `${source}:${lineOf(text, m.index)}`, code: m[1]!, output: m[2] })
  }
  for (const m of text.matchAll(/^```python\n# (py\/[\w/]+\.py)\n([\s\S]*?)^```/gm)) {
    const where = `${source}:${lineOf(text, m.index)}`
    const seen = pythonFiles.get(m[1]!)
    if (seen && seen.code !== m[2]) throw new Error(`${m[1]} is shown twice, differently: ${seen.where} and ${where}`)
    pythonFiles.set(m[1]!, { code: m[2]!, where })
  }
}

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "ESNext",
    moduleResolution: "Bundler",
    baseUrl: root,
    paths: {
      snakepit: ["src/index.ts"],
      "snakepit/supervisor": ["src/supervisor/index.ts"],
      "snakepit/testing": ["src/testing/index.ts"],
      "snakepit/effect": ["src/effect.ts"],
    },
  },
}

/** A fresh directory for one example: its script, its tsconfig and every docs Python module. */
const prepare = (example: Example): string => {
  const dir = join(out, example.where.replace(/[/.:]/g, "_"))
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
  for (const [path, { code }] of pythonFiles) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), code)
  }
  writeFileSync(join(dir, "example.ts"), `export {}\n${example.code}`)
  return dir
}

it("the docs mark their end-to-end examples runnable (guide, sessions)", () => {
  const where = examples.map((e) => e.where.split(":")[0])
  expect(where).toContain("docs/guide.md")
  expect(where).toContain("docs/sessions.md")
})

describe.each(examples.map((e) => [e.where, e] as const))("the example at %s", (_where, example) => {
  it("runs against real Python, exits 0, prints what the docs say, and leaves no process behind", async () => {
    const dir = prepare(example)
    // Every process the example starts inherits this marker: the leak check looks for it.
    const marker = randomUUID()
    try {
      // Bundled first (the library's sources with it, through the tsconfig's paths; packages
      // stay imports), so the run is plain node: through tsx, every example compiled the library
      // again, on every test pass. The bundle sits two levels below a link to `python/`, as
      // `dist/` sits in the package, so the library finds its Python package the same way.
      const entry = join(dir, "bundle", "example", "example.mjs")
      symlinkSync(join(root, "python"), join(dir, "python"), "dir")
      await build({ entryPoints: [join(dir, "example.ts")], bundle: true, platform: "node", format: "esm", packages: "external", target: "node20", outfile: entry, tsconfig: join(dir, "tsconfig.json"), logLevel: "error" })
      const r = await execa(process.execPath, [entry], {
        cwd: dir,
        reject: false,
        // Generous: a Python start on a loaded two-core machine. A hung example is a failure (it
        // is killed, and its workers with it).
        timeout: 120_000,
        env: { SNAKEPIT_DOC_EXAMPLE: marker },
      })
      expect({ exitCode: r.exitCode, timedOut: r.timedOut, stderr: r.exitCode === 0 ? "" : r.stderr }).toEqual({ exitCode: 0, timedOut: false, stderr: "" })
      if (example.output !== undefined) expect(r.stdout.trimEnd()).toBe(example.output.trimEnd())
    } finally {
      // Workers see their host's death within moments (pipe EOF, parent-death signal).
      await eventually(() => findProcessesWithEnv("SNAKEPIT_DOC_EXAMPLE", marker).length === 0, 10_000, `no process of ${example.where} left`)
    }
  }, 150_000)
})
