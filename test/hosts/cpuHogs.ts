/**
 * A host for the bench's CPU hog tests: starts two hogs (bench/cpuHogs.ts), prints their pids
 * as JSON, then, by `mode`: `wait` idles until a signal, `throw` fails with an uncaught error,
 * `stop` stops them and exits 0. Run with `node --import tsx test/hosts/cpuHogs.ts <python> <mode>`.
 */
import { startCpuHogs } from "../../bench/cpuHogs.js"

const [python = "python3", mode = "wait"] = process.argv.slice(2)
const hogs = startCpuHogs(2, python)
process.stdout.write(JSON.stringify({ pids: hogs.pids }) + "\n")
if (mode === "throw") {
  setTimeout(() => {
    throw new Error("the bench failed mid-run")
  }, 50)
} else if (mode === "stop") {
  await hogs.stop()
  process.stdout.write("stopped\n")
} else {
  setInterval(() => {}, 1 << 30)
}
