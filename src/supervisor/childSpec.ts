/**
 * Supervisor flags and child specs, their defaults and their validation: OTP's
 * `sup_flags()` and `child_spec()`, with Elixir's intensity defaults.
 *
 * Validation collects every problem, not just the first, and rejects the combinations OTP
 * rejects (a `significant` permanent child, `significant` under `autoShutdown: "never"`,
 * duplicate ids, a negative intensity, a non-positive period, a negative shutdown time).
 *
 * @example
 * const flags = resolveFlags({ strategy: "one_for_all" })       // intensity 3, periodMs 5000
 * const spec = resolveChildSpec({ id: "db", start: dbMachine }) // permanent, 5000 ms, worker
 */
import type { AnyActorLogic, AnyActorRef, Snapshot } from "xstate"
import { misspelledKeys } from "../didYouMean.js"
import { InvalidOptions } from "../errors.js"
import type { BackoffOptions } from "./backoff.js"

/** Which children a failure takes down with it (OTP restart strategies). */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one"

/** When a child is restarted: always, only after an abnormal exit, or never. */
export type RestartType = "permanent" | "transient" | "temporary"

/** How a child is stopped: graceful for up to `ms`, at once (`brutal_kill`), or waiting forever. */
export type Shutdown = number | "brutal_kill" | "infinity"

/** When the supervisor ends itself because significant children ended (OTP ≥ 24). */
export type AutoShutdown = "never" | "any_significant" | "all_significant"

/**
 * What a child's start says, read from its snapshot by the spec's `ready` (OTP's return of a
 * child's start function): `false` not yet; `true` started (`{ok, Pid}`); `{ info }` started,
 * with extra information handed back unchanged to `startChildWithInfo`/`restartChild`
 * (`{ok, Pid, Info}`); `"ignore"` nothing to run (`ignore`): the child actor is stopped and the
 * child is recorded as not running (a temporary one, or one of a dynamic supervisor, is not
 * kept), and `restartChild` can start it later.
 *
 * @example
 * import type { Snapshot } from "xstate"
 * const ready = (s: Snapshot<unknown>): StartResult => (s as { value?: string }).value === "disabled" ? "ignore" : (s as { value?: string }).value === "up"
 */
export type StartResult = boolean | "ignore" | { readonly info: unknown }

/** Supervisor flags as the user writes them; every field has a default. */
export interface SupervisorFlags {
  /**
   * Which children restart when one must: itself (`one_for_one`), all of them (`one_for_all`),
   * or it and those started after it (`rest_for_one`). Default `"one_for_one"`.
   */
  readonly strategy?: Strategy
  /** Restarts tolerated within `periodMs`. Default 3 (Elixir's; OTP's is 1). */
  readonly intensity?: number
  /** The intensity window. Default 5 000 ms (Elixir's and OTP's 5 s). */
  readonly periodMs?: number
  /**
   * Whether the supervisor stops by itself when significant children have ended: `never`,
   * `any_significant` or `all_significant` (OTP ≥ 24). Default `"never"`.
   */
  readonly autoShutdown?: AutoShutdown
  /** Optional delay before restarts (an extension; OTP restarts at once). Default: none. */
  readonly backoff?: BackoffOptions
  /** Dynamic supervisors only: `startChild` refuses beyond this many children. Default unlimited. */
  readonly maxChildren?: number
}

/** Flags with every default filled in. */
export interface ResolvedFlags {
  readonly strategy: Strategy
  readonly intensity: number
  readonly periodMs: number
  readonly autoShutdown: AutoShutdown
  readonly backoff: BackoffOptions | undefined
  readonly maxChildren: number
  /** Dynamic (Elixir's DynamicSupervisor): no initial children, one_for_one, concurrent shutdown. */
  readonly dynamic: boolean
}

/**
 * A child as the user writes it. `start` is the child's actor logic: a Python worker
 * (`workerChild`), another supervisor (`supervisorChild`), or any XState logic.
 *
 * The child contract: it may end with an output `{ reason }`; `"normal"` and `"shutdown"` are
 * clean exits, anything else (and an actor error) is abnormal. On `{ type: "snakepit.shutdown" }`
 * it should stop cleanly; after `shutdown` ms it is stopped by force.
 */
