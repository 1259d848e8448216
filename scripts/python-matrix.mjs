// The Python version matrix: the Python side's pytest suite and an integration slice
// (test/integration/pythonMatrix.test.ts: start, calls, errors, streams, numpy and scikit-learn
// when importable, kill -9 recovery, fork server) on every CPython 3.9–3.13 found on the machine
// and on Debian's /usr/bin/python3, plus the check that a CPython 3.8 is refused at start.
// A version that is not found is printed as skipped, never left out. Exits 1 on any failure.
//
//   node scripts/python-matrix.mjs            # npm run test:python-matrix
//
// Where interpreters are looked for: $PYENV_ROOT/versions/3.M.* (default ~/.pyenv), then
// python3.M in /usr/local/bin and /usr/bin. An interpreter without pytest of its own runs
// Debian's pure-Python pytest (python3-pytest) from a temporary directory that exposes only
// pytest and its dependencies, never the rest of dist-packages (its numpy is built for Debian's
// Python only). Nothing is downloaded.
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const MINORS = [9, 10, 11, 12, 13]
const DEBIAN_PYTHON = "/usr/bin/python3"
const DEBIAN_SITE = "/usr/lib/python3/dist-packages"
const STEP_TIMEOUT_MS = 10 * 60_000

// ---- pure helpers ---------------------------------------------------------------------------

/** Drops terminal colour codes from a tool's output. */
const plain = (text) => text.replace(/\u001b\[[0-9;]*m/g, "")

/** pytest's final line, e.g. "312 passed, 13 skipped in 16.12s" → "312 passed, 13 skipped". */
const pytestSummary = (output) => {
  const lines = plain(output).trim().split("\n").reverse()
  const last = lines.find((l) => /\b(passed|failed|error|errors|skipped|no tests ran)\b/.test(l)) ?? ""
  return last.replace(/^=+\s*|\s*=+$/g, "").replace(/ in [\d.]+s.*$/, "").trim() || "no summary"
}

/** vitest's "Tests  5 passed | 2 skipped (7)" line → "5 passed, 2 skipped". */
const vitestSummary = (output) => {
  const line = plain(output).split("\n").find((l) => /^\s*Tests\s/.test(l)) ?? ""
  return line.replace(/^\s*Tests\s+/, "").replace(/\s*\(\d+\)\s*$/, "").replace(/ \| /g, ", ").trim() || "no summary"
}

/** The reasons vitest printed for skipped tests ("(skipped: numpy is not importable by …)"). */
const skipReasons = (output) =>
  [...new Set(plain(output).split("\n").flatMap((l) => [...l.matchAll(/\(skipped: ([^)]*)\)/g)].map((m) => m[1])))]

/** pytest's `-rs` lines ("SKIPPED [13] python/tests/x.py:9: numpy is not installed") → reasons with counts. */
const pytestSkipReasons = (output) => {
  const counts = new Map()
  for (const m of plain(output).matchAll(/^SKIPPED \[(\d+)\] [^\n]*?:\d+: (.*)$/gm)) counts.set(m[2], (counts.get(m[2]) ?? 0) + Number(m[1]))
  return [...counts].map(([reason, n]) => `${n} ${reason}`)
}

/** A left-aligned text table. */
const table = (rows) => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n")
}

// ---- finding interpreters -------------------------------------------------------------------

/** `{ executable, version }` of a Python command, or undefined if it does not run. */
const probe = (command) => {
  if (!existsSync(command)) return undefined
  const r = spawnSync(command, ["-c", "import sys, platform; print(sys.executable); print(platform.python_version())"], { encoding: "utf8" })
  if (r.status !== 0) return undefined
  const [executable, version] = r.stdout.trim().split("\n")
  return { executable, version, real: realpathSync(executable) }
}

const pyenvVersions = join(process.env.PYENV_ROOT ?? join(homedir(), ".pyenv"), "versions")
const pyenvOf = (minor) => {
  if (!existsSync(pyenvVersions)) return []
  return readdirSync(pyenvVersions)
    .filter((v) => new RegExp(`^3\\.${minor}\\.\\d+$`).test(v))
    .sort((a, b) => Number(b.split(".")[2]) - Number(a.split(".")[2]))
    .map((v) => join(pyenvVersions, v, "bin", "python3"))
}

