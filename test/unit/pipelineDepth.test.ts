import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import {
  MAX_ADAPTIVE_DEPTH,
  MIN_ADAPTIVE_DEPTH,
  PIPE_WAIT_BUDGET_MS,
  STALL_FACTOR,
  STALL_MIN_MS,
  UNMEASURED_DEPTH,
  expectedPipeWaitMs,
  isStalled,
  MOVE_AFTER_MS,
  nextServiceMs,
  pipelineDepthFor,
  serviceEstimateMs,
  worthMoving,
} from "../../src/bridge/pipelineDepth.js"

const ms = fc.double({ min: 0, max: 1e6, noNaN: true })
const depth = fc.nat({ max: 1_000 })
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })

describe("pipelineDepthFor", () => {
  it("pipelines echo-sized calls deep, slow calls shallow, and waits for a measurement", () => {
    expect(pipelineDepthFor(0.02, undefined)).toBe(MAX_ADAPTIVE_DEPTH)
    expect(pipelineDepthFor(0.1, undefined)).toBe(20)
    expect(pipelineDepthFor(50, undefined)).toBe(MIN_ADAPTIVE_DEPTH)
    expect(pipelineDepthFor(undefined, undefined)).toBe(UNMEASURED_DEPTH)
  })

  test.prop([ms, ms])("is non-increasing in the service time", (a, b) => {
    const [fast, slow] = a <= b ? [a, b] : [b, a]
    expect(pipelineDepthFor(fast, undefined)).toBeGreaterThanOrEqual(pipelineDepthFor(slow, undefined))
  })

  test.prop([maybe(ms)])("stays within its bounds", (serviceMs) => {
    const d = pipelineDepthFor(serviceMs, undefined)
    expect(Number.isInteger(d)).toBe(true)
    expect(d).toBeGreaterThanOrEqual(MIN_ADAPTIVE_DEPTH)
    expect(d).toBeLessThanOrEqual(MAX_ADAPTIVE_DEPTH)
  })

  test.prop([maybe(ms), depth])("an explicit pipelineDepth wins", (serviceMs, override) => {
    expect(pipelineDepthFor(serviceMs, override)).toBe(override)
  })

  test.prop([ms])("the last call of a full pipe waits at most the budget (beyond the shallowest pipe)", (serviceMs) => {
    const d = pipelineDepthFor(serviceMs, undefined)
    if (d > MIN_ADAPTIVE_DEPTH) expect(d * serviceMs).toBeLessThanOrEqual(PIPE_WAIT_BUDGET_MS + 1e-9)
  })
})

describe("nextServiceMs and serviceEstimateMs", () => {
  test.prop([maybe(ms), ms])("the mean moves toward the sample and never past it", (mean, sample) => {
    const next = nextServiceMs(mean, sample)
    const from = mean ?? sample
    expect(next).toBeGreaterThanOrEqual(Math.min(from, sample) - 1e-9)
    expect(next).toBeLessThanOrEqual(Math.max(from, sample) + 1e-9)
  })

  test.prop([maybe(ms), maybe(ms)])("a running call only ever makes the estimate slower", (mean, running) => {
    const estimate = serviceEstimateMs(mean, running)
    if (mean !== undefined) expect(estimate).toBeGreaterThanOrEqual(mean)
    if (running === undefined) expect(estimate).toBe(mean)
  })

  it("a call running past the budget on an unmeasured worker counts; a young one does not", () => {
    expect(serviceEstimateMs(undefined, PIPE_WAIT_BUDGET_MS * 10)).toBe(PIPE_WAIT_BUDGET_MS * 10)
    expect(serviceEstimateMs(undefined, PIPE_WAIT_BUDGET_MS / 2)).toBeUndefined()
  })
})

describe("worthMoving", () => {
  it("moves calls from behind a call running past MOVE_AFTER_MS, not from behind a young one or an idle worker", () => {
    expect(worthMoving(MOVE_AFTER_MS + 1)).toBe(true)
    expect(worthMoving(MOVE_AFTER_MS)).toBe(false)
    expect(worthMoving(0.05)).toBe(false)
    expect(worthMoving(undefined)).toBe(false)
  })

  test.prop([maybe(ms), ms])("a call that stalled is always worth moving from (with a free slot elsewhere, sooner than a stall)", (mean, running) => {
    if (isStalled(mean, running)) expect(worthMoving(running)).toBe(true)
  })
})

describe("isStalled and expectedPipeWaitMs", () => {
  it("a call has stalled past the floor and the factor of the mean, not before", () => {
    expect(isStalled(0.05, STALL_MIN_MS + 1)).toBe(true)
    expect(isStalled(0.05, STALL_MIN_MS)).toBe(false)
    expect(isStalled(undefined, STALL_MIN_MS + 1)).toBe(true)
    expect(isStalled(50, 50 * STALL_FACTOR)).toBe(false)
    expect(isStalled(50, 50 * STALL_FACTOR + 1)).toBe(true)
    expect(isStalled(0.05, undefined)).toBe(false)
  })

  test.prop([maybe(ms), ms, ms])("a call that stalled stays stalled as it runs on", (mean, a, b) => {
    const [young, old] = a <= b ? [a, b] : [b, a]
    if (isStalled(mean, young)) expect(isStalled(mean, old)).toBe(true)
  })

  test.prop([fc.nat(100), fc.integer({ min: 1, max: 8 }), maybe(ms), fc.nat(5)])(
    "one more call waits longer behind more calls, and longer behind slower ones",
    (inFlight, slots, estimate, more) => {
      expect(expectedPipeWaitMs(inFlight + more, slots, estimate)).toBeGreaterThanOrEqual(expectedPipeWaitMs(inFlight, slots, estimate))
      if (estimate !== undefined) expect(expectedPipeWaitMs(inFlight, slots, estimate * 2)).toBeGreaterThanOrEqual(expectedPipeWaitMs(inFlight, slots, estimate))
      expect(expectedPipeWaitMs(inFlight, slots, estimate)).toBeGreaterThanOrEqual(0)
    },
  )

  it("weighs a pipe by its calls' service time: one endless call outweighs several quick ones", () => {
    expect(expectedPipeWaitMs(1, 1, 5_000)).toBe(5_000)
    expect(expectedPipeWaitMs(3, 1, 0.05)).toBeCloseTo(0.15)
    expect(expectedPipeWaitMs(1, 1, undefined)).toBe(PIPE_WAIT_BUDGET_MS)
  })
})
