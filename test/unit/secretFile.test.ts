/**
 * Secret files as the agent reads them (`--token-file`, `--creds`, …): regular files, pipes that a
 * process writes (`<(pass show nats)`, a named pipe), and what must not hang or flood the start:
 * a device that never ends, a pipe nobody writes, a file too big to be a secret. Real files,
 * pipes and writer processes.
 */
import { execFileSync, spawn } from "node:child_process"
import { join } from "node:path"
import { writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { MAX_SECRET_FILE_BYTES, readSecretFile } from "../../src/remote/secretFile.js"
import { tempDirs } from "../support/tempDirs.js"

const tempDir = tempDirs()

describe("readSecretFile", () => {
  it("reads a regular file, and refuses one too big to be a secret", () => {
    const dir = tempDir("snakepit-secret-")
    writeFileSync(join(dir, "token"), "s3cret\n")
    expect(readSecretFile(join(dir, "token"))).toBe("s3cret\n")
    writeFileSync(join(dir, "big"), "x".repeat(MAX_SECRET_FILE_BYTES + 1))
    expect(() => readSecretFile(join(dir, "big"))).toThrow(/more than 65536 bytes/)
  })

  it("reads a named pipe whose writer comes after it is opened, and stops at a device that never ends", async () => {
    const dir = tempDir("snakepit-secret-")
    const fifo = join(dir, "pipe")
    execFileSync("mkfifo", [fifo])
    const writer = spawn("sh", ["-c", `sleep 0.2; printf 'from-a-pipe' > '${fifo}'`])
    try {
      expect(readSecretFile(fifo)).toBe("from-a-pipe")
    } finally {
      writer.kill()
      await new Promise((r) => (writer.exitCode === null ? writer.once("exit", r) : r(undefined)))
    }
    expect(() => readSecretFile("/dev/zero")).toThrow(/more than 65536 bytes/)
  })

  it("a named pipe nobody writes is an empty secret after a bounded wait, never a hung start", () => {
    const dir = tempDir("snakepit-secret-")
    const fifo = join(dir, "pipe")
    execFileSync("mkfifo", [fifo])
    expect(readSecretFile(fifo)).toBe("")
  })
})
