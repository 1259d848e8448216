/**
 * The fork server's secret never reaches user code (issue 18 item 6): not in a forked worker's
 * `os.environ` or `/proc/self/environ`, not in what a preloaded module sees in the template at
 * import time, not in the template's `/proc/<pid>/environ` or argv. Real Python, spawnMode
 * "forkserver".
 */
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { startBridge } from "../support/bridge.js"

type Seen = { os_environ: string[]; proc_environ: string[]; cmdline: string[] }

const template = (bridge: PythonBridge) => bridge.getStatus().supervisor!.children.find((c) => c.id.startsWith("forkserver-") && c.status === "running")!

/** Entries that name the fork secret or carry a hex secret the test process did not hand down. */
const secrets = (entries: string[]) => {
  const inherited = new Set(Object.entries(process.env).map(([k, v]) => `${k}=${v}`))
  return entries.filter((e) => /FORK_TOKEN/i.test(e) || (!inherited.has(e) && /[0-9a-f]{32,}/i.test(e)))
}

describe("the fork server's secret", () => {
  it("is not in a forked worker's environment, in what a preloaded module saw, or in the template's environ and argv", async () => {
    const bridge = await startBridge({ spawnMode: "forkserver", minWorkers: 2, maxWorkers: 2, preload: ["secret_probe"] })
    const templatePid = template(bridge).pid!
    for (const s of ["a", "b"]) {
      const worker = (await bridge.executePython(s, "secret_probe", "seen")) as Seen
      expect(worker.proc_environ.some((e) => e.startsWith("SNAKEPIT_FORK_SOCKET="))).toBe(true) // the probe reads the real thing
      expect(secrets(worker.os_environ)).toEqual([])
      expect(secrets(worker.proc_environ)).toEqual([])
      expect(secrets(worker.cmdline)).toEqual([])
    }
    const preload = (await bridge.executePython("a", "secret_probe", "at_import")) as Seen
    expect(secrets(preload.os_environ)).toEqual([])
    expect(secrets(preload.proc_environ)).toEqual([])
    const templateSeen = (await bridge.executePython("a", "secret_probe", "seen", [templatePid])) as Seen
    expect(templateSeen.cmdline.join(" ")).toContain("snakepit_bridge.forkserver")
    expect(secrets(templateSeen.proc_environ)).toEqual([])
    expect(secrets(templateSeen.cmdline)).toEqual([])
  })
})

describe("snakepit's own secrets in the host's environment", () => {
  // What `snakepit agent` and `snakepit dashboard` read from the environment (hostEnv.ts): a
  // worker needs none of them, and an admitted function that reads the environment must not
  // hand them to a caller. What the host passes in `env` explicitly still reaches the worker.
  const secretsInHost = { SNAKEPIT_NATS_TOKEN: "t0ken", SNAKEPIT_NATS_PASSWORD: "passw0rd", SNAKEPIT_NATS_NKEY_SEED: "SUAseed", SNAKEPIT_DASHBOARD_TOKEN: "dash" }
  for (const spawnMode of ["spawn", "forkserver"] as const) {
    it(`are not inherited by a worker (${spawnMode})`, async () => {
      Object.assign(process.env, secretsInHost)
      let bridge: PythonBridge | undefined
      try {
        bridge = await startBridge({ spawnMode, minWorkers: 1, maxWorkers: 1, env: { SNAKEPIT_DASHBOARD_TOKEN: "given" } })
      } finally {
        for (const name of Object.keys(secretsInHost)) delete process.env[name]
      }
      try {
        const seen = (await bridge.executePython(null, "secret_probe", "seen")) as Seen
        const names = (entries: string[]) => entries.filter((e) => e.startsWith("SNAKEPIT_NATS_") || e.startsWith("SNAKEPIT_DASHBOARD_"))
        expect(names(seen.os_environ)).toEqual(["SNAKEPIT_DASHBOARD_TOKEN=given"])
        expect(names(seen.proc_environ)).toEqual(["SNAKEPIT_DASHBOARD_TOKEN=given"])
      } finally {
        await bridge.stop()
      }
    })
  }
})
