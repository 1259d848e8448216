/**
 * What it costs to give a failed call the caller's stack (see src/errorContext.ts).
 *
 * Three ways, measured per call from inside a chain of async functions as an application has:
 * - `new Error()` at call time (what a pool that keeps "where was I called from" does),
 * - `Error.captureStackTrace` at call time with `stackTraceLimit` 5,
 * - what snakepit does: an `async` entry point that awaits the call and captures the stack only
 *   when it fails (V8's async stack traces name the awaiting functions), measured as the cost of
 *   that extra `await` on a call that succeeds.
 *
 * Run: `node --import tsx bench/callerStack.ts` (prints one JSON line, ns per call: the median of
 * 7 rounds).
 */

const ROUNDS = 7
const CALLS = 200_000

const settled = () => Promise.resolve(1)

function captureWithNewError(): unknown {
  return new Error()
}

function captureWithLimit(): unknown {
  const holder: { stack?: string } = {}
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 5
  Error.captureStackTrace(holder, captureWithLimit)
  Error.stackTraceLimit = limit
  return holder
}

const direct = (): Promise<number> => settled()

async function awaited(): Promise<number> {
  try {
    return await settled()
  } catch (e) {
    throw e
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** ns per call of a synchronous `f`. */
const syncCost = (f: () => unknown): number => {
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < CALLS; i++) f()
    rounds.push(Number(process.hrtime.bigint() - t) / CALLS)
  }
  return median(rounds)
}

/** ns per awaited call of an async `f`. */
const asyncCost = async (f: () => Promise<unknown>): Promise<number> => {
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < CALLS; i++) await f()
    rounds.push(Number(process.hrtime.bigint() - t) / CALLS)
  }
  return median(rounds)
}

// Measured ten async frames deep, as an application's handler would call the bridge.
const deep = async <T>(n: number, f: () => Promise<T>): Promise<T> => (n === 0 ? f() : await deep(n - 1, f))

const result = await deep(10, async () => {
  const baselineAwait = await asyncCost(direct)
  return {
    newErrorNs: Math.round(syncCost(captureWithNewError)),
    captureStackTraceLimit5Ns: Math.round(syncCost(captureWithLimit)),
    emptyObjectNs: Math.round(syncCost(() => ({}))),
    directCallNs: Math.round(baselineAwait),
    asyncEntryNs: Math.round(await asyncCost(awaited)),
  }
})
console.log(JSON.stringify({ bench: "callerStack", node: process.version, ...result, extraPerCallNs: result.asyncEntryNs - result.directCallNs }))
