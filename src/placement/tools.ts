/**
 * Host functions Python can call (`session.call_tool(name, *args, **kwargs)`), and the host
 * side of `session.variables`.
 *
 * Tool calls travel on the worker's own pipes with their own ids, so there is no second server
 * or port. Keyword arguments, when Python passes any, arrive as one trailing object argument.
 * A tool that throws reaches Python as `ToolError` with the message; an unknown name as
 * `ToolNotFound`. A session's own tools (`bridge.session(id).registerTool`) shadow global ones
 * of the same name for that session.
 *
 * Names starting with `snakepit.` are reserved: `snakepit.variables.get|set|delete|entries` are
 * how Python's `session.variables` reaches the host-held {@link SessionVariables}.
 *
 * A tool call acts for the session of the call it belongs to, as the host recorded it when it
 * sent that call ({@link ToolCallRequest.sessionId}), never for a session Python names: a session's
 * own tools and its variables are out of reach of a tool call that belongs to no running call of
 * that session. See `docs/sessions.md`, "Whose session a tool call acts for".
 *
 * A tool runs inside a {@link toolScope} naming the session and worker it was called from, so a
 * tool that calls back into Python for the same session is recognised as nested and runs on the
 * waiting worker at once (see `docs/sessions.md`, "Nested calls").
 *
 * @example
 * tools.register("fetchUser", async (id) => ({ id, name: "Ada" }))
 */
import { AsyncLocalStorage } from "node:async_hooks"
import type { CallHold, Connection, ToolCallRequest } from "../worker/connection.js"
import { DetachedVariables, type SessionVariables } from "./variables.js"
import { VariableLimitExceeded } from "../errors.js"
import { thrownText } from "../thrown.js"
import { SHOWN_NAME_CHARS, shownName } from "../protocol/shownName.js"

/** A host function callable from Python. */
export type Tool = (...args: any[]) => unknown

/** A registered tool and what it says about itself. */
export interface ToolEntry {
  readonly fn: Tool
  readonly description: string | undefined
}

/**
 * What a tool call answers: its value, or why it failed (reaches Python as `ToolError`). A
 * failure Python raises as its own exception class carries `errorType` (the class name, e.g.
 * `"VariableLimitExceeded"`) and its structured `fields` (snake_case, as Python reads them).
 */
export type ToolAnswer =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly message: string; readonly errorType?: string; readonly fields?: Readonly<Record<string, unknown>> }

/** Where the tool now running was called from. */
export interface ToolScope {
  readonly sessionId: string | null
  readonly workerId: string
}

/**
 * The scope of the tool call being handled, if any: set around every tool's execution, read by
 * the pool to run a nested same-session call on the worker that waits for the tool.
 */
export const toolScope = new AsyncLocalStorage<ToolScope>()

const RESERVED = "snakepit."
const VARIABLES = "snakepit.variables."

/** Why a tool call has no session: said in every refusal, since Python's own view differs. */
const NO_SESSION_WHY =
  "the host takes a tool call's session from the call it belongs to, not from Python; this one came from a call without a session, or from outside any call still running on its worker, e.g. a thread that outlived its call"

export class ToolRegistry {
  private readonly global = new Map<string, ToolEntry>()
  private readonly bySession = new Map<string, Map<string, ToolEntry>>()

  constructor(
    private readonly variables: SessionVariables,
    /** Called with the session id of every tool call, so using tools keeps a session alive. */
    private readonly onSessionUse: (sessionId: string) => void = () => {},
  ) {}

  /** Registers a tool for every session, or for one session when `sessionId` is given. */
  register(name: string, fn: Tool, options: { description?: string; sessionId?: string } = {}): void {
    if (typeof name !== "string" || name === "" || name.startsWith(RESERVED)) {
      throw new TypeError(`tool names must be non-empty and must not start with "${RESERVED}" (reserved), got ${JSON.stringify(name)}`)
    }
    if (typeof fn !== "function") throw new TypeError(`tool ${name} must be a function`)
    const entry = { fn, description: options.description }
    if (options.sessionId === undefined) {
      this.global.set(name, entry)
      return
    }
    let tools = this.bySession.get(options.sessionId)
    if (!tools) this.bySession.set(options.sessionId, (tools = new Map()))
    tools.set(name, entry)
  }

  unregister(name: string, sessionId?: string): boolean {
    return sessionId === undefined ? this.global.delete(name) : (this.bySession.get(sessionId)?.delete(name) ?? false)
  }

  /** Forgets a session's own tools (cleanup, TTL expiry). */
  dropSession(sessionId: string): void {
    this.bySession.delete(sessionId)
  }

