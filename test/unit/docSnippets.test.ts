/**
 * The docs show no API the code does not have: every ```ts block of README.md and docs/*.md is
 * compiled, as the module a user would write, against the package's entry points (mapped to
 * src/). Names a snippet assumes from its surroundings (`bridge`, `rows`, `db`, …) are declared
 * in test/support/snippetGlobals.d.ts. A block fenced ```ts no-check needs packages this
 * repository does not install (an OpenTelemetry SDK) and is skipped. A block fenced ```ts run is
 * compiled here too, and also run by test/integration/docExamples.test.ts.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"
import { expect, it } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
// One directory per run: checkouts that share a node_modules (worktrees) may run this at once.
const out = join(root, "node_modules", ".cache", `doc-snippets-${process.pid}`)

const sources = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f))]

it("every TypeScript snippet in README.md and docs/ compiles against the real API", async () => {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const origin = new Map<string, string>()
  for (const source of sources) {
    const text = readFileSync(join(root, source), "utf8")
    for (const m of text.matchAll(/^```ts(?: run)?\n([\s\S]*?)^```/gm)) {
      const line = text.slice(0, m.index).split("\n").length + 1
      const file = `${source.replace(/[/.]/g, "_")}_L${line}.ts`
      origin.set(file, `${source}:${line}`)
      writeFileSync(join(out, file), `export {}\n${m[1]}`)
    }
  }
  expect(origin.size).toBeGreaterThanOrEqual(10)
  const src = (p: string) => [join(root, "src", p)]
  writeFileSync(
    join(out, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023", "ESNext.Disposable"],
        module: "ESNext",
        moduleResolution: "Bundler",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        esModuleInterop: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
        baseUrl: root,
        paths: {
          snakepit: src("index.ts"),
          "snakepit/supervisor": src("supervisor/index.ts"),
          "snakepit/testing": src("testing/index.ts"),
          "snakepit/effect": src("effect.ts"),
          "*": [join(root, "node_modules", "*")],
        },
      },
      files: [join(root, "test", "support", "snippetGlobals.d.ts"), ...[...origin.keys()].map((f) => join(out, f))],
    }),
  )
  const tsc = await execa(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(out, "tsconfig.json")], { reject: false })
  // Report each error at the line of the Markdown file it came from.
  const errors = tsc.stdout
    .split("\n")
    .filter((l) => l.includes("error TS"))
    .map((l) => l.replace(/^.*?([^/]+\.ts)\((\d+),\d+\)/, (_all, file: string, n: string) => `${origin.get(file) ?? file} +${Number(n) - 1}`))
  rmSync(out, { recursive: true, force: true })
  expect(errors).toEqual([])
}, 120_000)
