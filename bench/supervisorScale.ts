/**
 * The supervisor's cost per child as the number of children grows: start and stop a static
 * supervisor of `n` trivial children (tiny XState machines, no processes), and start `n`
 * children one `startChild` at a time under a dynamic supervisor, then terminate them one
 * `terminateChild` at a time. OTP's `scale_start_stop_many_children` asks the same question.
 * Used by the "supervisor scale" row of `bench/run.ts`; run alone with
 * `node --import tsx bench/supervisorScale.ts [n...]` (add `--cpu-prof` to profile).
 *
 * @example
 * const small = await staticCost(100)
 * const large = await staticCost(2_000)
 * large.perChildUs / small.perChildUs // ≈ 1 when the cost per child does not grow
 */
import { setup } from "xstate"
import type { ChildSpec } from "../src/supervisor/childSpec.js"
import { DynamicSupervisor, Supervisor } from "../src/supervisor/Supervisor.js"

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

/**
 * Per-child cost at `large` children over per-child cost at `small`, best of `reps`. The small
 * side of a repetition runs `large / small` supervisors of `small` children one after another,
 * so both sides start and stop as many children and make as much garbage: a major GC then falls
 * on either side alike instead of always on the large one. One unmeasured warm-up run first.
 * 1 means the cost per child does not grow with the number of children.
 *
 * @example
 * const { ratio } = await scaleRatio(staticCost, 100, 2_000, 1)
 */
export const scaleRatio = async (measure: (n: number) => Promise<ScaleCost>, small: number, large: number, reps: number): Promise<{ small: ScaleCost; large: ScaleCost; ratio: number }> => {
  await measure(small)
  const smalls: ScaleCost[] = []
  const larges: ScaleCost[] = []
  for (let r = 0; r < reps; r++) {
    let startMs = 0
    let stopMs = 0
    const runs = Math.max(1, Math.round(large / small))
    for (let k = 0; k < runs; k++) {
      const c = await measure(small)
      startMs += c.startMs
      stopMs += c.stopMs
    }
    smalls.push({ ...cost(runs * small, startMs, stopMs), n: small })
    larges.push(await measure(large))
  }
  const best = (costs: ScaleCost[]) => costs.reduce((a, b) => (b.perChildUs < a.perChildUs ? b : a))
  const s = best(smalls)
  const l = best(larges)
  return { small: s, large: l, ratio: l.perChildUs / s.perChildUs }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0)
  const [small, large] = sizes.length >= 2 ? sizes : [100, 2_000]
  const show = (label: string, a: ScaleCost, b: ScaleCost) =>
    process.stdout.write(
      `${label}: ${a.n} → ${a.perChildUs.toFixed(1)} µs/child (start ${a.startMs.toFixed(0)} ms, stop ${a.stopMs.toFixed(0)} ms); ` +
        `${b.n} → ${b.perChildUs.toFixed(1)} µs/child (start ${b.startMs.toFixed(0)} ms, stop ${b.stopMs.toFixed(0)} ms); ratio ${(b.perChildUs / a.perChildUs).toFixed(2)}\n`,
    )
  const reps = Number(process.env.REPS ?? 1)
  const st = await scaleRatio(staticCost, small!, large!, reps)
  show("static ", st.small, st.large)
  const dy = await scaleRatio(dynamicCost, small!, large!, reps)
  show("dynamic", dy.small, dy.large)
  const rs = await restartAndStatusCost(small!, 20)
  const rl = await restartAndStatusCost(large!, 20)
  process.stdout.write(
    `restart: ${rs.restartUs.toFixed(0)} µs at ${small} children, ${rl.restartUs.toFixed(0)} µs at ${large} (ratio ${(rl.restartUs / rs.restartUs).toFixed(2)}); ` +
      `status per child: ${rs.statusUsPerChild.toFixed(2)} µs, ${rl.statusUsPerChild.toFixed(2)} µs (ratio ${(rl.statusUsPerChild / rs.statusUsPerChild).toFixed(2)})\n`,
  )
}