  /** Tools visible to a session (its own first), or the global ones. */
  list(sessionId?: string): Array<{ name: string; description: string | undefined }> {
    const merged = new Map(this.global)
    if (sessionId !== undefined) for (const [name, t] of this.bySession.get(sessionId) ?? []) merged.set(name, t)
    return [...merged].map(([name, t]) => ({ name, description: t.description }))
  }

  /**
   * Where tool calls of remote sessions go instead (set by a NATS agent: the variables and
   * tools of a session live with the client that called). Returns undefined to handle a call here.
   */
  forward: ((call: ToolCallRequest) => Promise<ToolAnswer> | undefined) | undefined = undefined

  /** Runs a tool call from Python and sends the answer back on the same connection. */
  handle(call: ToolCallRequest, connection: Connection, workerId: string): void {
    const answer = this.forward?.(call) ?? this.answer(call, workerId)
    // Nothing awaits this: a throw here would be an unhandled rejection, which ends the host.
    void answer.then((outcome) => connection.answerTool(call.id, outcome)).catch((e: unknown) => {
      // Python waits for an answer: it gets the reason, not silence.
      try {
        connection.answerTool(call.id, { ok: false, message: `the tool's answer could not be sent: ${thrownText(e)}` })
      } catch {
        // The connection is closing: its calls end with it.
      }
    })
  }

  /** The answer to a tool call (never rejects: a failure is `{ ok: false, message }`). */
  answer(call: Pick<ToolCallRequest, "name" | "args" | "kwargs" | "sessionId"> & { readonly hold?: CallHold | undefined }, workerId: string): Promise<ToolAnswer> {
    // A call in flight when its session was cleaned up acts on the variables the cleanup found:
    // it does not use (keep alive) the session's next life, nor reach its variables or its tools
    // (the cleanup dropped the session's own tools; global ones still answer).
    const remains = call.hold instanceof DetachedVariables ? call.hold : undefined
    if (call.sessionId !== null && !remains) this.onSessionUse(call.sessionId)
    if (call.name.startsWith(VARIABLES)) return Promise.resolve(this.variable(call, remains))
    const own = call.sessionId !== null && !remains ? this.bySession.get(call.sessionId)?.get(call.name) : undefined
    const tool = own ?? this.global.get(call.name)
    if (!tool) {
      const why = call.sessionId === null ? ` globally, and this tool call belongs to no running call of a session (${NO_SESSION_WHY})` : ""
      // The type travels as a field: Python names the class itself, so a "ToolNotFound:" prefix
      // in the text would be read twice ("ToolNotFound: ToolNotFound: …").
      return Promise.resolve({ ok: false, message: `no tool named ${shownName(call.name)} is registered${why}`, errorType: "ToolNotFound" })
    }
    const args = Object.keys(call.kwargs).length > 0 ? [...call.args, call.kwargs] : call.args
    return toolScope.run({ sessionId: call.sessionId, workerId }, () =>
      Promise.resolve()
        .then(() => tool.fn(...args))
        .then(
          (value): ToolAnswer => ({ ok: true, value }),
          (error: unknown): ToolAnswer => ({ ok: false, message: thrownText(error) }),
        ),
    )
  }

  private variable(call: Pick<ToolCallRequest, "name" | "args" | "sessionId">, remains: DetachedVariables | undefined): ToolAnswer {
    const sessionId = call.sessionId
    const [name] = call.args as [unknown]
    const ok = (value: unknown): ToolAnswer => ({ ok: true, value })
    if (sessionId === null) return { ok: false, message: `session variables need a session, and this tool call belongs to no running call of a session (${NO_SESSION_WHY})` }
    const variables = remains ?? this.variables.of(sessionId)
    const op = call.name.slice(VARIABLES.length)
    if (op === "entries") return ok(variables.entries())
    if (typeof name !== "string") return { ok: false, message: `variable names are strings, got ${typeof name}` }
    if (op === "get") return ok(variables.has(name) ? [true, variables.get(name)] : [false, null])
    if (op === "set") {
      try {
        variables.set(name, call.args[1])
      } catch (error) {
        // Python raises its own VariableLimitExceeded, with the fields, so the call can catch it.
        if (error instanceof VariableLimitExceeded) {
          // The name is Python's own: sent back only when short, like every name the host quotes.
          const fields = { scope: error.scope, limit_bytes: error.limitBytes, ...(error.name.length <= SHOWN_NAME_CHARS ? { name: error.name } : {}) }
          return { ok: false, message: error.message, errorType: error._tag, fields }
        }
        return { ok: false, message: thrownText(error) }
      }
      return ok(null)
    }
    if (op === "delete") return ok(variables.delete(name))
    return { ok: false, message: `no variables operation ${shownName(op)}`, errorType: "ToolNotFound" }
  }
}
