/**
 * The python-shell reference of the bench: one Python process in python-shell's JSON mode
 * (bench/py/shell_worker.py), answering `{ id, args, work_us? }` lines with `{ id, result }`.
 * It correlates replies by id itself (python-shell does not), so that calls can be pipelined.
 *
 * @example
 * const shell = startPythonShell("python3")
 * await shell.call(1)      // an echo
 * await shell.call(1, 100) // after 100 µs of busy work
 * shell.close()
 */
import { join } from "node:path"
import { PythonShell } from "python-shell"
import { benchPyDir } from "./floor.js"

/** A python-shell process serving the bench's echo and busy work. */
export interface ShellWorker {
  /** Sends one call; resolves when its reply arrives. */
  readonly call: (arg: unknown, workUs?: number) => Promise<void>
  readonly pid: number
  readonly close: () => void
}

/** Starts python-shell on `python` (see the module comment). */
export const startPythonShell = (python: string): ShellWorker => {
  const shell = new PythonShell(join(benchPyDir, "shell_worker.py"), { mode: "json", pythonPath: python })
  const pending = new Map<number, () => void>()
  let nextId = 1
  shell.on("message", (m: { id: number }) => {
    pending.get(m.id)?.()
    pending.delete(m.id)
  })
  return {
    call: (arg, workUs = 0) =>
      new Promise<void>((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        shell.send({ id, args: [arg], ...(workUs ? { work_us: workUs } : {}) })
      }),
    pid: shell.childProcess.pid!,
    close: () => shell.kill("SIGKILL"),
  }
}
