/**
 * `npm run bench -- --load` runs two spinning CPU hogs beside the bench: they must not outlive
 * it, whether it stops them, fails, is interrupted (SIGINT, SIGTERM) or is SIGKILLed (no
 * handler runs then: each hog watches its parent).
 */
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { isGone } from "../support/processes.js"
import { pythonCommand } from "../support/worker.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

const startHost = async (mode: "wait" | "throw" | "stop") => {
  const host = execa(process.execPath, ["--import", "tsx", join(root, "test/hosts/cpuHogs.ts"), pythonCommand, mode], { cwd: root, reject: false, buffer: false })
  let text = ""
  const pids = await new Promise<number[]>((resolve, reject) => {
    host.stdout!.on("data", (b: Buffer) => {
      text += b.toString()
      const line = text.split("\n")[0]
      if (text.includes("\n") && line) resolve((JSON.parse(line) as { pids: number[] }).pids)
    })
    void host.then((r) => reject(new Error(`host exited early: ${r.exitCode}`)))
  })
  return { host, pids, output: () => text }
}

// Generous: a hog notices its parent is gone between spins, and this machine may be loaded.
const goneWithin = async (pid: number, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (isGone(pid)) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return isGone(pid)
}

const sweep = (pids: readonly number[]) => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      /* gone, as it should be */
    }
  }
}

describe("bench --load CPU hogs", () => {
  it("stop() ends both hogs and the bench goes on", async () => {
    const { host, pids, output } = await startHost("stop")
    try {
      expect(pids).toHaveLength(2)
      const result = await host
      expect(result.exitCode).toBe(0)
      expect(output()).toContain("stopped")
      for (const pid of pids) expect(await goneWithin(pid, 10_000)).toBe(true)
    } finally {
      sweep(pids)
    }
  })

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`an interrupted bench (${signal}) kills its hogs and exits`, async () => {
      const { host, pids } = await startHost("wait")
      try {
        expect(pids.some(isGone)).toBe(false)
        host.kill(signal)
        const result = await host
        expect(result.exitCode).toBe(signal === "SIGINT" ? 130 : 143)
        for (const pid of pids) expect(await goneWithin(pid, 10_000)).toBe(true)
      } finally {
        host.kill("SIGKILL")
        sweep(pids)
      }
    })
  }

  it("a bench that fails with an uncaught error leaves no hog behind", async () => {
    const { host, pids } = await startHost("throw")
    try {
      const result = await host
      expect(result.exitCode).not.toBe(0)
      for (const pid of pids) expect(await goneWithin(pid, 10_000)).toBe(true)
    } finally {
      sweep(pids)
    }
  })

  it("a SIGKILLed bench's hogs exit by themselves", async () => {
    const { host, pids } = await startHost("wait")
    try {
      expect(pids.some(isGone)).toBe(false)
      host.kill("SIGKILL")
      await host
      for (const pid of pids) expect(await goneWithin(pid, 10_000)).toBe(true)
    } finally {
      sweep(pids)
    }
  })
})
