/**
 * Properties of the pure supervision rules: restart plans for any child list, the intensity
 * window against a naive count, and the backoff bounds (Akka's formula, jitter after the cap).
 */
import { expect } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { backoffDelay, nextBackoff } from "../../src/supervisor/backoff.js"
import { exceeds, prune } from "../../src/supervisor/intensity.js"
import { restartPlan, type ChildView } from "../../src/supervisor/strategy.js"

const childrenArb = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.record({ restart: fc.constantFrom("permanent", "transient", "temporary"), alive: fc.boolean() }), { minLength: ids.length, maxLength: ids.length }),
      fc.nat({ max: ids.length - 1 }),
    ),
  )
  .map(([ids, props, failedAt]) => ({
    // The failed child is never temporary: a temporary child is not restarted at all.
    children: ids.map((id, i): ChildView => ({ id, ...props[i]!, ...(i === failedAt ? { restart: "permanent" as const, alive: false } : {}) })),
    failed: ids[failedAt]!,
  }))

const strategyArb = fc.constantFrom("one_for_one", "one_for_all", "rest_for_one") as fc.Arbitrary<"one_for_one" | "one_for_all" | "rest_for_one">

test.prop([childrenArb, strategyArb])("restart plans stop living siblings in reverse start order and start in start order, never a temporary sibling", ({ children, failed }, strategy) => {
  const plan = restartPlan(strategy, children, failed)
  const order = children.map((c) => c.id)
  const byId = new Map(children.map((c) => [c.id, c]))
  const at = order.indexOf(failed)
  const positions = (ids: ReadonlyArray<string>) => ids.map((id) => order.indexOf(id))
  // stop: reverse start order, living, never the failed child
  expect(positions(plan.stop)).toEqual([...positions(plan.stop)].sort((a, b) => b - a))
  for (const id of plan.stop) expect(byId.get(id)!.alive && id !== failed).toBe(true)
  // start: start order, includes the failed child, no temporary sibling
  expect(positions(plan.start)).toEqual([...positions(plan.start)].sort((a, b) => a - b))
  expect(plan.start).toContain(failed)
  for (const id of plan.start) expect(id === failed || byId.get(id)!.restart !== "temporary").toBe(true)
  for (const id of plan.remove) expect(byId.get(id)!.restart).toBe("temporary")
  const touched = new Set([...plan.stop, ...plan.start, ...plan.remove])
  if (strategy === "one_for_one") expect([...touched]).toEqual([failed])
  if (strategy === "rest_for_one") for (const id of touched) expect(order.indexOf(id)).toBeGreaterThanOrEqual(at)
  if (strategy === "one_for_all") {
    expect(plan.start).toEqual(order.filter((id) => id === failed || byId.get(id)!.restart !== "temporary"))
    expect(plan.stop).toEqual(order.filter((id) => id !== failed && byId.get(id)!.alive).reverse())
  }
})

const windowArb = fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 30 }).map((w) => [...w].sort((a, b) => a - b))
const limitArb = fc.record({ intensity: fc.nat({ max: 10 }), periodMs: fc.integer({ min: 1, max: 50_000 }) })

test.prop([windowArb, limitArb, fc.integer({ min: 0, max: 150_000 })])("exceeds equals a naive count of restarts with t ≥ now − periodMs", (w, limit, now) => {
  const naive = w.filter((t) => t >= now - limit.periodMs).length > limit.intensity
  expect(exceeds(w, limit, now)).toBe(naive)
})

test.prop([windowArb, fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 0, max: 150_000 })])("prune is idempotent and only drops entries older than the period", (w, periodMs, now) => {
  const once = prune(w, periodMs, now)
  expect(prune(once, periodMs, now)).toEqual(once)
  for (const t of w) expect(once.includes(t)).toBe(t >= now - periodMs)
})

const backoffArb = fc
  .record({ minMs: fc.integer({ min: 0, max: 10_000 }), extra: fc.integer({ min: 0, max: 100_000 }), randomFactor: fc.double({ min: 0, max: 1, noNaN: true }) })
  .map(({ minMs, extra, randomFactor }) => ({ minMs, maxMs: minMs + extra, randomFactor }))
const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

test.prop([fc.nat({ max: 64 }), backoffArb, randomArb])("backoff delays lie between the capped base and maxMs · (1 + randomFactor)", (n, options, random) => {
  const base = n >= 30 ? options.maxMs : Math.min(options.maxMs, options.minMs * 2 ** n)
  const delay = backoffDelay(n, options, random)
  expect(delay).toBeGreaterThanOrEqual(base)
  expect(delay).toBeLessThanOrEqual(options.maxMs * (1 + options.randomFactor) + 1e-6)
  expect(delay).toBeGreaterThanOrEqual(Math.min(options.minMs, options.maxMs))
})

test.prop([fc.nat({ max: 63 }), backoffArb, randomArb])("backoff never shrinks as consecutive restarts grow", (n, options, random) => {
  expect(backoffDelay(n + 1, options, random)).toBeGreaterThanOrEqual(backoffDelay(n, options, random))
})

test.prop([fc.nat({ max: 29 }), backoffArb])("without jitter the delay is exactly min(maxMs, minMs · 2ⁿ)", (n, options) => {
  const exact = { ...options, randomFactor: 0 }
  expect(backoffDelay(n, exact, 0.7)).toBe(Math.min(exact.maxMs, exact.minMs * 2 ** n))
})

test.prop([fc.nat({ max: 40 }), backoffArb, fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 100_000 }), randomArb])(
  "nextBackoff starts over once the child ran for resetAfterMs, and counts up otherwise",
  (consecutive, options, resetAfterMs, ranForMs, random) => {
    const next = nextBackoff({ ...options, resetAfterMs }, consecutive, ranForMs, random)
    if (ranForMs >= resetAfterMs) expect(next).toEqual({ delayMs: backoffDelay(0, options, random), consecutive: 1 })
    else expect(next).toEqual({ delayMs: backoffDelay(consecutive, options, random), consecutive: consecutive + 1 })
  },
)
