/**
 * The supervisor's cost per child as the number of children grows: start and stop a static
 * supervisor of `n` trivial children (tiny XState machines, no processes), and start `n`
 * children one `startChild` at a time under a dynamic supervisor, then terminate them one
 * `terminateChild` at a time. OTP's `scale_start_stop_many_children` asks the same question.
 * Used by the "supervisor scale" row of `bench/run.ts`; run alone with
 * `node --import tsx bench/supervisorScale.ts [small large]` (each size runs in a fresh process).
 *
 * @example
 * const small = await staticCost(100)
 * const large = await staticCost(2_000)
 * large.perChildUs / small.perChildUs // ≈ 1 when the cost per child does not grow
 */
import { spawn } from "node:child_process"
import { fileURLToPath, pathToFileURL } from "node:url"
import { setup } from "xstate"
import type { ChildSpec } from "../src/supervisor/childSpec.js"
import { loadLibrary } from "./library.js"

/** A child that is running as soon as it starts and stops when asked. */
const trivial = setup({ types: { events: {} as { type: "snakepit.shutdown" } } }).createMachine({
  id: "trivial",
  initial: "running",
  states: { running: { on: { "snakepit.shutdown": "done" } }, done: { type: "final" } },
})

const specOf = (id: string): ChildSpec => ({ id, start: trivial })

/**
 * One measurement, in CPU time of this process (user + system): the work is all in-process and
 * synchronous (no I/O, no timers), and CPU time does not count the time other processes on a
 * shared machine take from us, which wall time does.
 */
export interface ScaleCost {
  readonly n: number
  readonly startMs: number
  readonly stopMs: number
  /** (start + stop) / n, in µs. */
  readonly perChildUs: number
}

/** CPU milliseconds this process has used. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

const cost = (n: number, startMs: number, stopMs: number): ScaleCost => ({ n, startMs, stopMs, perChildUs: ((startMs + stopMs) * 1000) / n })

/**
 * A static supervisor of `n` children: `Supervisor.start` (children started in order) then
 * `stop` (children stopped in reverse order).
 *
 * @example
 * (await staticCost(100)).perChildUs
 */
export const staticCost = async (n: number): Promise<ScaleCost> => {
  const { Supervisor } = await loadLibrary()
  const children = Array.from({ length: n }, (_, i) => specOf(`c${i}`))
  let t = cpuMs()
  const sup = await Supervisor.start({ id: "scale", children })
  const startMs = cpuMs() - t
  t = cpuMs()
  await sup.stop()
  return cost(n, startMs, cpuMs() - t)
}

/**
 * A dynamic supervisor: `n` sequential `startChild`, then `n` sequential `terminateChild`.
 *
 * @example
 * (await dynamicCost(300)).perChildUs
 */
export const dynamicCost = async (n: number): Promise<ScaleCost> => {
  const { DynamicSupervisor } = await loadLibrary()
  const sup = await DynamicSupervisor.start({ id: "scale" })
  let t = cpuMs()
  for (let i = 0; i < n; i++) await sup.startChild(specOf(`c${i}`))
  const startMs = cpuMs() - t
  t = cpuMs()
  for (let i = 0; i < n; i++) await sup.terminateChild(`c${i}`)
  const stopMs = cpuMs() - t
  await sup.stop()
  return cost(n, startMs, stopMs)
}

/**
 * Restarts and status reads in a static supervisor of `n` children: `kills` children stopped
 * from outside and restarted (µs per restart), and `getStatus`/`countChildren` (µs per child).
 *
 * @example
 * (await restartAndStatusCost(2_000, 100)).restartUs
 */
export const restartAndStatusCost = async (n: number, kills: number): Promise<{ n: number; restartUs: number; statusUsPerChild: number }> => {
  const { Supervisor } = await loadLibrary()
  const children = Array.from({ length: n }, (_, i) => specOf(`c${i}`))
  const sup = await Supervisor.start({ id: "scale", flags: { intensity: kills + 1, periodMs: 60_000 }, children })
  let restarted = 0
  let wake = () => {}
  const off = sup.on("child.started", () => {
    restarted++
    wake()
  })
  const refs = sup.whichChildren().map((c) => c.ref!)
  let t = cpuMs()
  for (let k = 0; k < kills; k++) {
    const target = refs[Math.floor((k * n) / kills)]!
    const seen = restarted
    const back = new Promise<void>((resolve) => (wake = resolve))
    target.send({ type: "snakepit.shutdown" })
    if (restarted === seen) await back
  }
  const restartUs = ((cpuMs() - t) * 1000) / kills
  off()
  const READS = 20
  t = cpuMs()
  for (let r = 0; r < READS; r++) {
    sup.getStatus()
    sup.countChildren()
  }
  const statusUsPerChild = ((cpuMs() - t) * 1000) / READS / n
  await sup.stop()
  return { n, restartUs, statusUsPerChild }
}

