import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { findCycles, pythonImports, typescriptImports } from "../support/importGraph.js"

describe("layering: no import cycles", () => {
  it("among src/ files (type-only imports included)", () => {
    const graph = typescriptImports("src")
    expect(graph.size).toBeGreaterThan(50)
    expect(findCycles(graph)).toEqual([])
  })

  it("among python/snakepit_bridge/ modules (deferred imports included)", () => {
    const graph = pythonImports("python/snakepit_bridge")
    expect(graph.get("worker.py")?.has("faults.py")).toBe(true)
    expect(findCycles(graph)).toEqual([])
  })

  it("the check finds a cycle when there is one, in both languages", () => {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-cycles-"))
    try {
      mkdirSync(join(dir, "ts", "a"), { recursive: true })
      writeFileSync(join(dir, "ts", "a", "one.ts"), `import type { Two } from "../two.js"\nexport type One = Two`)
      writeFileSync(join(dir, "ts", "two.ts"), `export { one } from "./a/one.js"\nexport type Two = 2`)
      writeFileSync(join(dir, "ts", "three.ts"), `const late = () => import("./three.js")`)
      expect(findCycles(typescriptImports(join(dir, "ts")))).toEqual([["a/one.ts", "two.ts"], ["three.ts"]])
      mkdirSync(join(dir, "py"))
      writeFileSync(join(dir, "py", "one.py"), "def f():\n    from .two import g\n")
      writeFileSync(join(dir, "py", "two.py"), "from . import (\n    one,\n)\n")
      writeFileSync(join(dir, "py", "three.py"), "from .one import f\n")
      expect(findCycles(pythonImports(join(dir, "py")))).toEqual([["one.py", "two.py"]])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
