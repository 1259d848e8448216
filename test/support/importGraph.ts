/**
 * The import graph of our own sources, and its cycles, for the layering test
 * (test/unit/importCycles.test.ts). Type-only imports count: a type that has to be imported
 * from a module that imports you is a layering problem even if the emitted code has none.
 *
 * @example
 * findCycles(typescriptImports("src")) // [] when the layers hold
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

/** A module and the modules it imports, by path relative to the root. */
export type ImportGraph = ReadonlyMap<string, ReadonlySet<string>>

const filesUnder = (root: string, suffix: string): string[] =>
  readdirSync(root, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(suffix) && !e.parentPath.includes("__pycache__"))
    .map((e) => join(e.parentPath, e.name))

/** Every `.ts` file under `root` with its relative imports (static, `export … from`, dynamic). */
export const typescriptImports = (root: string): ImportGraph => {
  const graph = new Map<string, Set<string>>()
  for (const file of filesUnder(root, ".ts")) {
    const deps = new Set<string>()
    const text = readFileSync(file, "utf8")
    const specifiers = [
      ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.[^"']+)["']/gms),
      ...text.matchAll(/^\s*import\s+["'](\.[^"']+)["']/gm),
      ...text.matchAll(/import\(\s*["'](\.[^"']+)["']\s*\)/g),
    ]
    for (const [, specifier] of specifiers) {
      const target = resolve(dirname(file), specifier!.replace(/\.js$/, ".ts"))
      for (const candidate of [target, `${target}.ts`, join(target, "index.ts")]) {
        if (candidate.endsWith(".ts") && existsSync(candidate)) {
          deps.add(relative(root, candidate))
          break
        }
      }
    }
    graph.set(relative(root, file), deps)
  }
  return graph
}

/**
 * Every module of a flat Python package with the sibling modules it imports (`from .x import`,
 * `from . import x`, inside functions too: a deferred import is still a dependency).
 */
export const pythonImports = (packageDir: string): ImportGraph => {
  const modules = new Set(filesUnder(packageDir, ".py").map((f) => relative(packageDir, f)))
  const graph = new Map<string, Set<string>>()
  for (const module of modules) {
    const deps = new Set<string>()
    const text = readFileSync(join(packageDir, module), "utf8")
    for (const [, from, names] of text.matchAll(/^\s*from\s+\.(\w*)\s+import\s+(\([^)]*\)|[^\n]+)/gm)) {
      const targets = from ? [from] : names!.replace(/[()]/g, "").split(",").map((n) => n.trim().split(/\s+/)[0]!)
      for (const target of targets) if (modules.has(`${target}.py`)) deps.add(`${target}.py`)
    }
    graph.set(module, deps)
  }
  return graph
}

/** The graph's cycles: each strongly connected component of two or more modules (or a self-import). */
export const findCycles = (graph: ImportGraph): string[][] => {
  // Tarjan's algorithm.
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) !== index.get(v)) return
    const component: string[] = []
    let w: string
    do {
      w = stack.pop()!
      onStack.delete(w)
      component.push(w)
    } while (w !== v)
    if (component.length > 1 || graph.get(v)?.has(v)) cycles.push(component.sort())
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v)
  return cycles
}
