/**
 * Which Python names a bridge may call: the admitted set of `allowedModules` and `expose`
 * (pure; checked on the host here, and again in Python by `snakepit_bridge/exposure.py`, which
 * also checks what the name resolves to).
 *
 * Rules, when either list is set:
 * - the module and the function are dotted ASCII Python identifiers;
 * - no segment starts with `"__"` (no `f.__globals__`, no `__builtins__`), whatever the lists say;
 * - `allowedModules: ["m"]` is the entry `"m.*"`: any function name under exactly module `m`
 *   (not `m.sub`, a module of its own) whose segments do not start with `"_"`;
 * - an exact entry `"m.f"` / `"m.Class.method"` admits the call whose `module + "." + fn` is
 *   that entry, `"_private"` segments included (they are named on purpose).
 * Both lists undefined: every name is admitted. That is for trusted callers only, since
 * `executePython(s, "builtins", "exec", [src])` runs code. `expose: []` admits nothing.
 *
 * @example
 * const exposure = parseExposure({ allowedModules: ["json"], expose: ["appmod.predict"] })
 * admits(exposure, "json", "dumps")            // undefined: admitted
 * admits(exposure, "appmod", "os.system")      // a refusal: "appmod" has no "appmod.*" entry
 */
import { InvalidOptions, ModuleNotAllowed } from "../errors.js"

/** The admitted set, parsed once at start (`undefined`: no list, everything admitted). */
export interface Exposure {
  /** Modules whose public functions are all admitted (`"m.*"` entries and `allowedModules`). */
  readonly modules: ReadonlySet<string>
  /** Exact names, `"module.function"`. */
  readonly names: ReadonlySet<string>
  /** The entries as given to Python (`SNAKEPIT_EXPOSE`): `"m.*"` and exact names. */
  readonly entries: readonly string[]
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * True when `name` is one or more ASCII Python identifiers joined by dots.
 *
 * @example
 * isDottedName("json.decoder") // true
 * isDottedName("<code>")       // false
 */
export const isDottedName = (name: string): boolean => name.length > 0 && name.split(".").every((s) => IDENTIFIER.test(s))

const dunder = (segment: string) => segment.startsWith("__")

/**
 * Why an `expose` entry (or an `allowedModules` name, `wildcard` true) is malformed, else
 * `undefined`.
 *
 * @example
 * entryIssue("mod.__dict__", false) // 'expose entry "mod.__dict__" has a segment starting with "__"'
 */
export const entryIssue = (entry: string, wildcard: boolean, label = "expose entry"): string | undefined => {
  const name = typeof entry !== "string" ? "" : wildcard ? entry : entry.endsWith(".*") ? entry.slice(0, -2) : entry
  if (!isDottedName(name)) {
    return `${label} ${JSON.stringify(entry)} is not ${wildcard ? "a dotted module name" : 'a dotted name such as "mod.fn", "mod.Class.method" or "mod.*"'}`
  }
  if (!wildcard && !entry.endsWith(".*") && !entry.includes(".")) return `${label} ${JSON.stringify(entry)} names no function: write "${entry}.*" or "${entry}.fn"`
  if (name.split(".").some(dunder)) return `${label} ${JSON.stringify(entry)} has a segment starting with "__"`
  return undefined
}

/**
 * Parses `allowedModules` and `expose` into the admitted set; throws `InvalidOptions` naming
 * every bad entry. `undefined` when neither list is set.
 *
 * @example
 * parseExposure({ allowedModules: ["math"], expose: ["stats.*", "model.Model.fit"] })?.entries
 * // ["math.*", "stats.*", "model.Model.fit"]
 */
export const parseExposure = (options: { readonly allowedModules?: readonly string[] | undefined; readonly expose?: readonly string[] | undefined }): Exposure | undefined => {
  const { allowedModules, expose } = options
  if (allowedModules === undefined && expose === undefined) return undefined
  const issues: string[] = []
  const modules = new Set<string>()
  const names = new Set<string>()
  for (const m of allowedModules ?? []) {
    const issue = entryIssue(m, true, "allowedModules entry")
    if (issue) issues.push(issue)
    else modules.add(m)
  }
  for (const e of expose ?? []) {
    const issue = entryIssue(e, false)
    if (issue) issues.push(issue)
    else if (e.endsWith(".*")) modules.add(e.slice(0, -2))
    else names.add(e)
  }
  if (issues.length > 0) throw new InvalidOptions({ message: `invalid options: ${issues.join("; ")}`, issues })
  return { modules, names, entries: [...[...modules].map((m) => `${m}.*`), ...names] }
}

/**
 * `undefined` when `exposure` admits calling `module.fn`, else the `ModuleNotAllowed` saying
 * which rule refused it.
 *
 * @example
 * admits(parseExposure({ allowedModules: ["json"] }), "json", "__loader__.exec_module") // ModuleNotAllowed
 */
export const admits = (exposure: Exposure | undefined, module: string, fn: string): ModuleNotAllowed | undefined => {
  if (exposure === undefined) return undefined
  // Every call is checked (twice: by the bridge and by the pool): a name admitted once is
  // found in one lookup from then on.
  if (typeof module !== "string" || typeof fn !== "string") return check(exposure, module, fn)
  const key = `${module}\u0000${fn}`
  let seen = admittedNames.get(exposure)
  if (seen?.has(key)) return undefined
  const refused = check(exposure, module, fn)
  // Long names are checked every time: a caller naming many of them must not fill memory.
  if (refused === undefined && key.length <= MAX_REMEMBERED_NAME) {
    if (seen === undefined || seen.size >= MAX_REMEMBERED) admittedNames.set(exposure, (seen = new Set()))
    seen.add(key)
  }
  return refused
}

/** Names each exposure admitted (a bounded memo of short names: refused names are never kept). */
const admittedNames = new WeakMap<Exposure, Set<string>>()
const MAX_REMEMBERED = 4_096
const MAX_REMEMBERED_NAME = 256

const check = (exposure: Exposure, module: string, fn: string): ModuleNotAllowed | undefined => {
  const refuse = (why: string, withFunction: boolean) =>
    new ModuleNotAllowed({ message: `${JSON.stringify(`${module}.${fn}`)} is not allowed: ${why}`, module, ...(withFunction ? { function: fn } : {}) })
  const known = exposure.modules.has(module) || [...exposure.names].some((n) => n.startsWith(`${module}.`))
  if (typeof module !== "string" || typeof fn !== "string" || !isDottedName(module) || !isDottedName(fn)) {
    return refuse("module and function must be dotted Python identifiers", known)
  }
  if (module.split(".").some(dunder) || fn.split(".").some(dunder)) return refuse('no segment may start with "__"', known)
  if (exposure.names.has(`${module}.${fn}`)) return undefined
  if (exposure.modules.has(module)) {
    if (fn.split(".").some((s) => s.startsWith("_"))) return refuse(`a segment starting with "_" must be named exactly by an expose entry`, true)
    return undefined
  }
  return known
    ? refuse(`it is not among the exposed names of module ${JSON.stringify(module)} (expose it, or "${module}.*")`, true)
    : refuse(`module ${JSON.stringify(module)} is in neither allowedModules nor expose`, false)
}
