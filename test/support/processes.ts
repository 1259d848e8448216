/**
 * Process inspection for leak checks (Linux /proc). Zombies are not counted: they hold no
 * resources beyond a pid and vanish when their parent reaps them.
 */
import { readdirSync, readFileSync } from "node:fs"

export interface ProcessInfo {
  readonly pid: number
  readonly cmdline: string
}

const read = (path: string): string | undefined => {
  try { return readFileSync(path, "latin1") } catch { return undefined }
}

/** Live (non-zombie) processes whose environment has `name=value`. */
export const findProcessesWithEnv = (name: string, value: string): ProcessInfo[] => {
  const needle = `${name}=${value}`
  const found: ProcessInfo[] = []
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    const environ = read(`/proc/${pid}/environ`)
    if (!environ || !environ.split("\0").includes(needle)) continue
    if (isZombie(pid)) continue
    found.push({ pid, cmdline: (read(`/proc/${pid}/cmdline`) ?? "").split("\0").join(" ").trim() })
  }
  return found
}

/** True once `pid` has exited (gone, or a zombie waiting to be reaped). */
export const isGone = (pid: number): boolean => read(`/proc/${pid}/stat`) === undefined || isZombie(pid)

const isZombie = (pid: number): boolean => {
  const stat = read(`/proc/${pid}/stat`)
  if (!stat) return true
  // Field 3 follows the parenthesised command name, which may itself contain spaces.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z"
}

/**
 * The processes with `name=value` in their environment, once none is left or `timeoutMs` has
 * passed: `[]` when all are gone. For a check right after a stop: the host SIGKILLs a worker's
 * group once the worker has exited, and the kernel ends what is left (the group's watchman
 * shell, a subprocess) a moment later, under load some milliseconds after `stop()` resolved.
 *
 * @example
 * await bridge.stop()
 * expect(await processesLeft("SNAKEPIT_MY_TEST", mark)).toEqual([])
 */
export const processesLeft = async (name: string, value: string, timeoutMs = 5_000): Promise<ProcessInfo[]> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = findProcessesWithEnv(name, value)
    if (left.length === 0 || Date.now() > deadline) return left
    await new Promise((r) => setTimeout(r, 10))
  }
}
