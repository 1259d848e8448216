import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

// `effect`'s index loads every one of its modules: about 0.3 s more CPU for each process that
// imports snakepit (the CLI, an agent, every test file) than the modules src uses. So src imports
// Effect's modules one by one (docs/decisions.md, "Effect's modules, not its index").
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []))

/** Lines of `file` outside comments that import the `effect` index. */
const indexImports = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => !/^\s*(\*|\/\/)/.test(line) && /(from\s+|import\()["']effect["']/.test(line))

describe("src imports Effect's modules, not its index", () => {
  it("finds the files it checks", () => {
    const files = sources("src")
    expect(files.length).toBeGreaterThan(50)
    expect(files.some((f) => readFileSync(f, "utf8").includes('from "effect/Effect"'))).toBe(true)
  })

  it("no import in src names the index", () => {
    expect(sources("src").flatMap((f) => indexImports(f).map((line) => `${f}: ${line.trim()}`))).toEqual([])
  })
})
