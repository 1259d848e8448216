/**
 * Generates docs/options.md, the options reference, from the option types themselves: each
 * option's name, type and doc comment are read with the TypeScript compiler API, and its default
 * is the comment's own default statement ("Default 30 000.", "(default `"snakepit"`)"). Run it
 * with `npm run docs:options` after changing an option; test/unit/optionsReference.test.ts fails
 * while docs/options.md differs from what this writes, while an option has no doc comment or no
 * default statement, and while a stated default differs from what the group's resolver fills in
 * (`resolveOptions({})` for the bridge, `resolveFlags`/`resolveChildSpec` for supervisors).
 *
 * Why the default is read from the comment rather than printed from the resolver: the comment is
 * what an editor shows on hover, so it must be right anyway, and it says what a value cannot
 * ("2, or `maxWorkers` when that is lower", "`$SNAKEPIT_PYTHON`, else `"python3"`", "`maxFrameBytes`");
 * the resolver's output depends on the environment it runs in (`SNAKEPIT_SPAWN_MODE` under
 * `npm run test:forkserver`) and covers only the bridge's own options. So the text has one
 * source, and the resolver checks it.
 *
 * @example
 * node --import tsx scripts/options-reference.ts          # writes docs/options.md
 * const md = renderOptionsReference(readOptionGroups())   // the same text, in a test
 */
import { writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import ts from "typescript"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

/** One option as its type declares it. */
export interface OptionDoc {
  readonly name: string
  /** The declared type, as written in the source (`readonly` dropped). */
  readonly type: string
  readonly required: boolean
  /** The doc comment's text, on one line ("" when there is none). */
  readonly doc: string
  /** The default statement's value ("30 000", "`\"warn\"`"), or undefined when the comment has none. */
  readonly default: string | undefined
  /** The documented group this option's type is (its fields have their own table), if any. */
  readonly group: string | undefined
}

/** One table: the options of one interface. */
export interface OptionGroup {
  /** The exported interface (`BridgeOptions`). */
  readonly type: string
  /** Where it is used, for the heading. */
  readonly title: string
  /** Prefix of each option's name in the table (`restart.`). */
  readonly prefix: string
  readonly options: readonly OptionDoc[]
}

/** The public option interfaces, in the order the reference shows them, and the entry point that exports each. */
export const GROUPS: ReadonlyArray<{ type: string; title: string; prefix: string; from?: "supervisor" }> = [
  { type: "BridgeOptions", title: "`PythonBridge.start(options)`: `LocalBridgeOptions | RemoteBridgeOptions`; an option marked *Local only.* is a type error beside `remote`", prefix: "" },
  { type: "RestartOptions", title: "`restart`: how the pool restarts workers", prefix: "restart." },
  { type: "LimitsOptions", title: "`limits`: bounds on values and variables", prefix: "limits." },
  { type: "ExecuteOptions", title: "Per call: `executePython`, `executeCode`, `stream`, and a session's calls", prefix: "" },
  { type: "MapOptions", title: "`bridge.map(session, module, fn, inputs, options)`: the batch path (a call's options, per chunk, and these)", prefix: "" },
  { type: "StopOptions", title: "`bridge.stop(options)`", prefix: "" },
  { type: "DashboardOptions", title: "`bridge.serveDashboard(options)` and the `dashboard` option", prefix: "" },
  { type: "RemoteOptions", title: "`remote`: a pool of agents over NATS", prefix: "remote." },
  { type: "AgentOptions", title: "`RemoteAgent.start(options)`", prefix: "" },
  { type: "SupervisorOptions", title: "`Supervisor.start(options)` (`snakepit/supervisor`)", prefix: "", from: "supervisor" },
  { type: "SupervisorFlags", title: "`flags`: a supervisor's restart rules", prefix: "flags.", from: "supervisor" },
  { type: "DynamicSupervisorOptions", title: "`DynamicSupervisor.start(options)`", prefix: "", from: "supervisor" },
  { type: "ChildSpec", title: "A supervisor's child, as a spec", prefix: "", from: "supervisor" },
  { type: "ChildOptions", title: "The last argument of `workerChild`, `supervisorChild` and `bridgeChild`", prefix: "", from: "supervisor" },
  { type: "NestedSupervisor", title: "`supervisorChild(id, nested)`", prefix: "", from: "supervisor" },
]

/**
 * The value of a doc comment's default statement: a sentence "Default X." / "Default: X." or
 * a parenthesis "(default X)". X ends at the first `.`, `;` or `:` followed by a space (or the
 * end), or at the parenthesis' close, outside backticks and outside parentheses of its own.
 *
 * @example
 * defaultStatement("Upper bound on workers. Default 10.")           // "10"
 * defaultStatement("Subject prefix (default `\"snakepit\"`).")       // "`\"snakepit\"`"
 */
export const defaultStatement = (doc: string): string | undefined => {
  const start = /(?:^|[.;]\s+|\()\s*default:?\s+/gi
  for (let m = start.exec(doc); m !== null; m = start.exec(doc)) {
    const inParens = m[0].trimStart().startsWith("(")
    // "(default for a bridge started with …)" is prose about a default, not a statement of it.
    if (/^(?:for|when|with|if)\b/.test(doc.slice(m.index + m[0].length))) continue
    let quoted = false
    let depth = 0 // parentheses opened inside the value ("3 (Elixir's; OTP's is 1)")
    let i = m.index + m[0].length
    for (; i < doc.length; i++) {
      const c = doc[i]!
      if (c === "`") quoted = !quoted
      if (quoted) continue
      if (c === "(") depth++
      else if (c === ")" && depth > 0) depth--
      else if (depth > 0) continue
      else if (inParens ? c === ")" : /[.;:]/.test(c) && (i + 1 === doc.length || /\s/.test(doc[i + 1]!))) break
    }
    return doc.slice(m.index + m[0].length, i).trim()
  }
  return undefined
}

/**
 * Reads every group's options from the sources (a program over `src/index.ts`).
 *
 * @example
 * readOptionGroups()[0]!.options.find((o) => o.name === "maxWorkers")!.default // "10"
 */
export const readOptionGroups = (): OptionGroup[] => {
  const entry = join(root, "src", "index.ts")
  const supervisorEntry = join(root, "src", "supervisor", "index.ts")
  const program = ts.createProgram([entry, supervisorEntry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  })
  const checker = program.getTypeChecker()
  const exportsOf = (file: string) => new Map(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)!)!).map((s) => [s.name, s]))
  const exported = { main: exportsOf(entry), supervisor: exportsOf(supervisorEntry) }
  const names = new Set(GROUPS.map((g) => g.type))
  return GROUPS.map(({ type, title, prefix, from }) => {
    const symbol = exported[from ?? "main"].get(type)
    if (!symbol) throw new Error(`${type} is not exported by ${from === "supervisor" ? "src/supervisor/index.ts" : "src/index.ts"}`)
    const declared = checker.getDeclaredTypeOfSymbol(symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol)
    const option = (p: ts.Symbol, only: string | undefined): OptionDoc => {
      const decl = (p.valueDeclaration ?? p.declarations?.[0]) as ts.PropertySignature | undefined
      const typeText = typeTextOf(p)
      // `{@link X}` reads as the name it links to: the reference has no API links.
      const doc = ts.displayPartsToString(p.getDocumentationComment(checker)).replace(/\{@link\s+([^}|\s]+)\s*(?:\|[^}]*)?\}/g, "`$1`").replace(/\s+/g, " ").trim()
      // A kind of a union group (`LocalBridgeOptions` of `BridgeOptions`) links to the union's table.
      const group = names.has(typeText) ? typeText : names.has(typeText.replace(/^(Local|Remote)(?=BridgeOptions$)/, "")) ? typeText.replace(/^(Local|Remote)/, "") : undefined
      const required = only === undefined && (p.flags & ts.SymbolFlags.Optional) === 0 && decl !== undefined
      return { name: p.name, type: typeText, required, doc: only === undefined ? doc : `*${only} only.* ${doc}`, default: defaultStatement(doc), group }
    }
    const typeTextOf = (p: ts.Symbol) => {
      const decl = (p.valueDeclaration ?? p.declarations?.[0]) as ts.PropertySignature | undefined
      return (decl?.type?.getText() ?? checker.typeToString(checker.getTypeOfSymbol(p))).replace(/\breadonly /g, "").replace(/\s+/g, " ")
    }
    if (!declared.isUnion()) return { type, title, prefix, options: checker.getPropertiesOfType(declared).map((p) => option(p, undefined)) }
    // A union of option kinds (`BridgeOptions`: local | remote): one table of every option, each
    // one not in every kind marked with the kinds it belongs to ("Local only."). A property a kind
    // declares as `undefined` only says the option is not of that kind.
    const kinds = declared.types.map((t) => ({
      name: (t.aliasSymbol ?? t.getSymbol())!.name.replace(/BridgeOptions$/, ""),
      props: checker.getPropertiesOfType(t).filter((p) => typeTextOf(p) !== "undefined"),
    }))
    const seen = new Set<string>()
    const options: OptionDoc[] = []
    for (const { props } of kinds) {
      for (const p of props) {
        if (seen.has(p.name)) continue
        seen.add(p.name)
        const of = kinds.filter((k) => k.props.some((q) => q.name === p.name)).map((k) => k.name)
        options.push(option(p, of.length === kinds.length ? undefined : of.join(", ")))
      }
    }
    return { type, title, prefix, options }
  })
}

