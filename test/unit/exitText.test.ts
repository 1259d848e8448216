import { expect, it } from "vitest"
import { ExitCode, exitText } from "../../src/protocol/messages.js"

it("names what each of the bridge's own exit codes means, and only those", () => {
  expect(exitText({ exitCode: ExitCode.MEMORY_LIMIT, signal: null })).toBe("exit code 4: it passed its memory limit")
  expect(exitText({ exitCode: ExitCode.PROTOCOL_ERROR, signal: null })).toBe("exit code 2: it read a malformed frame, or its serving thread failed")
  for (const code of [ExitCode.PROTOCOL_ERROR, ExitCode.FRAME_TOO_LARGE, ExitCode.MEMORY_LIMIT]) expect(exitText({ exitCode: code, signal: null })).toMatch(new RegExp(`^exit code ${code}: \\w`))
  // 1 is also Python's own exit on an uncaught exception, at any time: not explained.
  expect(exitText({ exitCode: ExitCode.STARTUP_FAILURE, signal: null })).toBe("exit code 1")
  // Exit codes the bridge never uses are user code's (sys.exit(9)) and are not explained.
  expect(exitText({ exitCode: 9, signal: null })).toBe("exit code 9")
  expect(exitText({ exitCode: 0, signal: null })).toBe("exit code 0")
  expect(exitText({ exitCode: null, signal: "SIGKILL" })).toBe("SIGKILL")
})

it("leaves code 4 unexplained for a worker that had no memory limit: the code's own os._exit(4)", () => {
  expect(exitText({ exitCode: ExitCode.MEMORY_LIMIT, signal: null }, { memoryLimit: false })).toBe("exit code 4")
  expect(exitText({ exitCode: ExitCode.PROTOCOL_ERROR, signal: null }, { memoryLimit: false })).toMatch(/^exit code 2: /)
})
