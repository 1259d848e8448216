/**
 * The host is SIGKILLed: its Python workers must not outlive it (no orphans), whether they
 * are idle (pipe EOF) or busy in Python code (parent-death signal) — nor the subprocesses their
 * Python code started (the group's watchman), also when the worker is SIGKILLed at the same
 * moment as the host, and when the host exits without stopping its bridge.
 */
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { isGone } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"
import { bundledEntry } from "../support/cli.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

const startHost = async (busy: boolean) => {
  const host = execa(process.execPath, [await bundledEntry("test/hosts/oneWorker.ts"), pythonCommand, fixturesDir], {
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

/** Starts test/hosts/subprocessBridge.ts; resolves with the pids it printed. */
const startSubprocessHost = async (env: Record<string, string> = {}) => {
  const host = execa(process.execPath, [await bundledEntry("test/hosts/subprocessBridge.ts"), pythonCommand, fixturesDir], {
    cwd: root,
    env,
    reject: false,
    buffer: false,
  })
  const printed = await new Promise<{ workerPid: number; pids: number[] }>((resolve, reject) => {
    let text = ""
    host.stdout!.on("data", (b: Buffer) => {
      text += b.toString()
      const line = text.split("\n")[0]
      if (text.includes("\n") && line) resolve(JSON.parse(line))
    })
    void host.then((r) => reject(new Error(`host exited early: ${r.exitCode}`)))
  })
  return { host, ...printed }
}

const sweep = (pids: readonly number[]) => {
  for (const pid of pids) {
    try { process.kill(pid, "SIGKILL") } catch { /* gone, as it should be */ }
  }
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

  it("a SIGKILLed host's worker takes the subprocesses its Python code started along", async () => {
    const { host, workerPid, pids } = await startSubprocessHost()
    try {
      expect([workerPid, ...pids].some(isGone)).toBe(false)
      host.kill("SIGKILL")
      await host
      for (const pid of [workerPid, ...pids]) expect(await goneWithin(pid, 5_000)).toBe(true)
    } finally {
      host.kill("SIGKILL")
      sweep([workerPid, ...pids])
    }
  })

  it("host and worker SIGKILLed at the same moment: the worker's subprocesses still end", async () => {
    const { host, workerPid, pids } = await startSubprocessHost()
    try {
      process.kill(workerPid, "SIGKILL")
      host.kill("SIGKILL")
      await host
      for (const pid of [workerPid, ...pids]) expect(await goneWithin(pid, 5_000)).toBe(true)
    } finally {
      host.kill("SIGKILL")
      sweep([workerPid, ...pids])
    }
  })

  it("a host that exits without stopping its bridge leaves neither workers nor their subprocesses", async () => {
    const { host, workerPid, pids } = await startSubprocessHost({ SNAKEPIT_HOST_EXIT: "1" })
    try {
      expect((await host).exitCode).toBe(0)
      for (const pid of [workerPid, ...pids]) expect(await goneWithin(pid, 5_000)).toBe(true)
    } finally {
      host.kill("SIGKILL")
      sweep([workerPid, ...pids])
    }
  })
})
