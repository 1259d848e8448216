/**
 * The tool registry's answer for a call in flight at its session's cleanup: it acts on the
 * remains the cleanup left it, never on the session's next life.
 */
import { describe, expect, it } from "vitest"
import { ToolRegistry } from "../../src/placement/tools.js"
import { SessionVariables } from "../../src/placement/variables.js"

const variable = (op: string, ...args: unknown[]) => ({ name: `snakepit.variables.${op}`, args, kwargs: {}, sessionId: "s" })

describe("ToolRegistry", () => {
  it("a tool call of a call in flight at its session's cleanup reads and writes the variables the cleanup found, reaches none of the session's own tools, and does not keep the session's next life alive", async () => {
    const vars = new SessionVariables()
    const used: string[] = []
    const tools = new ToolRegistry(vars, (id) => used.push(id))
    vars.set("s", "v", "before")
    const remains = vars.detach("s")
    remains.join() // the call in flight
    remains.leave() // the cleanup
    tools.register("own", () => "next life's tool", { sessionId: "s" })
    tools.register("shared", () => "global")
    const stale = (call: ReturnType<typeof variable>) => tools.answer({ ...call, hold: remains }, "w1")
    expect(await stale(variable("get", "v"))).toEqual({ ok: true, value: [true, "before"] })
    expect(await stale(variable("set", "v", "written late"))).toEqual({ ok: true, value: null })
    expect(await tools.answer({ name: "own", args: [], kwargs: {}, sessionId: "s", hold: remains }, "w1")).toMatchObject({ ok: false, errorType: "ToolNotFound" })
    expect(await tools.answer({ name: "shared", args: [], kwargs: {}, sessionId: "s", hold: remains }, "w1")).toEqual({ ok: true, value: "global" })
    expect(used).toEqual([])
    // The session's next life sees none of it, and has its own tool.
    expect(await tools.answer(variable("entries"), "w1")).toEqual({ ok: true, value: [] })
    expect(await tools.answer({ name: "own", args: [], kwargs: {}, sessionId: "s" }, "w1")).toEqual({ ok: true, value: "next life's tool" })
    expect(remains.entries()).toEqual([["v", "written late"]])
    remains.leave() // the call ended
    expect(vars.bytes).toBe(0)
  })
})
