/**
 * The wire vocabulary is one list on both sides: `src/protocol/messages.ts` and
 * `python/snakepit_bridge/protocol.py` name the same message types, in the same order, and the
 * same protocol error types (docs/protocol.md lists them; `python/tests/test_protocol.py` holds
 * the Python side to that page).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ErrorType, HOST_TO_WORKER, MAX_TOOL_CALLS_IN_FLIGHT, STREAM_BYTE_WINDOW, WORKER_TO_HOST } from "../../src/protocol/messages.js"

const source = readFileSync(join(import.meta.dirname, "..", "..", "python", "snakepit_bridge", "protocol.py"), "utf8")
const constants = new Map([...source.matchAll(/^([A-Z_]+) = "([^"]*)"$/gm)].map((m) => [m[1]!, m[2]!]))
const tuple = (name: string): string[] => {
  const body = new RegExp(`^${name} = \\(([^)]*)\\)`, "m").exec(source)?.[1]
  if (body === undefined) throw new Error(`protocol.py has no ${name}`)
  return body.split(",").map((s) => s.trim()).filter(Boolean).map((c) => constants.get(c) ?? `?${c}`)
}

describe("the wire vocabulary, TypeScript and Python", () => {
  it("host → worker message types are the same list", () => {
    expect(tuple("HOST_TO_WORKER")).toEqual([...HOST_TO_WORKER])
  })
  it("worker → host message types are the same list", () => {
    expect(tuple("WORKER_TO_HOST")).toEqual([...WORKER_TO_HOST])
  })
  it("the protocol's own error types are the same list", () => {
    expect(tuple("ERROR_TYPES")).toEqual(Object.values(ErrorType))
  })
  it("the bound on a worker's unanswered tool calls is the same number", () => {
    expect(/^MAX_TOOL_CALLS_IN_FLIGHT = (\d+)$/m.exec(source)?.[1]).toBe(String(MAX_TOOL_CALLS_IN_FLIGHT))
  })
  it("a stream's byte window is the same number (Python waits at it, the host enforces it)", () => {
    const expr = /^STREAM_BYTE_WINDOW = ([\d *]+)$/m.exec(source)?.[1]
    expect(expr?.split("*").reduce((product, factor) => product * Number(factor.trim()), 1)).toBe(STREAM_BYTE_WINDOW)
  })
})
