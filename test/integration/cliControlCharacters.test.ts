/**
 * What the `snakepit` command prints from Python or a caller reaches the terminal without its
 * control characters: an error message, a worker's stderr, a result, a log record and an argument
 * echoed back carry ESC, BEL, CR and C1 controls as escapes (`\x1b`, `\u009b`), newlines and tabs
 * as they are. Before, the final error handler wrote a Python exception's message raw, so the code
 * raising it (or the caller who chose its text) could drive the user's terminal: clear the
 * screen, retitle the window, set the clipboard (OSC 52). Real command, real workers.
 */
import { chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { CliRunner } from "../support/cli.js"
import { fixturesDir } from "../support/worker.js"
import { tempDirs } from "../support/tempDirs.js"

const runner = new CliRunner("SNAKEPIT_CLI_CONTROL_TEST")
runner.hooks()

/** OSC 52 (clipboard), BEL, clear screen, a C1 CSI, DEL and a carriage return. */
const HOSTILE = "\u001b]52;c;aGk=\u0007\u001b[2J\u009b31m\u007f\rend"
/** HOSTILE as the command prints it. */
const ESCAPED = "\\x1b]52;c;aGk=\\x07\\x1b[2J\\u009b31m\\x7f\\x0dend"
/** A control character that must never reach the terminal raw. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

const madeDir = tempDirs()
const tempDir = () => madeDir("snakepit-cli-control-")

describe("control characters from Python or a caller are printed escaped", { timeout: 120_000 }, () => {
  it("a Python exception's message with ESC, BEL, CR and C1 sequences, raised in a real worker", async () => {
    const r = await runner.run(["call", "echo.boom", JSON.stringify([`line one\n\t${HOSTILE}`]), "--pythonPath", fixturesDir])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^PythonError: /)
    expect(r.stderr).toContain(`line one\n\t${ESCAPED}`)
    expect(r.stderr).not.toMatch(RAW_CONTROL)
  })

  it("a result's strings come out as JSON escapes: still JSON, of the same value", async () => {
    const value = { [HOSTILE]: [HOSTILE, "plain"] }
    const r = await runner.run(["call", "echo.echo", JSON.stringify([value]), "--pythonPath", fixturesDir])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).not.toMatch(RAW_CONTROL)
    expect(r.stdout).toContain("\\u009b31m\\u007f\\r")
    expect(JSON.parse(r.stdout)).toEqual(value)
  })

  it("a worker's log record is logged without its controls", async () => {
    const r = await runner.run(["call", "echo.log_something", JSON.stringify([HOSTILE]), "--pythonPath", fixturesDir])
    expect(r.exitCode, r.stderr).toBe(0)
    const line = r.stderr.split("\n").find((l) => l.includes("52;c;aGk="))
    expect(line, r.stderr).toBeDefined()
    expect(line).not.toMatch(RAW_CONTROL)
    expect(JSON.parse(line!).msg).toBe(HOSTILE)
  })

  it("a worker's stderr, printed with the StartupFailed it ended in", async () => {
    // A sitecustomize on the workers' pythonPath runs at every worker's start-up (not in the
    // version probe, which does not get pythonPath).
    const dir = tempDir()
    writeFileSync(join(dir, "sitecustomize.py"), `import os, sys\nsys.stderr.write(${JSON.stringify(`${HOSTILE}\n`)})\nsys.stderr.flush()\nos._exit(3)\n`)
    const r = await runner.run(["call", "math.sqrt", "[16]", "--pythonPath", dir])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^StartupFailed: /m)
    expect(r.stderr).toContain(ESCAPED)
    expect(r.stderr).not.toMatch(RAW_CONTROL)
  })

  it("doctor prints a failing Python's output escaped", async () => {
    const dir = tempDir()
    const python = join(dir, "python3")
    writeFileSync(python, `#!/bin/sh\nprintf '%s' '${HOSTILE}' >&2\nexit 1\n`)
    chmodSync(python, 0o755)
    const r = await runner.run(["doctor", "--python", python])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain(ESCAPED)
    expect(r.stdout + r.stderr).not.toMatch(RAW_CONTROL)
  })

  it("arguments echoed back in a usage error", async () => {
    const args = await runner.run(["call", "math.sqrt", HOSTILE])
    expect(args.exitCode).toBe(2)
    expect(args.stderr).toContain(`args must be a JSON array, got ${ESCAPED}`)
    const kwargs = await runner.run(["call", "math.sqrt", "[16]", "--kwargs", HOSTILE])
    expect(kwargs.exitCode).toBe(2)
    expect(kwargs.stderr).toContain(`--kwargs must be a JSON object, got ${ESCAPED}`)
    const flag = await runner.run(["dashboard", "--port", HOSTILE])
    expect(flag.exitCode).toBe(2)
    const command = await runner.run([HOSTILE])
    expect(command.exitCode).toBe(2)
    for (const r of [args, kwargs, flag, command]) expect(r.stderr).not.toMatch(RAW_CONTROL)
  })
})
