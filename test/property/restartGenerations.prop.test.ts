/**
 * The rule of restartGenerations.ts for any interleaving of restart requests and generation
 * endings (resolved or failed): at most one generation runs at a time; a request made with none
 * running begins one; requests made while one runs all settle with the same next generation,
 * however many they are, and never with the one under way.
 */
import { expect, it } from "vitest"
import fc from "fast-check"
import { RestartGenerations } from "../../src/bridge/restartGenerations.js"

type Step = { readonly kind: "request" } | { readonly kind: "end"; readonly ok: boolean }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "request" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("end" as const), ok: fc.boolean() }) },
)

const flush = () => new Promise<void>((r) => setImmediate(r))

interface Request {
  /** The generation running when it was made, or undefined when none ran. */
  readonly during: number | undefined
  /** How many generations had begun when it was made. */
  readonly begunBefore: number
  settledWith: number | undefined
}

it("one generation at a time; a request begins one or joins the single next one; none is served by a generation begun before it", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { maxLength: 30 }), async (steps) => {
      const generations: Array<{ end: (ok: boolean) => void; ended: boolean }> = []
      let running = 0
      let mostAtOnce = 0
      const runner = new RestartGenerations(() => {
        mostAtOnce = Math.max(mostAtOnce, ++running)
        const index = generations.length
        return new Promise<number>((resolve, reject) => {
          const g = {
            ended: false,
            end: (ok: boolean) => {
              g.ended = true
              running--
              if (ok) resolve(index)
              else reject(index)
            },
          }
          generations.push(g)
        })
      })
      const current = () => {
        const i = generations.findIndex((g) => !g.ended)
        return i === -1 ? undefined : i
      }
      const requests: Request[] = []
      for (const step of steps) {
        if (step.kind === "request") {
          const r: Request = { during: current(), begunBefore: generations.length, settledWith: undefined }
          requests.push(r)
          runner.request().then(
            (i) => (r.settledWith = i),
            (i: number) => (r.settledWith = i),
          )
        } else {
          const i = current()
          if (i !== undefined) generations[i]!.end(step.ok)
        }
        await flush()
      }
      for (let i = current(); i !== undefined; i = current()) {
        generations[i]!.end(true)
        await flush()
      }
      expect(mostAtOnce).toBeLessThanOrEqual(1)
      for (const r of requests) {
        expect(r.settledWith).toBeDefined()
        if (r.during === undefined) expect(r.settledWith).toBe(r.begunBefore)
        else expect(r.settledWith).toBe(r.during + 1)
      }
    }),
    { numRuns: 300 },
  )
})
