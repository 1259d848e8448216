/**
 * Output lines of any length reach the host whole, in bounded pieces: what C code or a
 * subprocess writes to fds 1/2 (read by the host from the worker's pipes) and what a call
 * prints through `sys.stdout` (sent by Python as the call's log messages). A line longer than
 * `MAX_LOG_LINE` arrives as several records of at most that length, in order, and nothing is
 * lost. Before, the host re-split the whole unfinished line on every chunk (quadratic CPU,
 * unbounded memory: 64 MB with no newline stalled the host for minutes) and Python dropped what
 * a call printed past 64 KiB. Real workers, spawned and forked.
 */
import { Writable } from "node:stream"
import { pino } from "pino"
import { describe, expect, it } from "vitest"
import { MAX_LOG_LINE } from "../../src/worker/lineSplitter.js"
import { eventually, record, startBridge } from "../support/bridge.js"

const LONG = 4 * MAX_LOG_LINE + 123
const sum = (lines: ReadonlyArray<{ readonly message: string }>) => lines.reduce((n, l) => n + l.message.length, 0)

// Spawned explicitly: the forkserver suite runs every test with SNAKEPIT_SPAWN_MODE=forkserver.
describe("long lines on a spawned worker's fds 1 and 2", () => {
  it("a line written to fd 1 past sys.stdout arrives as records of at most MAX_LOG_LINE that join to the whole line", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode: "spawn" })
    const logs = record(bridge, "python.log")
    const pieces = () => logs.filter((l) => l.logger === "stdout" && l.callId === null && /^x+$/.test(l.message))
    expect(await bridge.executePython(null, "noisy", "write_fd", [1, LONG])).toBe(LONG)
    await eventually(() => sum(pieces()) === LONG, 10_000, "the whole line")
    expect(pieces().map((l) => l.message.length)).toEqual([MAX_LOG_LINE, MAX_LOG_LINE, MAX_LOG_LINE, MAX_LOG_LINE, 123])
    expect(await bridge.executePython(null, "noisy", "say", ["after"])).toBe("after")
  })

  it("an unfinished line on fd 2 is not held back past MAX_LOG_LINE: its full pieces arrive before any newline", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode: "spawn" })
    const logs = record(bridge, "python.log")
    const pieces = () => logs.filter((l) => l.logger === "stderr" && /^x+$/.test(l.message))
    await bridge.executePython(null, "noisy", "write_fd", [2, 3 * MAX_LOG_LINE + 5, false])
    await eventually(() => pieces().length === 3, 10_000, "three full pieces")
    expect(pieces().every((l) => l.message.length === MAX_LOG_LINE)).toBe(true)
  })
})

describe("long lines on a forked worker's fd 1 (the template's pipe)", () => {
  it("arrive in the host's log as pieces of at most MAX_LOG_LINE that join to the whole line", async () => {
    const messages: Array<string> = []
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n")) {
          if (line.length === 0) continue
          const entry = JSON.parse(line) as { python?: string; msg?: string }
          if (entry.python === "stdout" && entry.msg && /^x+$/.test(entry.msg)) messages.push(entry.msg)
        }
        done()
      },
    })
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode: "forkserver", logger: pino({ level: "info" }, sink) })
    expect(await bridge.executePython(null, "noisy", "write_fd", [1, LONG])).toBe(LONG)
    await eventually(() => messages.join("").length === LONG, 10_000, "the whole line")
    expect(messages.map((m) => m.length)).toEqual([MAX_LOG_LINE, MAX_LOG_LINE, MAX_LOG_LINE, MAX_LOG_LINE, 123])
  })
})

describe.each(["spawn", "forkserver"] as const)("a long line a call prints (spawnMode %s)", (spawnMode) => {
  it("arrives whole past 64 KiB, in pieces of at most MAX_LOG_LINE carrying the call's id", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const logs = record(bridge, "python.log")
    const printed = () => logs.filter((l) => /^y+$/.test(l.message))
    expect(await bridge.executePython("s", "noisy", "print_long_line", [LONG])).toBe(LONG)
    await eventually(() => sum(printed()) >= LONG, 10_000, "the whole line")
    expect(sum(printed())).toBe(LONG)
    expect(printed().every((l) => l.message.length <= MAX_LOG_LINE && l.logger === "stdout" && l.sessionId === "s")).toBe(true)
    expect(new Set(printed().map((l) => l.callId)).size).toBe(1)
  })
})
