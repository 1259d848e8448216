/**
 * The host is SIGKILLed: its Python workers must not outlive it (no orphans), whether they
 * are idle (pipe EOF) or busy in Python code (parent-death signal).
 */
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { isGone } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

const startHost = async (busy: boolean) => {
  const host = execa(process.execPath, ["--import", "tsx", join(root, "test/hosts/oneWorker.ts"), pythonCommand, fixturesDir], {
    cwd: root,
    env: { SNAKEPIT_HOST_BUSY: busy ? "1" : "0" },
    reject: false,
    buffer: false,
  })
  const workerPid = await new Promise<number>((resolve, reject) => {
    let text = ""
    host.stdout!.on("data", (b: Buffer) => {
      text += b.toString()
      const line = text.split("\n")[0]
      if (text.includes("\n") && line) resolve(JSON.parse(line).workerPid)
    })
    void host.then((r) => reject(new Error(`host exited early: ${r.exitCode}`)))
  })
  return { host, workerPid }
}

const goneWithin = async (pid: number, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (isGone(pid)) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return isGone(pid)
}

describe("host death", () => {
  for (const busy of [false, true]) {
    it(`a SIGKILLed host's ${busy ? "busy" : "idle"} worker is gone within 1 s`, async () => {
      const { host, workerPid } = await startHost(busy)
      try {
        expect(isGone(workerPid)).toBe(false)
        host.kill("SIGKILL")
        await host
        expect(await goneWithin(workerPid, 1_000)).toBe(true)
      } finally {
        host.kill("SIGKILL")
        try { process.kill(workerPid, "SIGKILL") } catch { /* gone, as it should be */ }
      }
    })
  }
})
