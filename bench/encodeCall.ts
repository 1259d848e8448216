/**
 * What writing one call's frame costs the host: `node --import tsx bench/encodeCall.ts`
 * (`DIST=1`: the compiled package, `npm run build` first).
 *
 * Writes `N` frames of an echo call (one integer argument, default options) through the general
 * path (the codec's walk, then `JSON.stringify`: `encodeFrame(callEnvelope(…))`) and through
 * `callFrame`, which writes a flat call's header itself (src/protocol/callFrame.ts), alternately
 * `REPS` times, and prints ns per frame. Referenced by docs/performance.md.
 */
import type * as CallFrame from "../src/protocol/callFrame.js"
import type * as Frame from "../src/protocol/frame.js"
import { NO_LIMITS } from "../src/protocol/limits.js"

const N = Number(process.env.N ?? 1_000_000)
const REPS = Number(process.env.REPS ?? 5)
const root = process.env.DIST ? "../dist/protocol" : "../src/protocol"
const { callEnvelope, callFrame } = (await import(`${root}/callFrame.js`)) as typeof CallFrame
const { encodeFrame, DEFAULT_MAX_FRAME_BYTES: MAX } = (await import(`${root}/frame.js`)) as typeof Frame

const time = (write: (i: number) => Buffer[]): number => {
  let bytes = 0
  const t = performance.now()
  for (let i = 0; i < N; i++) bytes += write(i)[0]!.length
  if (bytes === 0) throw new Error("nothing written")
  return ((performance.now() - t) * 1e6) / N
}
const general = (i: number) => encodeFrame(callEnvelope(i, "bench_target", "echo", [i], {}, false), MAX, NO_LIMITS)
const flat = (i: number) => callFrame(i, "bench_target", "echo", [i], {}, false, MAX, NO_LIMITS)
if (!Buffer.concat(general(7)).equals(Buffer.concat(flat(7)))) throw new Error("the two paths wrote different frames")
for (let r = 0; r < REPS; r++) process.stdout.write(`general path ${time(general).toFixed(0)} ns/frame, callFrame ${time(flat).toFixed(0)} ns/frame\n`)
