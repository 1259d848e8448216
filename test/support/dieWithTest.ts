/**
 * Test infrastructure (nats-server, agent processes) that dies with the test process: where
 * util-linux's `setpriv` can, the command runs under `--pdeathsig KILL`, so the kernel ends it
 * when the test process dies, even by SIGKILL or a runner's timeout, which skip every teardown
 * hook (a killed run left a server, an agent and its workers behind for hours). `setpriv` execs
 * the command, so the child's pid and the signals a test sends it are the command's own.
 *
 * @example
 * const [file, args] = dieWithTest("nats-server", ["-p", "4222"])
 * spawn(file, args) // setpriv --pdeathsig KILL nats-server -p 4222, where setpriv works
 */
import { spawnSync } from "node:child_process"

const guarded = spawnSync("setpriv", ["--pdeathsig", "KILL", "true"], { stdio: "ignore" }).status === 0

/** The command and arguments that run `file` so that it dies with this process where it can. */
export const dieWithTest = (file: string, args: readonly string[]): [string, string[]] =>
  guarded ? ["setpriv", ["--pdeathsig", "KILL", file, ...args]] : [file, [...args]]