export interface ChildSpec {
  /** Names the child among its siblings (unique), in status, events and errors. */
  readonly id: string
  /** The child's actor logic: `workerMachine`, `supervisorMachine`, or your own. */
  readonly start: AnyActorLogic
  /** The child's input, evaluated at every (re)start. Default: none. */
  readonly input?: () => unknown
  /** When the child is restarted: always (`permanent`), after an abnormal exit (`transient`), or never (`temporary`). Default `"permanent"`. */
  readonly restart?: RestartType
  /** How long a stop waits for the child before killing it, in ms, or `"brutal_kill"`/`"infinity"`. Default 5 000 (`"infinity"` for a supervisor, as OTP). */
  readonly shutdown?: Shutdown
  /** Whether the child is a worker or a supervisor (its shutdown default, `count_children`). Default `"worker"`. */
  readonly type?: "worker" | "supervisor"
  /** Its end counts toward `autoShutdown`. Only for transient or temporary children under an `autoShutdown` supervisor. Default false. */
  readonly significant?: boolean
  /**
   * When the child counts as started (OTP's `start` returning `{ok, Pid}`): the supervisor
   * starts the next child only then. Default: none (as soon as it is spawned). A child that ends
   * before it is ready has failed to start. Return `"ignore"` or `{ info }` for OTP's other
   * start results (see {@link StartResult}).
   *
   * @example
   * ready: (s) => (s.value === "disabled" ? "ignore" : s.value === "running" ? { info: s.context.port } : false)
   */
  readonly ready?: (snapshot: Snapshot<unknown>) => StartResult
}

/** A child spec with every default filled in. */
export interface ResolvedChildSpec {
  readonly id: string
  readonly start: AnyActorLogic
  readonly input: (() => unknown) | undefined
  readonly restart: RestartType
  readonly shutdown: Shutdown
  readonly type: "worker" | "supervisor"
  readonly significant: boolean
  readonly ready: ((snapshot: Snapshot<unknown>) => StartResult) | undefined
}

/** What a running child looks like from outside. */
export type ChildRef = AnyActorRef

const STRATEGIES: ReadonlyArray<Strategy> = ["one_for_one", "one_for_all", "rest_for_one"]
const RESTARTS: ReadonlyArray<RestartType> = ["permanent", "transient", "temporary"]
const AUTO: ReadonlyArray<AutoShutdown> = ["never", "any_significant", "all_significant"]

const isNonNegativeInteger = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0

const isPlainObject = (v: unknown): boolean => v !== null && typeof v === "object" && !Array.isArray(v)

const FLAG_KEYS = Object.keys({ strategy: 1, intensity: 1, periodMs: 1, autoShutdown: 1, backoff: 1, maxChildren: 1 } satisfies Record<keyof SupervisorFlags, 1>)
const BACKOFF_KEYS = Object.keys({ minMs: 1, maxMs: 1, randomFactor: 1, resetAfterMs: 1 } satisfies Record<keyof BackoffOptions, 1>)
const SPEC_KEYS = Object.keys({ id: 1, start: 1, input: 1, restart: 1, shutdown: 1, type: 1, significant: 1, ready: 1 } satisfies Record<keyof ChildSpec, 1>)

const flagIssues = (flags: SupervisorFlags, dynamic: boolean): string[] => {
  // OTP refuses flags that are neither a map nor a 3-tuple (invalid_type) instead of running with defaults.
  if (!isPlainObject(flags)) return [`flags must be an object, got ${Array.isArray(flags) ? "an array" : String(flags)} (OTP: invalid_type)`]
  // A misspelled flag is refused: `stratgy: "one_for_all"` would otherwise run one_for_one. A key
  // unlike every flag is ignored, as OTP ignores it.
  const issues = misspelledKeys(flags, "", FLAG_KEYS, "a supervisor flag")
  if (flags.strategy !== undefined && !STRATEGIES.includes(flags.strategy)) issues.push(`strategy must be one of ${STRATEGIES.join(", ")}, got ${String(flags.strategy)}`)
  if (dynamic && flags.strategy !== undefined && flags.strategy !== "one_for_one") issues.push("a dynamic supervisor is one_for_one only")
  if (flags.intensity !== undefined && !isNonNegativeInteger(flags.intensity)) issues.push(`intensity must be an integer ≥ 0, got ${String(flags.intensity)}`)
  if (flags.periodMs !== undefined && !(typeof flags.periodMs === "number" && flags.periodMs > 0 && Number.isFinite(flags.periodMs))) {
    issues.push(`periodMs must be a number > 0, got ${String(flags.periodMs)}`)
  }
  if (flags.autoShutdown !== undefined && !AUTO.includes(flags.autoShutdown)) issues.push(`autoShutdown must be one of ${AUTO.join(", ")}, got ${String(flags.autoShutdown)}`)
  if (dynamic && flags.autoShutdown !== undefined && flags.autoShutdown !== "never") issues.push("a dynamic supervisor has no autoShutdown")
  if (flags.maxChildren !== undefined && !(isNonNegativeInteger(flags.maxChildren) || flags.maxChildren === Infinity)) {
    issues.push(`maxChildren must be an integer ≥ 0, got ${String(flags.maxChildren)}`)
  }
  const b = flags.backoff
  if (b !== undefined && (typeof b !== "object" || b === null)) issues.push(`backoff must be an object of { minMs, maxMs, randomFactor, resetAfterMs }, got ${String(b)}`)
  else if (b !== undefined) {
    issues.push(...misspelledKeys(b, "backoff.", BACKOFF_KEYS, "a backoff option"))
    if (!(b.minMs >= 0)) issues.push(`backoff.minMs must be ≥ 0, got ${String(b.minMs)}`)
    if (!(b.maxMs >= b.minMs)) issues.push(`backoff.maxMs must be ≥ backoff.minMs, got ${String(b.maxMs)}`)
    if (!(b.randomFactor >= 0)) issues.push(`backoff.randomFactor must be ≥ 0, got ${String(b.randomFactor)}`)
    if (b.resetAfterMs !== undefined && !(b.resetAfterMs >= 0)) issues.push(`backoff.resetAfterMs must be ≥ 0, got ${String(b.resetAfterMs)}`)
  }
  return issues
}

