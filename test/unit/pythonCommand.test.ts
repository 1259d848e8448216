/**
 * Which `python` commands are replaced by the interpreter they start (a version manager's shim)
 * and which are spawned as given (a wrapper), and the `PYTHONPATH` a worker gets: no empty entry,
 * which Python would read as the working directory, searched before the standard library.
 * (pythonWrapper.test.ts and workerPath.test.ts run both with real processes.)
 */
import { delimiter } from "node:path"
import { describe, expect, it } from "vitest"
import { isInterpreterShim } from "../../src/worker/python.js"
import { workerPythonPath } from "../../src/worker/process.js"

const PYENV_SHIM = `#!/usr/bin/env bash
set -e
[ -n "$PYENV_DEBUG" ] && set -x

program="\${0##*/}"

export PYENV_ROOT="/root/.pyenv"
exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"
`
const ASDF_SHIM = `#!/usr/bin/env bash
# asdf-plugin: python 3.12.1
exec /home/u/.asdf/bin/asdf exec "python3" "$@" # asdf_allow: ^python3$
`

describe("isInterpreterShim", () => {
  it("a pyenv or asdf shim in a shims directory is one", () => {
    expect(isInterpreterShim("/root/.pyenv/shims/python3", PYENV_SHIM)).toBe(true)
    // pyenv 2.3+ writes where the shim was called from.
    const recent = PYENV_SHIM.replace('exec "/root', 'SHIM_PATH=${0%/*}\nif [[ $SHIM_PATH != "/root/.pyenv/shims" ]]; then\n  export _PYENV_SHIM_PATH="$SHIM_PATH"\nfi\nexec "/root')
    expect(isInterpreterShim("/root/.pyenv/shims/python3", recent)).toBe(true)
    expect(isInterpreterShim("/home/u/.asdf/shims/python3", ASDF_SHIM)).toBe(true)
    expect(isInterpreterShim("/home/u/.asdf/shims/python3", "#!/usr/bin/env bash\nexec asdf exec \"python3\" \"$@\"\n")).toBe(true)
  })

  it("a wrapper is not, wherever it is, and a shim's text outside a shims directory is not", () => {
    const setpriv = '#!/bin/sh\nexec setpriv --reuid=65534 /usr/bin/python3 "$@"\n'
    expect(isInterpreterShim("/opt/bin/as-nobody", setpriv)).toBe(false)
    expect(isInterpreterShim("/opt/shims/python3", setpriv)).toBe(false)
    // A wrapper that picks its interpreter with pyenv but confines it first.
    expect(isInterpreterShim("/opt/shims/python3", '#!/bin/sh\nexec bwrap --unshare-all "$(pyenv which python3)" "$@"\n')).toBe(false)
    expect(isInterpreterShim("/opt/bin/python3", PYENV_SHIM)).toBe(false)
    // Found by a review: a shim's exec line after lines of the wrapper's own (limits, exports)
    // passed for a shim, and the limits were dropped.
    expect(isInterpreterShim("/opt/shims/python3", '#!/bin/sh\nulimit -v 2000000; export CONFINED=1; exec pyenv exec python3 "$@"\n')).toBe(false)
    expect(isInterpreterShim("/root/.pyenv/shims/python3", PYENV_SHIM.replace("set -e", "set -e\nulimit -v 2000000"))).toBe(false)
    expect(isInterpreterShim("/root/.pyenv/shims/python3", PYENV_SHIM.replace("exec ", "if true; then exec ") + "fi\n")).toBe(false)
    // A pyenv shim outside its own root's shims directory, or with two hand-overs.
    expect(isInterpreterShim("/elsewhere/shims/python3", PYENV_SHIM)).toBe(false)
    expect(isInterpreterShim("/root/.pyenv/shims/python3", PYENV_SHIM + 'exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"\n')).toBe(false)
    // Not a script, or too long to be a shim.
    expect(isInterpreterShim("/root/.pyenv/shims/python3", PYENV_SHIM.slice(2))).toBe(false)
    expect(isInterpreterShim("/root/.pyenv/shims/python3", PYENV_SHIM + "#".repeat(5000))).toBe(false)
  })
})

describe("workerPythonPath", () => {
  it("keeps every entry in order and drops the empty ones, the host's included", () => {
    const d = (...entries: string[]) => entries.join(delimiter)
    expect(workerPythonPath(["/bridge", "./py"], d("/x", ""))).toBe(d("/bridge", "./py", "/x"))
    expect(workerPythonPath(["/bridge"], d("", "/x", "", "/y", ""))).toBe(d("/bridge", "/x", "/y"))
    expect(workerPythonPath(["/bridge", "", d("/a", "")], "")).toBe(d("/bridge", "/a"))
    expect(workerPythonPath(["/bridge"], "")).toBe("/bridge")
  })
})
