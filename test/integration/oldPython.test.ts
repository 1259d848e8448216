/**
 * CPython older than 3.9 is refused at start with a StartupFailed that names the version found and
 * the version needed, and no worker is started. A stand-in answers the version probe as 3.8 would
 * (runs everywhere); the real CPython 3.8 runs when found ($SNAKEPIT_OLD_PYTHON, else a pyenv
 * 3.8.x), and its test is skipped with the reason in its name otherwise.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/index.js"
import { testLogger } from "../support/bridge.js"
import { fixturesDir } from "../support/worker.js"

/** A real CPython 3.8 on this machine, or undefined. */
const findPython38 = (): string | undefined => {
  const pyenvVersions = join(process.env.PYENV_ROOT ?? join(homedir(), ".pyenv"), "versions")
  const fromPyenv = existsSync(pyenvVersions)
    ? readdirSync(pyenvVersions).filter((v) => v.startsWith("3.8.")).map((v) => join(pyenvVersions, v, "bin", "python3"))
    : []
  const candidates = [process.env.SNAKEPIT_OLD_PYTHON, ...fromPyenv].filter((p): p is string => !!p)
  return candidates.find((p) => {
    try {
      return execFileSync(p, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" }).trim() === "3.8"
    } catch {
      return false
    }
  })
}

const python38 = findPython38()

const refusal = async (python: string) => {
  const started: unknown[] = []
  const e = await PythonBridge.start({ python, pythonPath: [fixturesDir], minWorkers: 1, logger: testLogger }).then(
    async (bridge) => {
      started.push(bridge)
      await bridge.stop()
      return undefined
    },
    (x: unknown) => x,
  )
  expect(started).toEqual([])
  return e
}

describe("a Python older than 3.9", () => {
  it("a stand-in answering the version probe as 3.8.10 is refused with StartupFailed naming both versions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "old-python-"))
    const fake = join(dir, "python3.8")
    writeFileSync(fake, `#!/bin/sh\necho ${fake}\necho 3.8.10\n`)
    chmodSync(fake, 0o755)
    try {
      const e = await refusal(fake)
      expect(e).toMatchObject({ _tag: "StartupFailed", message: `${fake} is Python 3.8.10; snakepit needs CPython 3.9 or newer` })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it(`the real CPython 3.8 is refused with StartupFailed${python38 ? ` (${python38})` : " (skipped: no CPython 3.8 found; set SNAKEPIT_OLD_PYTHON)"}`, { skip: !python38 }, async () => {
    const e = await refusal(python38!)
    expect(e).toMatchObject({ _tag: "StartupFailed", message: expect.stringMatching(/ is Python 3\.8\.\d+; snakepit needs CPython 3\.9 or newer$/) })
  })
})
