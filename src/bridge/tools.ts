/**
 * Host functions Python can call (`session.call_tool(name, *args, **kwargs)`).
 *
 * Tool calls travel on the worker's own pipes with their own ids, so there is no second server
 * or port. Keyword arguments, when Python passes any, arrive as one trailing object argument.
 * A tool that throws reaches Python as `ToolError` with the message; an unknown name as
 * `ToolNotFound`.
 *
 * @example
 * tools.register("fetchUser", async (id) => ({ id, name: "Ada" }))
 */
import type { Connection, ToolCallRequest } from "../worker/connection.js"

/** A host function callable from Python. */
export type Tool = (...args: any[]) => unknown

/** A registered tool and what it says about itself. */
export interface ToolEntry {
  readonly fn: Tool
  readonly description: string | undefined
}

export class ToolRegistry {
  private readonly tools = new Map<string, ToolEntry>()

  register(name: string, fn: Tool, options: { description?: string } = {}): void {
    this.tools.set(name, { fn, description: options.description })
  }

  unregister(name: string): boolean {
    return this.tools.delete(name)
  }

  list(): Array<{ name: string; description: string | undefined }> {
    return [...this.tools].map(([name, t]) => ({ name, description: t.description }))
  }

  /** Runs a tool call from Python and sends the answer back on the same connection. */
  handle(call: ToolCallRequest, connection: Connection): void {
    const tool = this.tools.get(call.name)
    if (!tool) {
      connection.answerTool(call.id, { ok: false, message: `ToolNotFound: no tool named ${JSON.stringify(call.name)} is registered` })
      return
    }
    const args = Object.keys(call.kwargs).length > 0 ? [...call.args, call.kwargs] : call.args
    Promise.resolve()
      .then(() => tool.fn(...args))
      .then(
        (value) => connection.answerTool(call.id, { ok: true, value }),
        (error: unknown) => connection.answerTool(call.id, { ok: false, message: error instanceof Error ? error.message : String(error) }),
      )
  }
}
