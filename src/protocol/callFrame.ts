/**
 * A `call` message (docs/protocol.md): its envelope, and its frame, written without the codec
 * when the call's values are flat.
 *
 * Most calls carry a few numbers and short strings, which the codec passes through unchanged.
 * For them the general path (the codec's walk over the envelope, then `JSON.stringify` of it)
 * cost about 1.4 µs of a pipelined echo call's 13–21 µs of host CPU on Node 20; {@link flatCallHeader} writes
 * the same text in about a fifth of that (docs/performance.md, "The host writes a flat call's
 * header itself"). A call with anything else (a nested value, a tuple, binary data, a number the
 * codec tags, keyword arguments, a string that might be over `maxStringBytes`, a `toJSON`) takes
 * the general path, which also names any refusal by its path. The text is the general path's, byte for byte
 * (a property test holds them equal), so the worker cannot tell which path a frame took.
 *
 * @example
 * const frame = callFrame(7, "math", "sqrt", [16], {}, false, DEFAULT_MAX_FRAME_BYTES, NO_LIMITS)
 * // one Buffer: the header '{"type":"call","id":7,"module":"math","function":"sqrt","args":[16],"kwargs":{},"session_id":null,"stream":false}'
 */
import { numberAsIs } from "./codec.js"
import { encodeFrame, headerFrame } from "./frame.js"
import type { ValueLimits } from "./limits.js"
import { STREAM_CHUNK_WINDOW } from "./messages.js"
import { isTuple } from "./pyValues.js"

/**
 * What a `call` envelope carries besides its id, names and arguments (a call's options fit).
 *
 * @example
 * const fields: CallFields = { kwargs: { k: 2 }, sessionId: "s1" }
 */
export interface CallFields {
  readonly kwargs?: Record<string, unknown>
  readonly sessionId?: string | null
  /** W3C `traceparent` of the host's span. */
  readonly trace?: string
  /** A call made by a host tool for a call of this worker that waits on it. */
  readonly nested?: boolean
}

/**
 * The `call` envelope, for a plain call or a streamed one (which gets the stream's window).
 *
 * @example
 * callEnvelope(1, "m", "f", [2], { sessionId: "s" }, false)
 * // { type: "call", id: 1, module: "m", function: "f", args: [2], kwargs: {}, session_id: "s", stream: false }
 */
export const callEnvelope = (id: number, module: string, fn: string, args: readonly unknown[], fields: CallFields, stream: boolean) => ({
  type: "call",
  id,
  module,
  function: fn,
  args,
  kwargs: fields.kwargs ?? {},
  session_id: fields.sessionId ?? null,
  stream,
  ...(stream ? { window: STREAM_CHUNK_WINDOW } : {}),
  ...(fields.trace ? { trace: fields.trace } : {}),
  ...(fields.nested ? { nested: true } : {}),
})

/**
 * The frame of a `call`: written from {@link flatCallHeader} when the call is flat and its
 * header cannot be near `maxValueBytes` or `maxFrameBytes`, else through {@link encodeFrame}
 * (which throws `SerializationError` or `FrameTooLarge` for a value it refuses).
 *
 * @example
 * pipe.write(callFrame(1, "m", "f", [1, "a"], {}, false, DEFAULT_MAX_FRAME_BYTES, NO_LIMITS)[0])
 */
export function callFrame(id: number, module: string, fn: string, args: readonly unknown[], fields: CallFields, stream: boolean, maxFrameBytes: number, limits: ValueLimits): Buffer[] {
  const text = flatCallHeader(id, module, fn, args, fields, stream, limits)
  // At most 3 UTF-8 bytes per UTF-16 unit: a shorter header is within both limits unmeasured.
  if (text !== undefined && text.length * 3 <= limits.maxValueBytes && text.length * 3 + 4 <= maxFrameBytes) return [headerFrame(text)]
  return encodeFrame(callEnvelope(id, module, fn, args, fields, stream), maxFrameBytes, limits)
}

