/**
 * Every `@example` of src/ compiles (issue 22, "every comment true"): each example block of a
 * JSDoc comment in src/**\/*.ts is written out as a module and typechecked against the real code,
 * as test/unit/docSnippets.test.ts does for README and docs/.
 *
 * An example shows a call in its context, and leaves the context out (`q`, `entry`, `logger`).
 * So a name an example uses without declaring it is resolved the way a reader resolves it:
 * an export of the example's own module, else a name that module imports, else an export of
 * an entry point (`snakepit`,
 * `snakepit/supervisor`, `snakepit/testing`, `snakepit/effect`) — imported, so the call is
 * checked against the real signature (an example may import from other modules itself, with
 * paths relative to its file); `bridge` is a `PythonBridge` (test/support/snippetGlobals.d.ts,
 * as for the docs' snippets); any other name is the context's, declared `any`.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { expect, it } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const src = join(root, "src")
// One directory per run: checkouts that share a node_modules (worktrees) may run this at once.
const out = join(root, "node_modules", ".cache", `jsdoc-examples-${process.pid}`)

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : []
  })

interface Example {
  /** `src/…/file.ts:line` of the `@example` tag. */
  readonly where: string
  readonly module: string
  readonly code: string
}

/** The `@example` blocks of one file: from the tag to the next tag or the comment's end. */
const examplesOf = (file: string): Example[] => {
  const text = readFileSync(file, "utf8")
  const found: Example[] = []
  for (const comment of text.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
    const lines = comment[1]!.split("\n").map((l) => l.replace(/^\s*\* ?/, ""))
    const startLine = text.slice(0, comment.index).split("\n").length
    for (let i = 0; i < lines.length; i++) {
      if (!/^@example\b/.test(lines[i]!.trim())) continue
      const body: string[] = []
      const inline = lines[i]!.trim().replace(/^@example\s*/, "")
      if (inline) body.push(inline)
      let j = i + 1
      for (; j < lines.length && !/^@\w+/.test(lines[j]!.trim()); j++) body.push(lines[j]!)
      // A block fenced as another language (```sh: a command line) is not TypeScript.
      const fence = body.find((l) => /^```/.test(l.trim()))?.trim().slice(3)
      const code = body.filter((l) => !/^```/.test(l.trim())).join("\n").trim()
      if (code && (fence === undefined || fence === "" || fence === "ts")) found.push({ where: `${relative(root, file)}:${startLine + i}`, module: file, code })
      i = j - 1
    }
  }
  return found
}

const files = walk(src)
const examples = files.flatMap(examplesOf)
const ENTRIES: ReadonlyArray<readonly [string, string]> = [
  ["snakepit", "index.ts"],
  ["snakepit/supervisor", "supervisor/index.ts"],
  ["snakepit/testing", "testing/index.ts"],
  ["snakepit/effect", "effect.ts"],
]

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts"],
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  strict: true,
  // A callback given to a context name (declared \`any\`) has untyped parameters: not the example's fault.
  noImplicitAny: false,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  allowImportingTsExtensions: true,
  types: ["node"],
  typeRoots: [join(root, "node_modules", "@types")],
  paths: Object.fromEntries(ENTRIES.map(([name, path]) => [name, [join(src, path)]])),
}

/** Every module's exported names (values and types), from the compiler. */
const exportsBySource = (program: ts.Program): Map<string, Set<string>> => {
  const checker = program.getTypeChecker()
  const byFile = new Map<string, Set<string>>()
  for (const file of files) {
    const sf = program.getSourceFile(file)
    const symbol = sf && checker.getSymbolAtLocation(sf)
    byFile.set(file, new Set(symbol ? checker.getExportsOfModule(symbol).map((s) => s.name) : []))
  }
  return byFile
}

/**
 * What a module's own imports bring into scope: local name → `import { … }` clause and the
 * specifier to import it with from the examples' folder (a package name as written).
 */
