/**
 * Which failures end a whole `bridge.map`, not just the items they hit: those that say the pool
 * takes no more calls, ever. After `bridge.stop()` every chunk the map went on sending failed at
 * once with `BridgeStopped`, so a map over endless inputs read and failed them for ever (100 000
 * items in 2 s), and a consumer that skips failed items never ended. The same holds once the
 * supervisor gave up for good (`MaxRestartIntensity` without a `retryAt`: `restart.onExhausted:
 * "stop"`); with `"backoff"` the circuit closes again at `retryAt`, so the map goes on.
 *
 * @example
 * endsMap(new BridgeStopped({ message: "stopped" })) // true
 * endsMap(new CallTimeout({ message: "late", timeoutMs: 50, workerId: "w1" })) // false: that chunk alone failed
 */
import { BridgeStopped, MaxRestartIntensity } from "../errors.js"

/**
 * Whether a chunk (or, with a backend that sends each item as its own call, an item) that failed
 * with `error` means no later chunk of the map can run.
 *
 * @example
 * if (!outcome.ok && endsMap(outcome.error)) haltMap(outcome.error)
 */
export const endsMap = (error: unknown): boolean =>
  error instanceof BridgeStopped || (error instanceof MaxRestartIntensity && error.retryAt === undefined)