/** The first working CPython 3.minor among the usual places. */
const findMinor = (minor) =>
  [...pyenvOf(minor), `/usr/local/bin/python3.${minor}`, `/usr/bin/python3.${minor}`]
    .map(probe)
    .find((p) => p && p.version.startsWith(`3.${minor}.`))

// ---- running pytest -------------------------------------------------------------------------

/** A directory exposing only Debian's pytest and its dependencies, or undefined without them. */
const debianPytestDir = () => {
  if (!existsSync(join(DEBIAN_SITE, "pytest")) || !existsSync(join(DEBIAN_SITE, "_pytest"))) return undefined
  const modules = new Set(["_pytest", "pytest", "py.py", "pluggy", "iniconfig", "packaging", "attr", "attrs", "exceptiongroup", "tomli"])
  const metadata = ["pytest", "pluggy", "iniconfig", "packaging", "attrs", "exceptiongroup", "tomli"]
  const dir = mkdtempSync(join(tmpdir(), "snakepit-pytest-"))
  for (const entry of readdirSync(DEBIAN_SITE)) {
    const isMetadata = /\.(dist|egg)-info$/.test(entry) && metadata.some((m) => entry.startsWith(`${m}-`))
    if (modules.has(entry) || isMetadata) symlinkSync(join(DEBIAN_SITE, entry), join(dir, entry))
  }
  return dir
}

/** Runs a command to its end (killed after STEP_TIMEOUT_MS); resolves with its exit status and output. */
const run = (command, args, options) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const timer = setTimeout(() => {
      output += `\n[killed after ${STEP_TIMEOUT_MS / 1000} s]`
      child.kill("SIGKILL")
    }, STEP_TIMEOUT_MS)
    child.on("error", (e) => (output += String(e)))
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, output })
    })
  })

const pythonEnv = (extra = {}) => ({ ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...extra })

/** How this interpreter can run pytest: its own, Debian's through `shim`, or not at all. */
const pytestFor = (python, shim) => {
  const version = (env) => spawnSync(python, ["-m", "pytest", "--version"], { encoding: "utf8", env })
  const own = version(pythonEnv({ PYTHONPATH: "" }))
  if (own.status === 0) return { env: pythonEnv({ PYTHONPATH: "" }), label: `own ${(own.stdout || own.stderr).trim()}` }
  if (shim) {
    const env = pythonEnv({ PYTHONPATH: shim })
    const debian = version(env)
    if (debian.status === 0) return { env, label: `Debian's ${(debian.stdout || debian.stderr).trim()}` }
  }
  return undefined
}

const runPytest = async (python, shim) => {
  const how = pytestFor(python, shim)
  if (!how) {
    // No pytest can run here: at least every module of the bridge must import on this version.
    const r = await run(python, ["-c", "import pkgutil, importlib, snakepit_bridge as p; [importlib.import_module(m.name) for m in pkgutil.walk_packages(p.__path__, 'snakepit_bridge.')]"], {
      cwd: join(root, "python"), env: pythonEnv({ PYTHONPATH: "" }),
    })
    return { ok: r.status === 0, text: r.status === 0 ? "not run (no pytest for this Python); every bridge module imports" : "no pytest; a bridge module fails to import", output: r.output }
  }
  // pytest 7.2's assertion rewriting uses ast nodes that 3.12+ deprecates: its noise, not ours.
  const args = ["-m", "pytest", "python/tests", "-q", "-rs", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning:_pytest.assertion.rewrite"]
  const { status, output } = await run(python, args, { cwd: root, env: how.env })
  const reasons = pytestSkipReasons(output)
  return { ok: status === 0, text: `${pytestSummary(output)} (${how.label}${reasons.length ? `; skipped: ${reasons.join("; ")}` : ""})`, output }
}

// ---- running the integration slice ----------------------------------------------------------

const vitest = async (files, env) => {
  const r = await run(process.execPath, [join(root, "node_modules", "vitest", "vitest.mjs"), "run", ...files, "--reporter=verbose"], {
    cwd: root, env: { ...process.env, ...env },
  })
  return { ok: r.status === 0, output: r.output }
}

const runSlice = async (python) => {
  const r = await vitest(["test/integration/pythonMatrix.test.ts"], { SNAKEPIT_PYTHON: python })
  const reasons = skipReasons(r.output)
  return { ok: r.ok, text: vitestSummary(r.output) + (reasons.length ? ` (${reasons.map((s) => s.split(" ")[0]).join(", ")} not importable)` : ""), output: r.output }
}

// ---- the matrix -----------------------------------------------------------------------------

const rows = [["python", "interpreter", "time", "pytest (python/tests)", "integration slice"]]
const failures = []
const shim = debianPytestDir()
const seen = new Set()

const check = async (name, found, { requireModules = [] } = {}) => {
  console.log(`== python ${name}: ${found.executable} (${found.version})`)
  const began = Date.now()
  const missing = requireModules.filter((m) => spawnSync(found.executable, ["-c", `import ${m}`], { stdio: "ignore" }).status !== 0)
  // pytest mostly waits on the subprocesses it starts, so it shares the two cores with the slice.
  const [pytest, slice] = await Promise.all([
    runPytest(found.executable, shim),
    missing.length
      ? { ok: false, text: `${missing.join(", ")} missing: apt-get install ${missing.map((m) => `python3-${m}`).join(" ")}`, output: "" }
      : runSlice(found.executable),
  ])
  for (const [what, r] of [["pytest", pytest], ["slice", slice]]) {
    if (!r.ok) {
      failures.push(`${name} ${what}`)
      console.log(r.output)
    }
  }
  return [found.version, found.executable, `${Math.round((Date.now() - began) / 1000)} s`, `${pytest.ok ? "ok" : "FAIL"}  ${pytest.text}`, `${slice.ok ? "ok" : "FAIL"}  ${slice.text}`]
}

/**
 * Runs `jobs` (each resolving to a table row) two at a time, rows in the jobs' order: one
 * interpreter's pytest and slice leave most of two cores idle (they wait on the workers they
 * spawn), and one interpreter at a time the matrix took three minutes.
 */
const runTwoAtATime = async (jobs) => {
  const done = new Array(jobs.length)
  let next = 0
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++
      done[i] = await jobs[i]()
    }
  }
  await Promise.all([lane(), lane()])
  return done
}