/**
 * The JSON of {@link callEnvelope}'s envelope when every argument is a scalar the codec leaves
 * as it is (a string of at most `maxStringBytes / 3` units, a boolean, null, or a finite number
 * inside ±2^53 other than -0), `args` is not a tuple, there are no keyword arguments, and no
 * `toJSON` would change what `JSON.stringify` writes; else undefined.
 *
 * @example
 * flatCallHeader(3, "m", "f", [1.5, true, null], { sessionId: "s" }, false, NO_LIMITS)
 * // '{"type":"call","id":3,"module":"m","function":"f","args":[1.5,true,null],"kwargs":{},"session_id":"s","stream":false}'
 * flatCallHeader(4, "m", "f", [[1]], {}, false, NO_LIMITS) // undefined: nested, the codec's to walk
 */
export function flatCallHeader(id: number, module: string, fn: string, args: readonly unknown[], fields: CallFields, stream: boolean, limits: ValueLimits): string | undefined {
  try {
    return flatText(id, module, fn, args, fields, stream, limits.maxStringBytes / 3)
  } catch {
    // A getter or a Proxy trap that threw: the general path reads the value again and names it.
    return undefined
  }
}

function flatText(id: number, module: string, fn: string, args: readonly unknown[], fields: CallFields, stream: boolean, longest: number): string | undefined {
  // The codec checks every string of the envelope, "call" too: below 4 bytes it refuses them all.
  if (longest * 3 < 4) return undefined
  // JSON.stringify, the general path's last step, calls a toJSON it finds on an object (the
  // envelope, `args`, `kwargs`), own or inherited: such a call is written as it says.
  if ((objectProto as { toJSON?: unknown }).toJSON !== undefined || (args as { toJSON?: unknown }).toJSON !== undefined) return undefined
  if (fields.kwargs != null && (!isEmptyPlainObject(fields.kwargs) || (fields.kwargs as { toJSON?: unknown }).toJSON !== undefined)) return undefined
  const list = flatList(args, longest)
  if (list === undefined || module.length > longest || fn.length > longest) return undefined
  const session = fields.sessionId ?? null
  if (session !== null && session.length > longest) return undefined
  const trace = fields.trace
  if (trace && trace.length > longest) return undefined
  return (
    `{"type":"call","id":${id},"module":${quoted(module)},"function":${quoted(fn)},"args":${list},"kwargs":{},` +
    `"session_id":${session === null ? "null" : quoted(session)},"stream":${stream}` +
    (stream ? `,"window":${STREAM_CHUNK_WINDOW}` : "") +
    (trace ? `,"trace":${JSON.stringify(trace)}` : "") +
    (fields.nested ? `,"nested":true}` : "}")
  )
}

/** The JSON of a list of flat scalars, else undefined. */
function flatList(args: readonly unknown[], longest: number): string | undefined {
  if (!Array.isArray(args) || isTuple(args)) return undefined
  let json = "["
  for (let i = 0; i < args.length; i++) {
    const item = scalar(args[i], longest)
    if (item === undefined) return undefined
    json += i === 0 ? item : "," + item
  }
  return json + "]"
}

/** The JSON of a scalar the codec passes through unchanged, else undefined (an empty slot too). */
function scalar(v: unknown, longest: number): string | undefined {
  switch (typeof v) {
    case "string":
      return v.length <= longest ? JSON.stringify(v) : undefined
    case "number":
      return numberAsIs(v) ? String(v) : undefined
    case "boolean":
      return v ? "true" : "false"
    default:
      return v === null ? "null" : undefined
  }
}

const objectProto = Object.prototype

function isEmptyPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v)
  return (proto === objectProto || proto === null) && Object.keys(v).length === 0
}

/** JSON of names and session ids, which repeat from call to call; bounded, emptied when full. */
const QUOTED = new Map<string, string>()
const MAX_QUOTED = 1024
/** Longer strings are not kept: a name may be as long as `maxStringBytes` allows. */
const MAX_QUOTED_LENGTH = 256

function quoted(s: string): string {
  let json = QUOTED.get(s)
  if (json === undefined) {
    json = JSON.stringify(s)
    if (s.length > MAX_QUOTED_LENGTH) return json
    if (QUOTED.size >= MAX_QUOTED) QUOTED.clear()
    QUOTED.set(s, json)
  }
  return json
}
