// Runs the Python side's pytest suite with the same interpreter the bridge would use.
// Falls back to Debian's /usr/bin/python3 when the configured one has no pytest
// (.ci/run installs python3-pytest there on a fresh machine).
import { spawnSync } from "node:child_process"

const candidates = [process.env.SNAKEPIT_PYTHON ?? "python3", "/usr/bin/python3"]
const hasPytest = (py) => spawnSync(py, ["-m", "pytest", "--version"], { stdio: "ignore" }).status === 0
const python = candidates.find(hasPytest)
if (!python) {
  console.error("pytest is not installed for python3. Install it: apt-get install -y python3-pytest (or pip install pytest).")
  process.exit(1)
}
const run = spawnSync(python, ["-m", "pytest", "python/tests", "-q", "-p", "no:cacheprovider"], { stdio: "inherit" })
process.exit(run.status ?? 1)
