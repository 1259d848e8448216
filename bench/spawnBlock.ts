/**
 * How long `child_process.spawn()` holds Node's event loop, by the size of Node's own memory:
 * `node --import tsx bench/spawnBlock.ts`. Linux.
 *
 * `spawn()` returns only once the child exists, and libuv makes it by forking Node itself, whose
 * page tables the kernel copies: the call's time grows with Node's resident memory. Every worker
 * a pool spawns (`spawnMode: "spawn"`, the default) pays it on the event loop; the bench's bare
 * `python3 -c pass` reference pays the same. With `spawnMode: "forkserver"` Node spawns one
 * template, which forks the workers. Prints the median of `N` spawns (default 20) of
 * `python3 -S -c pass` at each resident size. See docs/performance.md, "Cold start".
 *
 * @example
 * // node --import tsx bench/spawnBlock.ts
 * // rss   60 MB: spawn() holds the event loop 1.9 ms (median of 20)
 * // rss  260 MB: spawn() holds the event loop 7.6 ms (median of 20)
 */
import { spawn } from "node:child_process"
import { median } from "./stats.js"

const N = Number(process.env.N ?? 20)
const python = process.env.SNAKEPIT_PYTHON ?? "python3"
const held: Float64Array[] = []

for (const extraMb of [0, 200, 800]) {
  // Touch every page, so it is resident and in the page tables a fork copies.
  while (held.length * 8 < extraMb) held.push(new Float64Array(1_000_000).fill(1))
  const times: number[] = []
  for (let i = 0; i < N; i++) {
    const started = performance.now()
    const child = spawn(python, ["-S", "-c", "pass"], { stdio: "ignore" })
    times.push(performance.now() - started)
    await new Promise((done) => child.on("exit", done))
  }
  const rss = Math.round(process.memoryUsage().rss / 1e6)
  process.stdout.write(`rss ${String(rss).padStart(4)} MB: spawn() holds the event loop ${median(times).toFixed(1)} ms (median of ${N})\n`)
}
