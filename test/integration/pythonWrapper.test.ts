/**
 * A `python` command that is a wrapper script (one that runs Python as another OS user, in a
 * container, under limits: what security.md recommends to confine worker code) is what every
 * worker runs. Only the interpreter itself, or a version manager's shim, is replaced by its
 * `sys.executable` (sparing a pyenv shim's ~260 ms of bash per spawn). Found by an adversarial
 * review: every command was replaced, so a wrapper ran once, for the probe, and the workers ran
 * unconfined, as the host's own user. Real scripts, real workers, both spawn modes.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { resolvePython } from "../../src/worker/python.js"
import { pino } from "pino"
import { PythonBridge } from "../../src/index.js"
import { startBridge } from "../support/bridge.js"
import { pythonCommand } from "../support/worker.js"
import { tempDirs } from "../support/tempDirs.js"

const tempDir = tempDirs()

/** A wrapper script that sets `SNAKEPIT_TEST_WRAPPED` to `mark`, then runs `python` with its arguments. */
const markingWrapper = (python: string, mark: string): string => {
  const path = join(tempDir("snakepit-wrapper-"), "marked-python")
  writeFileSync(path, `#!/bin/sh\nSNAKEPIT_TEST_WRAPPED=${mark}\nexport SNAKEPIT_TEST_WRAPPED\nexec ${python} "$@"\n`, { mode: 0o755 })
  return path
}

/** The interpreter `python3` names on this machine (through its shim, if it is one). */
const interpreter = () => execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim()

/** A logger that keeps every line it is given. */
const keptLogs = () => {
  const lines: string[] = []
  return { lines, logger: pino({ level: "debug" }, { write: (line: string) => void lines.push(line) }) }
}

describe.each(["spawn", "forkserver"] as const)("a python wrapper (spawnMode %s)", (spawnMode) => {
  it("every worker runs through the wrapper: what it sets reaches the worker, a restarted one too, and the status names the wrapper", async () => {
    const mark = `m${process.pid}`
    const wrapper = markingWrapper(pythonCommand, mark)
    const bridge = await startBridge({ python: wrapper, minWorkers: 1, maxWorkers: 1, spawnMode })
    expect(bridge.getStatus().python).toBe(wrapper)
    expect(await bridge.executePython(null, "os", "getenv", ["SNAKEPIT_TEST_WRAPPED"])).toBe(mark)
    // The worker's replacement starts the same way.
    const first = bridge.getStatus().workers[0]!.pid!
    process.kill(first, "SIGKILL")
    let after: unknown
    for (let i = 0; i < 200; i++) {
      const r = await bridge.executePython(null, "os", "getpid", []).catch(() => undefined)
      if (typeof r === "number" && r !== first) {
        after = await bridge.executePython(null, "os", "getenv", ["SNAKEPIT_TEST_WRAPPED"])
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(after).toBe(mark)
  })
})

describe("a python wrapper named by a relative path", () => {
  // Found by a review: the command was probed from the host's directory but spawned from the
  // workers' `cwd`, where another file of that name ran instead of the wrapper.
  it("is the file it names from the host's directory, whatever the workers' cwd holds", async () => {
    const mark = `r${process.pid}`
    const wrapper = markingWrapper(pythonCommand, mark)
    const relativeName = relative(process.cwd(), wrapper)
    const cwd = join(tempDir("snakepit-wrapper-cwd-"), "a", "b")
    const planted = resolve(cwd, relativeName)
    const marker = join(cwd, "PLANTED_RAN")
    mkdirSync(cwd, { recursive: true })
    mkdirSync(dirname(planted), { recursive: true })
    writeFileSync(planted, `#!/bin/sh\necho ran > ${marker}\nexec ${pythonCommand} "$@"\n`, { mode: 0o755 })
    const bridge = await startBridge({ python: relativeName, minWorkers: 1, maxWorkers: 1, spawnMode: "spawn", cwd })
    expect(await bridge.executePython(null, "os", "getenv", ["SNAKEPIT_TEST_WRAPPED"])).toBe(mark)
    expect(existsSync(marker)).toBe(false)
    expect(bridge.getStatus().python).toBe(wrapper)
  })
})

// The wrapper security.md names: a worker that runs as another OS user. Only root may switch.
const canSwitchUser = process.getuid?.() === 0 && existsSync("/usr/bin/setpriv") && existsSync("/usr/bin/python3")

describe.skipIf(!canSwitchUser)("a python wrapper that runs Python as another OS user", () => {
  it("workers run as that user (spawnMode spawn)", async () => {
    const wrapper = join(tempDir("snakepit-wrapper-"), "as-nobody")
    writeFileSync(wrapper, '#!/bin/sh\nexec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$@"\n', { mode: 0o755 })
    const bridge = await startBridge({ python: wrapper, minWorkers: 1, maxWorkers: 1, spawnMode: "spawn" })
    expect(await bridge.executePython(null, "os", "getuid", [])).toBe(65534)
    expect(await bridge.executePython(null, "os", "getuid", [])).not.toBe(process.getuid!())
  })

  it("with spawnMode forkserver, start fails and the template's log says why: the fork socket is the host's user's alone", async () => {
    const wrapper = join(tempDir("snakepit-wrapper-"), "as-nobody")
    writeFileSync(wrapper, '#!/bin/sh\nexec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$@"\n', { mode: 0o755 })
    const { lines, logger } = keptLogs()
    const started = PythonBridge.start({ python: wrapper, minWorkers: 1, maxWorkers: 1, spawnMode: "forkserver", logger })
    await expect(started).rejects.toMatchObject({ _tag: "StartupFailed" })
    expect(lines.join("\n")).toContain("works with spawnMode 'spawn' only")
  })
})

describe("what resolvePython spawns in place of a command", () => {
  it("the interpreter for itself, a link to it, and a pyenv shim; a wrapper script stays itself", async () => {
    const real = interpreter()
    const dir = tempDir("snakepit-python-")
    const link = join(dir, "linked-python")
    symlinkSync(real, link)
    expect((await resolvePython(real)).executable).toBe(real)
    // Python reports the path it was started by for a link (as for a venv's bin/python).
    expect([real, link]).toContain((await resolvePython(link)).executable)
    const wrapper = markingWrapper(real, "x")
    expect((await resolvePython(wrapper)).executable).toBe(wrapper)
    // This machine's python3 is a pyenv shim where pyenv is installed (as on CI): replaced.
    const shim = execFileSync("sh", ["-c", "command -v python3"], { encoding: "utf8" }).trim()
    if (shim.endsWith("/shims/python3") && readFileSync(shim, "latin1").includes("pyenv")) {
      expect((await resolvePython(shim)).executable).toBe(real)
      expect((await resolvePython("python3")).executable).toBe(real)
    }
  })
})