const KINDS = { static: staticCost, dynamic: dynamicCost } as const

/** Which supervisor is measured. */
export type ScaleKind = keyof typeof KINDS

/** The per-child cost of both kinds at one size. */
export type ScaleCosts = Record<ScaleKind, ScaleCost>

/**
 * In this process, for each kind: the best of `reps` runs, each of which starts and stops at
 * least `volume` children (`volume / n` supervisors of `n` one after another), so a small size
 * makes as much garbage per run as a large one. Unmeasured warm-up runs of 100 children first.
 *
 * @example
 * (await bestCosts(100, 2_000, 3)).static.perChildUs
 */
export const bestCosts = async (n: number, volume: number, reps: number): Promise<ScaleCosts> => {
  for (const measure of Object.values(KINDS)) for (let k = 0; k < 3; k++) await measure(100)
  const best = {} as Record<ScaleKind, ScaleCost>
  for (let r = 0; r < reps; r++) {
    for (const [kind, measure] of Object.entries(KINDS) as Array<[ScaleKind, (n: number) => Promise<ScaleCost>]>) {
      let startMs = 0
      let stopMs = 0
      const runs = Math.max(1, Math.round(volume / n))
      for (let k = 0; k < runs; k++) {
        const c = await measure(n)
        startMs += c.startMs
        stopMs += c.stopMs
      }
      const c = { ...cost(runs * n, startMs, stopMs), n }
      if (!best[kind] || c.perChildUs < best[kind].perChildUs) best[kind] = c
    }
  }
  return best
}

/** {@link bestCosts} in a fresh Node process, so each size starts from an empty heap. */
const isolatedCosts = (n: number, volume: number, reps: number): Promise<ScaleCosts> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--measure", String(n), String(volume), String(reps)], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.on("error", reject)
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as ScaleCosts) : reject(new Error(`supervisor scale measurement exited with ${code}`))))
  })

/**
 * Per-child cost at `large` children over per-child cost at `small`, static and dynamic: each
 * size measured by {@link bestCosts} in a fresh process (a heap that held 2 000 children would
 * tax the small runs after it, and a major GC would land on whichever run crossed the heap
 * limit), with the same volume of children per run. 1 means the cost per child does not grow.
 *
 * @example
 * const { static: s } = await scaleRatios(100, 2_000, 1)
 * s.large.perChildUs / s.small.perChildUs
 */
export const scaleRatios = async (small: number, large: number, reps: number): Promise<Record<ScaleKind, { small: ScaleCost; large: ScaleCost; ratio: number }>> => {
  const s = await isolatedCosts(small, large, reps)
  const l = await isolatedCosts(large, large, reps)
  const pair = (kind: ScaleKind) => ({ small: s[kind], large: l[kind], ratio: l[kind].perChildUs / s[kind].perChildUs })
  return { static: pair("static"), dynamic: pair("dynamic") }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  if (process.argv[2] === "--measure") {
    const [n, volume, reps] = process.argv.slice(3).map(Number)
    process.stdout.write(JSON.stringify(await bestCosts(n!, volume!, reps!)))
  } else {
    const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0)
    const [small, large] = sizes.length >= 2 ? sizes : [100, 2_000]
    const reps = Number(process.env.REPS ?? 1)
    const show = (label: string, a: ScaleCost, b: ScaleCost) =>
      process.stdout.write(
        `${label}: ${a.n} → ${a.perChildUs.toFixed(1)} µs/child; ${b.n} → ${b.perChildUs.toFixed(1)} µs/child ` +
          `(start ${b.startMs.toFixed(0)} ms, stop ${b.stopMs.toFixed(0)} ms); ratio ${(b.perChildUs / a.perChildUs).toFixed(2)}\n`,
      )
    const ratios = await scaleRatios(small!, large!, reps)
    show("static ", ratios.static.small, ratios.static.large)
    show("dynamic", ratios.dynamic.small, ratios.dynamic.large)
    await restartAndStatusCost(small!, 20)
    const rs = await restartAndStatusCost(small!, 20)
    const rl = await restartAndStatusCost(large!, 20)
    process.stdout.write(
      `restart: ${rs.restartUs.toFixed(0)} µs at ${small} children, ${rl.restartUs.toFixed(0)} µs at ${large} (ratio ${(rl.restartUs / rs.restartUs).toFixed(2)}); ` +
        `status per child: ${rs.statusUsPerChild.toFixed(2)} µs, ${rl.statusUsPerChild.toFixed(2)} µs (ratio ${(rl.statusUsPerChild / rs.statusUsPerChild).toFixed(2)})\n`,
    )
  }
}