try {
  const jobs = []
  for (const minor of MINORS) {
    const found = findMinor(minor)
    if (!found) {
      console.log(`python 3.${minor}: not found, skipped`)
      jobs.push(async () => [`3.${minor}`, "not found, skipped", "-", "-", "-"])
      continue
    }
    seen.add(found.real)
    jobs.push(() => check(`3.${minor}`, found))
  }

  // Debian's own Python with Debian's numpy and scikit-learn (.ci/run installs them).
  const debian = probe(DEBIAN_PYTHON)
  if (!debian) {
    console.log(`python debian (${DEBIAN_PYTHON}): not found, skipped`)
    jobs.push(async () => ["debian", `${DEBIAN_PYTHON} not found, skipped`, "-", "-", "-"])
  } else if (seen.has(debian.real)) {
    jobs.push(async () => [`${debian.version} debian`, `${DEBIAN_PYTHON}: the same interpreter as above`, "-", "-", "-"])
  } else {
    jobs.push(() => check(`${debian.version} (debian)`, { ...debian, version: `${debian.version} debian` }, { requireModules: ["numpy", "sklearn"] }))
  }
  rows.push(...(await runTwoAtATime(jobs)))

  // CPython 3.8 must keep failing clearly: StartupFailed at start (test/integration/oldPython.test.ts).
  const old = [...pyenvOf(8), "/usr/local/bin/python3.8", "/usr/bin/python3.8"].map(probe).find((p) => p && p.version.startsWith("3.8."))
  if (!old) console.log("python 3.8: not found, skipped (the stand-in check of oldPython.test.ts still runs)")
  const oldBegan = Date.now()
  const refused = await vitest(["test/integration/oldPython.test.ts"], old ? { SNAKEPIT_OLD_PYTHON: old.executable } : {})
  if (!refused.ok) {
    failures.push("3.8 refusal")
    console.log(refused.output)
  }
  const refusedText = `${refused.ok ? "ok" : "FAIL"}  refused with StartupFailed: ${vitestSummary(refused.output)}`
  rows.push([old ? old.version : "3.8", old ? old.executable : "not found, skipped (stand-in only)", `${Math.round((Date.now() - oldBegan) / 1000)} s`, "-", refusedText])
} finally {
  if (shim) rmSync(shim, { recursive: true, force: true })
}

console.log(`\nPython matrix\n${table(rows)}`)
if (failures.length) {
  console.log(`\nFAILED: ${failures.join("; ")}`)
  process.exit(1)
}