/** What XState's `createActor` calls on any logic: a start without them fails only when it runs. */
const isActorLogic = (start: unknown): boolean => {
  const logic = start as { transition?: unknown; getInitialSnapshot?: unknown } | null | undefined
  return typeof logic === "object" && logic !== null && typeof logic.transition === "function" && typeof logic.getInitialSnapshot === "function"
}

/** `autoShutdown` undefined: the supervisor is not known, so `significant` is not checked against it. */
const specIssues = (spec: ChildSpec, autoShutdown: AutoShutdown | undefined): string[] => {
  const issues: string[] = []
  const name = typeof spec?.id === "string" ? `child ${JSON.stringify(spec.id)}` : "a child"
  if (typeof spec?.id !== "string" || spec.id === "") issues.push(`${name}: id must be a non-empty string`)
  issues.push(...misspelledKeys(spec, `${name}: `, SPEC_KEYS, "a child spec field"))
  if (!isActorLogic(spec?.start)) {
    issues.push(`${name}: start must be XState actor logic (a machine, fromPromise, fromCallback, …)`)
  }
  if (spec?.restart !== undefined && !RESTARTS.includes(spec.restart)) issues.push(`${name}: restart must be one of ${RESTARTS.join(", ")}, got ${String(spec.restart)}`)
  if (spec?.type !== undefined && spec.type !== "worker" && spec.type !== "supervisor") issues.push(`${name}: type must be worker or supervisor, got ${String(spec.type)}`)
  const s = spec?.shutdown
  if (s !== undefined && s !== "brutal_kill" && s !== "infinity" && !isNonNegativeInteger(s)) {
    issues.push(`${name}: shutdown must be an integer ms ≥ 0, "brutal_kill" or "infinity", got ${String(s)}`)
  }
  // Any truthy value would make the child significant at runtime, so only a boolean is accepted.
  if (spec?.significant !== undefined && typeof spec.significant !== "boolean") {
    issues.push(`${name}: significant must be true or false, got ${JSON.stringify(spec.significant) ?? String(spec.significant)} (OTP: invalid_significant)`)
  }
  if (spec?.significant === true) {
    if ((spec.restart ?? "permanent") === "permanent") issues.push(`${name}: a permanent child cannot be significant (OTP rejects it)`)
    if (autoShutdown === "never") issues.push(`${name}: significant children need autoShutdown any_significant or all_significant (OTP rejects it)`)
  }
  if (spec?.input !== undefined && typeof spec.input !== "function") issues.push(`${name}: input must be a function returning the child's input`)
  if (spec?.ready !== undefined && typeof spec.ready !== "function") issues.push(`${name}: ready must be a function of the child's snapshot`)
  return issues
}

const invalid = (what: string, issues: string[]) => new InvalidOptions({ message: `invalid ${what}: ${issues.join("; ")}`, issues })