const importsOf = (program: ts.Program, module: string): Map<string, { clause: string; from: string }> => {
  const scope = new Map<string, { clause: string; from: string }>()
  const sf = program.getSourceFile(module)
  if (!sf) return scope
  for (const statement of sf.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue
    const spec = statement.moduleSpecifier.text
    const from = spec.startsWith(".") ? relative(out, join(dirname(module), spec)).replace(/\\/g, "/") : spec
    const bindings = statement.importClause?.namedBindings
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements) scope.set(el.name.text, { clause: el.propertyName ? `${el.propertyName.text} as ${el.name.text}` : el.name.text, from })
    }
  }
  return scope
}

const missingNames = (program: ts.Program, file: string): Set<string> => {
  const names = new Set<string>()
  for (const d of program.getSemanticDiagnostics(program.getSourceFile(file))) {
    // Cannot find name 'x' (2304, 2552 with a suggestion, 2580-2593 for well-known globals), and
    // no value for a shorthand property `{ x }` (18004).
    if (![2304, 2552, 2582, 2592, 2593, 18004].includes(d.code)) continue
    const m = /(?:Cannot find name|shorthand property) '([^']+)'/.exec(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
    if (m) names.add(m[1]!)
  }
  return names
}

it("every @example in src/ compiles against the real code", () => {
  expect(examples.length).toBeGreaterThan(200)
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const origin = new Map<string, Example>()
  // An example's own imports are written from its module's folder.
  const located = (e: Example) => e.code.replace(/(from\s+")(\.\.?\/[^"]+)"/g, (_all, from: string, spec: string) => `${from}${relative(out, join(dirname(e.module), spec)).replace(/\\/g, "/")}"`)
  examples.forEach((e, i) => {
    const file = join(out, `example_${i}.ts`)
    origin.set(file, { ...e, code: located(e) })
    writeFileSync(file, `export {}\n${located(e)}\n`)
  })
  const globals = join(root, "test", "support", "snippetGlobals.d.ts")
  const first = ts.createProgram([globals, ...files, ...origin.keys()], options)
  const exported = exportsBySource(first)
  const entryExports = ENTRIES.map(([, path]) => [join(src, path), exported.get(join(src, path)) ?? new Set<string>()] as const)
  const importPath = (module: string) => relative(out, module).replace(/\\/g, "/").replace(/\.ts$/, ".js")
  for (const [file, e] of origin) {
    const missing = missingNames(first, file)
    if (missing.size === 0) continue
    const imports = new Map<string, string[]>()
    const context: string[] = []
    const moduleImports = importsOf(first, e.module)
    for (const name of missing) {
      const from =
        (exported.get(e.module)?.has(name) ? importPath(e.module) : undefined) ??
        moduleImports.get(name)?.from ??
        ((m) => (m ? importPath(m) : undefined))(entryExports.find(([, names]) => names.has(name))?.[0])
      const clause = moduleImports.get(name)?.clause ?? name
      if (from) imports.set(from, [...(imports.get(from) ?? []), exported.get(e.module)?.has(name) ? name : clause])
      else context.push(`declare let ${name}: any\ntype ${name} = any`)
    }
    const head = [...imports].map(([from, names]) => `import { ${names.join(", ")} } from "${from}"`)
    writeFileSync(file, `export {}\n${[...head, ...context].join("\n")}\n// ---\n${e.code}\n`)
  }
  const second = ts.createProgram([globals, ...origin.keys()], options, undefined, first)
  const errors: string[] = []
  for (const [file, e] of origin) {
    const sf = second.getSourceFile(file)!
    const marker = sf.text.indexOf("// ---\n")
    const offset = marker < 0 ? 1 : sf.text.slice(0, marker).split("\n").length
    for (const d of [...second.getSyntacticDiagnostics(sf), ...second.getSemanticDiagnostics(sf)]) {
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line
      errors.push(`${e.where} +${line - offset + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`)
    }
  }
  rmSync(out, { recursive: true, force: true })
  expect(errors).toEqual([])
}, 300_000)