const cell = (s: string) => s.replace(/\|/g, "\\|")
const anchor = (type: string) => `#${type.toLowerCase()}`

/** The default column: "required", the statement, or (an option that is a group of options) each of its fields' own. */
const defaultCell = (o: OptionDoc): string => {
  if (o.required) return "required"
  if (o.default !== undefined) return o.default
  return o.group ? "each field's default" : "**missing**"
}

/**
 * docs/options.md's text.
 *
 * @example
 * writeFileSync("docs/options.md", renderOptionsReference(readOptionGroups()))
 */
export const renderOptionsReference = (groups: readonly OptionGroup[]): string => {
  const lines = [
    "# Options reference",
    "",
    "<!-- Generated by scripts/options-reference.ts from the option types' doc comments: do not edit.",
    "     Change the comment in src/ and run `npm run docs:options`; test/unit/optionsReference.test.ts",
    "     fails while this file is out of date, and checks the stated defaults against the resolvers. -->",
    "",
    "Every option snakepit's API takes, with its type and its default, from the doc comments of the",
    "option types (your editor shows the same text on hover). A misspelled option is refused with",
    "`InvalidOptions` and a suggestion, never ignored. The command line's flags are at the end.",
    "",
  ]
  for (const g of groups) {
    lines.push(`## ${g.type}`, "", `${g.title}.`, "", "| option | type | default | description |", "|---|---|---|---|")
    for (const o of g.options) {
      const type = o.group ? `[${o.type}](${anchor(o.group)})` : `\`${cell(o.type)}\``
      lines.push(`| \`${g.prefix}${o.name}\` | ${type} | ${cell(defaultCell(o))} | ${cell(o.doc)} |`)
    }
    lines.push("")
  }
  lines.push("## Command line", "", "`npx snakepit <command> --help` prints these; they are the help texts of `src/cli.ts`.", "")
  for (const [command, text] of cliHelp()) lines.push(`### \`snakepit${command === "main" ? "" : ` ${command}`}\``, "", "```text", text.trimEnd(), "```", "")
  return `${lines.join("\n").trimEnd()}\n`
}

/**
 * The CLI's help texts (`HELP` in src/cli.ts), read from the source: importing the CLI would run it.
 *
 * @example
 * cliHelp().get("call") // "usage: snakepit call <module.function> …"
 */
export const cliHelp = (): Map<string, string> => {
  const file = join(root, "src", "cli.ts")
  const source = ts.createSourceFile(file, ts.sys.readFile(file)!, ts.ScriptTarget.ES2022, true)
  const help = new Map<string, string>()
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && node.name.getText() === "HELP" && node.initializer && ts.isObjectLiteralExpression(node.initializer)) {
      for (const p of node.initializer.properties) {
        if (ts.isPropertyAssignment(p) && ts.isNoSubstitutionTemplateLiteral(p.initializer)) help.set(p.name.getText(), p.initializer.text)
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return help
}

/** Where the reference is written. */
export const OPTIONS_MD = join(root, "docs", "options.md")

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(OPTIONS_MD, renderOptionsReference(readOptionGroups()))
  console.log(`wrote ${OPTIONS_MD}`)
}