/**
 * Fills in the flag defaults, or throws `InvalidOptions` listing every problem.
 *
 * @example
 * resolveFlags({ intensity: 0 }) // { strategy: "one_for_one", intensity: 0, periodMs: 5000, … }
 */
export const resolveFlags = (flags: SupervisorFlags = {}, dynamic = false): ResolvedFlags => {
  const issues = flagIssues(flags, dynamic)
  if (issues.length > 0) throw invalid("supervisor flags", issues)
  return {
    strategy: flags.strategy ?? "one_for_one",
    intensity: flags.intensity ?? 3,
    periodMs: flags.periodMs ?? 5_000,
    autoShutdown: flags.autoShutdown ?? "never",
    backoff: flags.backoff,
    maxChildren: flags.maxChildren ?? Infinity,
    dynamic,
  }
}

/**
 * Fills in one child's defaults, or throws `InvalidOptions` listing every problem.
 *
 * @example
 * resolveChildSpec({ id: "sub", start: supervisorMachine, type: "supervisor" }).shutdown // "infinity"
 */
export const resolveChildSpec = (spec: ChildSpec, autoShutdown: AutoShutdown = "never"): ResolvedChildSpec => {
  const issues = specIssues(spec, autoShutdown)
  if (issues.length > 0) throw invalid("child spec", issues)
  const type = spec.type ?? "worker"
  return {
    id: spec.id,
    start: spec.start,
    input: spec.input,
    restart: spec.restart ?? "permanent",
    shutdown: spec.shutdown ?? (type === "supervisor" ? "infinity" : 5_000),
    type,
    significant: spec.significant ?? false,
    ready: spec.ready,
  }
}

/** Each spec's issues, then any id used twice: what a list of children must pass. */
const listIssues = (specs: ReadonlyArray<ChildSpec>, autoShutdown: AutoShutdown | undefined): string[] => {
  const issues: string[] = []
  const seen = new Set<string>()
  for (const spec of specs) {
    issues.push(...specIssues(spec, autoShutdown))
    if (typeof spec?.id === "string") {
      if (seen.has(spec.id)) issues.push(`child ${JSON.stringify(spec.id)}: duplicate id`)
      seen.add(spec.id)
    }
  }
  return issues
}

/**
 * Checks child specs without starting anything (OTP's `check_childspecs/1,2`): every problem of
 * every spec, and duplicate ids, as one `InvalidOptions`, or `null` when they are valid. Without
 * `autoShutdown` nothing is assumed about the supervisor, so a significant transient child
 * passes (it is valid under an `autoShutdown` supervisor); a significant permanent one never does.
 *
 * @example
 * checkChildSpecs([{ id: "job", start: jobMachine, restart: "transient", significant: true }])          // null
 * checkChildSpecs([{ id: "job", start: jobMachine, restart: "transient", significant: true }], "never") // InvalidOptions
 */
export const checkChildSpecs = (specs: ReadonlyArray<ChildSpec>, autoShutdown?: AutoShutdown): InvalidOptions | null => {
  if (!Array.isArray(specs)) return invalid("child specs", ["child specs must be an array (OTP: badarg)"])
  const issues: string[] = []
  if (autoShutdown !== undefined && !AUTO.includes(autoShutdown)) issues.push(`autoShutdown must be one of ${AUTO.join(", ")}, got ${String(autoShutdown)}`)
  issues.push(...listIssues(specs, autoShutdown))
  return issues.length > 0 ? invalid("child specs", issues) : null
}

/**
 * Resolves a supervisor's flags and children together, throwing one `InvalidOptions` that lists
 * every problem in both (duplicate ids included).
 *
 * @example
 * const { flags, children } = resolveSupervisor({ strategy: "rest_for_one" }, [a, b, c])
 */
export const resolveSupervisor = (
  flags: SupervisorFlags = {},
  children: ReadonlyArray<ChildSpec> = [],
  dynamic = false,
): { flags: ResolvedFlags; children: ResolvedChildSpec[] } => {
  const issues = flagIssues(flags, dynamic)
  if (!Array.isArray(children)) issues.push("children must be an array of child specs")
  const list = Array.isArray(children) ? children : []
  if (dynamic && list.length > 0) issues.push("a dynamic supervisor starts with no children: add them with startChild")
  const auto = (isPlainObject(flags) ? flags.autoShutdown : undefined) ?? "never"
  issues.push(...listIssues(list, auto))
  if (issues.length > 0) throw invalid("supervisor", issues)
  return { flags: resolveFlags(flags, dynamic), children: list.map((s) => resolveChildSpec(s, auto)) }
}
