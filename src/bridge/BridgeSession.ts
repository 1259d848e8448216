/**
 * One session seen from TypeScript: `bridge.session(id)`. Its variables live on the host (so
 * they survive worker crashes and environment restarts, and Python reads and writes them as
 * `session.variables`), its tools are visible only to its own calls, and its calls go to the
 * worker that holds its Python-side state.
 *
 * @example
 * const s = bridge.session("user-42")
 * s.variables.set("model", "small")
 * s.registerTool("fetchUser", async (id) => db.users.get(id))
 * await s.executePython("pipeline", "run", [])
 */
import type { ExecuteOptions } from "./callOptions.js"
import type { MapOptions, MapResult } from "./mapOptions.js"
import type { Tool, ToolRegistry } from "../placement/tools.js"
import type { SessionVariables } from "../placement/variables.js"
import { InvalidOptions } from "../errors.js"
import { describeValue } from "./callOptions.js"

/**
 * A session's host-held variables. Values are anything the codec carries; each is counted at its
 * encoded size against `limits.maxSessionVariableBytes` (this session) and
 * `limits.maxVariableBytes` (all sessions).
 */
export interface SessionVariablesView {
  get(name: string): unknown
  has(name: string): boolean
  /**
   * Stores a value Python reads as `session.variables[name]`. Throws `VariableLimitExceeded`
   * when it would exceed a cap, `SerializationError` when the codec cannot carry it,
   * `InvalidOptions` when `name` is not a string; the previous value then stays.
   *
   * @example
   * bridge.session("s1").variables.set("threshold", 0.8)
   */
  set(name: string, value: unknown): void
  /** True if the variable existed. */
  delete(name: string): boolean
  entries(): Array<[string, unknown]>
}

/**
 * The calls a session forwards to its bridge (`PythonBridge` has them): named here so that a
 * session does not import the bridge that creates it.
 */
export interface SessionCalls {
  executePython<T = unknown>(sessionId: string | null, module: string, fn: string, args?: readonly unknown[], options?: ExecuteOptions): Promise<T>
  executeCode(sessionId: string | null, code: string, context?: Record<string, unknown>, options?: ExecuteOptions): Promise<Record<string, unknown>>
  stream<T = unknown>(sessionId: string | null, module: string, fn: string, args?: readonly unknown[], options?: ExecuteOptions): AsyncGenerator<T>
  map<T = unknown>(sessionId: string | null, module: string, fn: string, inputs: Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>, options?: MapOptions): AsyncGenerator<MapResult<T>, void, undefined>
  cleanupSession(sessionId: string): Promise<boolean>
}

export class BridgeSession {
  /** The session's host-held variables (shared with Python's `session.variables`). */
  readonly variables: SessionVariablesView

  /** @internal use `bridge.session(id)` */
  constructor(
    readonly id: string,
    private readonly bridge: SessionCalls,
    store: SessionVariables,
    private readonly tools: ToolRegistry,
    /** Marks the session used, if the bridge still holds it. */
    touch: () => void,
    /**
     * Marks the session used, holding it again if the bridge forgot it (a cleanup, its TTL): what
     * a handle kept past its session's end writes must be swept like any session's, or it stays
     * for good and counts toward `maxVariableBytes`. Throws `TooManySessions` beyond `maxSessions`.
     */
    private readonly admit: () => void,
  ) {
    this.variables = {
      get: (name) => (touch(), store.get(id, name)),
      has: (name) => (touch(), store.has(id, name)),
      set: (name, value) => {
        if (typeof name !== "string") {
          throw new InvalidOptions({ message: `a session variable's name is a string, got ${describeValue(name)}`, issues: ["name must be a string"] })
        }
        admit()
        store.set(id, name, value)
      },
      delete: (name) => (touch(), store.delete(id, name)),
      entries: () => (touch(), store.entries(id)),
    }
  }

  /**
   * A tool only this session's Python calls can use; it shadows a global tool of the same name.
   *
   * @example
   * bridge.session("s1").registerTool("secret", () => "only for s1")
   */
  registerTool(name: string, fn: Tool, options: { description?: string } = {}): void {
    this.admit()
    this.tools.register(name, fn, { ...options, sessionId: this.id })
  }

  unregisterTool(name: string): boolean {
    return this.tools.unregister(name, this.id)
  }

  /**
   * `bridge.executePython` for this session; `T` is the result's expected type (not checked).
   *
   * @example
   * const label = await bridge.session("s1").executePython<string>("model", "classify", [x])
   */
  executePython<T = unknown>(module: string, fn: string, args: readonly unknown[] = [], options: ExecuteOptions = {}): Promise<T> {
    return this.bridge.executePython<T>(this.id, module, fn, args, options)
  }

  /** `bridge.executeCode` for this session. */
  executeCode(code: string, context: Record<string, unknown> = {}, options: ExecuteOptions = {}): Promise<Record<string, unknown>> {
    return this.bridge.executeCode(this.id, code, context, options)
  }

  /**
   * `bridge.stream` for this session; `T` is each item's expected type (not checked).
   *
   * @example
   * for await (const n of bridge.session("s1").stream<number>("m", "countdown", [3])) total += n
   */
  stream<T = unknown>(module: string, fn: string, args: readonly unknown[] = [], options: ExecuteOptions = {}): AsyncGenerator<T> {
    return this.bridge.stream<T>(this.id, module, fn, args, options)
  }

  /**
   * `bridge.map` for this session: every chunk runs on the session's worker, in input order.
   *
   * @example
   * for await (const r of bridge.session("s1").map<number>("m", "score", rows.map((row) => [row]))) if (r.ok) total += r.value
   */
  map<T = unknown>(module: string, fn: string, inputs: Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>, options: MapOptions = {}): AsyncGenerator<MapResult<T>, void, undefined> {
    return this.bridge.map<T>(this.id, module, fn, inputs, options)
  }

  /** Clears the session everywhere: Python state, variables, its tools. */
  cleanup(): Promise<boolean> {
    return this.bridge.cleanupSession(this.id)
  }
}
