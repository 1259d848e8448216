/**
 * What travels in a NATS message between a client and an agent: envelopes encoded exactly like
 * frames on a worker's pipe (the codec's JSON header plus binary attachments), so every value
 * that crosses to Python (ndarrays, bigints, dates, tuples, bytes…) crosses NATS too, and
 * snakepit's tagged errors travel as plain fields and come back as the same classes. A message
 * holds one frame, or (calls and their replies, see `outbox.ts`) several back to back:
 * {@link readMessages} reads them one by one, so a bad frame costs only itself.
 *
 * @example
 * const bytes = encodeMessage({ type: "result", value: new Float64Array([1, 2]) })
 * decodeMessage(bytes) // { type: "result", value: Float64Array [1, 2] }
 */
import { errorClasses, FrameTooLarge, isSnakepitError, ProtocolError, type SerializationError } from "../errors.js"
import { thrownText } from "../thrown.js"
import { shownName } from "../protocol/shownName.js"
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, refusedValue, tooLarge } from "../protocol/frame.js"
import { NO_LIMITS, type ValueLimits } from "../protocol/limits.js"
import { checkMessage, describe, type Spec } from "../protocol/validate.js"

/**
 * One envelope as the bytes of one NATS message. Throws `SerializationError` or `FrameTooLarge`.
 *
 * @example
 * nc.publish(subject, encodeMessage({ type: "cancel", callId: "c1" }))
 */
export function encodeMessage(envelope: Record<string, unknown>, maxBytes = DEFAULT_MAX_FRAME_BYTES, limits: ValueLimits = NO_LIMITS): Uint8Array {
  const chunks = encodeFrame(envelope, maxBytes, limits)
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

/**
 * The envelope in a NATS message; throws `ProtocolError` if the bytes are not one whole frame.
 * With `limits`, an envelope whose value breaks them comes back undecoded and marked
 * (`refusedValue`); {@link readMessage} handles that for you.
 *
 * @example
 * const { type } = decodeMessage(msg.data)
 */
export function decodeMessage(data: Uint8Array, maxBytes = DEFAULT_MAX_FRAME_BYTES, limits?: ValueLimits): Record<string, unknown> {
  const decoder = new FrameDecoder({ maxFrameBytes: maxBytes, workerId: "nats", ...(limits ? { limits } : {}) })
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const envelopes = decoder.push(buffer)
  if (envelopes.length !== 1) throw new ProtocolError({ message: `a NATS message held ${envelopes.length} frames, expected 1`, workerId: "nats" })
  return envelopes[0]!
}

/**
 * What {@link readMessage} made of a NATS message: the typed message, or why there is none.
 * `envelope` is the decoded envelope when there was one (its `type` tells a caller whether a
 * reply is owed), to be read for nothing else.
 */
export type Received<M> =
  | { readonly ok: true; readonly message: M }
  | { readonly ok: false; readonly error: ProtocolError | FrameTooLarge | SerializationError; readonly envelope: Record<string, unknown> | undefined }

/**
 * Decodes one NATS message and checks it against `specs` (the messages the subject may carry).
 * Never throws: bytes that are no frame, a message of no known type or with a mistyped field
 * are a `ProtocolError`, a value over `limits` a `SerializationError` naming its path.
 *
 * @example
 * const r = readMessage<AgentInbound>(msg.data, agentInboundSpecs, maxFrameBytes, limits)
 * if (!r.ok) logger.warn({ err: r.error }, "message dropped")
 */
export function readMessage<M extends { readonly type: string }>(
  data: Uint8Array,
  specs: { readonly [T in M["type"]]: Spec<Extract<M, { type: T }>> },
  maxBytes: number,
  limits: ValueLimits,
): Received<M> {
  let envelope: Record<string, unknown>
  try {
    envelope = decodeMessage(data, maxBytes, limits)
  } catch (e) {
    // Its `type` and `callId`, when its header starts as snakepit writes it: a call whose value
    // cannot be decoded is answered with the error, not left to its deadline (after which the
    // client judged the agent lost, failing its other calls too).
    const body = data.byteLength >= 4 ? Buffer.from(data.buffer, data.byteOffset + 4, data.byteLength - 4) : undefined
    return { ok: false, error: undecodable(e), envelope: body && headerFields(body) }
  }
  return checkEnvelope<M>(envelope, specs)
}

const undecodable = (e: unknown): ProtocolError | FrameTooLarge =>
  e instanceof ProtocolError || e instanceof FrameTooLarge ? e : new ProtocolError({ message: `undecodable NATS message: ${describe(e)}`, workerId: "nats" })

/** A decoded envelope held to `specs` (and the limits its decoder marked it with). */
const checkEnvelope = <M extends { readonly type: string }>(envelope: Record<string, unknown>, specs: { readonly [T in M["type"]]: Spec<Extract<M, { type: T }>> }): Received<M> => {
  const refused = refusedValue(envelope)
  if (refused !== undefined) return { ok: false, error: refused, envelope }
  const checked = checkMessage<M>(specs, envelope)
  if (typeof checked === "string") return { ok: false, error: new ProtocolError({ message: `malformed NATS message: ${checked}`, workerId: "nats" }), envelope }
  return { ok: true, message: checked }
}

/**
 * The most frames one NATS message may hold. A client or an agent joins the messages of one
 * turn up to 64 KiB (`outbox.ts`): about 1 100 frames at most (replies that end streams, 58 bytes
 * each); a peer's message of `max_payload` zero-length frames
 * (262 000 in 1 MiB) cost an agent seconds of a blocked event loop and hundreds of MB, one
 * refusal per frame.
 */
export const MAX_FRAMES_PER_MESSAGE = 4_096

/**
 * Decodes every frame of a NATS message and checks each against `specs`, in order. Never
 * throws: a frame of no known type, with a mistyped field or a value over `limits` is one
 * `{ ok: false }` entry and the frames after it are still read, and so is a frame over
 * `maxBytes` (`FrameTooLarge`, naming its call when its header starts as snakepit writes it).
 * A frame that is no envelope at all (no header snakepit could have written: garbage, a
 * zero-length frame), a length prefix that runs past the message, or a frame past
 * {@link MAX_FRAMES_PER_MESSAGE} ends the list with one entry: no peer of ours sends such a
 * message, so what follows is not read. A message of no frame at all reads as one `{ ok: false }`.
 *
 * @example
 * for (const r of readMessages<CallReply>(msg.data, callReplySpecs, maxFrameBytes, limits)) {
 *   if (r.ok) deliver(r.message)
 * }
 */
export function readMessages<M extends { readonly type: string }>(
  data: Uint8Array,
  specs: { readonly [T in M["type"]]: Spec<Extract<M, { type: T }>> },
  maxBytes: number,
  limits: ValueLimits,
): Array<Received<M>> {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  // The common case, one frame: read exactly as a single message.
  if (buffer.length < 4 || buffer.readUInt32BE(0) + 4 >= buffer.length) return [readMessage<M>(data, specs, maxBytes, limits)]
  // Then whole frames within the limit: one decoder reads them all. Only if one of them breaks
  // it are the frames read one by one, so that one costs only itself.
  if (framesEnd(buffer, maxBytes) === buffer.length) {
    // Whole frames, and not too many (past that the loop below says so).
    try {
      return new FrameDecoder({ maxFrameBytes: maxBytes, workerId: "nats", limits }).push(buffer).map((e) => checkEnvelope<M>(e, specs))
    } catch {
      // a malformed frame: read frame by frame below
    }
  }
  const out: Array<Received<M>> = []
  const cutShort = (why: string) => out.push({ ok: false, error: new ProtocolError({ message: why, workerId: "nats" }), envelope: undefined })
  let at = 0
  while (at < buffer.length) {
    const n = buffer.length - at >= 4 ? buffer.readUInt32BE(at) : -1
    if (n < 0 || at + 4 + n > buffer.length) {
      cutShort("a NATS message held a frame that runs past its end")
      break
    }
    if (out.length === MAX_FRAMES_PER_MESSAGE) {
      cutShort(`a NATS message held more than ${MAX_FRAMES_PER_MESSAGE} frames; the rest were not read`)
      break
    }
    if (n > maxBytes) {
      // Too large to read, but whole: refused alone, naming its call if its header says which.
      out.push({ ok: false, error: tooLarge(n, maxBytes, true), envelope: headerFields(buffer.subarray(at + 4, at + 4 + n)) })
      at += 4 + n
      continue
    }
    const r = readMessage<M>(buffer.subarray(at, at + 4 + n), specs, maxBytes, limits)
    out.push(r)
    at += 4 + n
    if (!r.ok && r.envelope === undefined && at < buffer.length) {
      // No envelope, nor a header that names one: garbage, which nothing of ours writes.
      cutShort("a NATS message held a frame that is no envelope; the frames after it were not read")
      break
    }
  }
  return out
}

/** Largest header read of a frame over the size limit, for its `type` and `callId` only. */
const PEEK_HEADER_BYTES = 4_096

/** The `type` and `callId` of a frame body's header, if short and readable (else undefined). */
const headerFields = (body: Buffer): Record<string, unknown> | undefined => {
  if (body.length < 4) return undefined
  const headerLength = body.readUInt32BE(0)
  if (4 + headerLength > body.length) return undefined
  // Snakepit writes `type` and `callId` first, so a long header (a big value) is read no further.
  const lead = /^\{"type":"([a-z_]{1,20})","callId":"([A-Za-z0-9_-]{1,64})"/.exec(body.toString("utf8", 4, 4 + Math.min(headerLength, 120)))
  if (lead) return { type: lead[1], callId: lead[2] }
  if (headerLength > PEEK_HEADER_BYTES) return undefined
  try {
    const header: unknown = JSON.parse(body.toString("utf8", 4, 4 + headerLength))
    if (typeof header !== "object" || header === null) return undefined
    const { type, callId } = header as Record<string, unknown>
    return typeof type === "string" && typeof callId === "string" ? { type, callId } : undefined
  } catch {
    return undefined
  }
}

/**
 * Where the whole frames at the start of `buffer` end: a frame over `maxBytes` ends them, and so
 * does the frame past {@link MAX_FRAMES_PER_MESSAGE}.
 */
const framesEnd = (buffer: Buffer, maxBytes: number): number => {
  let at = 0
  let frames = 0
  while (buffer.length - at >= 4 && frames++ < MAX_FRAMES_PER_MESSAGE) {
    const n = buffer.readUInt32BE(at)
    if (n > maxBytes || at + 4 + n > buffer.length) break
    at += 4 + n
  }
  return at
}

/**
 * An error as plain fields for the wire: a snakepit error keeps its tag, its scalar fields and
 * its lists of strings (`InvalidOptions.issues`); anything else becomes `{ _tag: "Error", message }`.
 *
 * @example
 * errorToWire(new QueueFull({ message: "full", maxQueue: 10 })) // { _tag: "QueueFull", message: "full", maxQueue: 10 }
 */
export function errorToWire(error: unknown): Record<string, unknown> {
  if (isSnakepitError(error)) {
    const fields: Record<string, unknown> = { _tag: error._tag, message: error.message }
    for (const [k, v] of Object.entries(error)) {
      if (k === "cause" || k === "stack") continue
      if (v === null || (typeof v !== "function" && typeof v !== "object") || isStrings(v)) fields[k] = v
    }
    return fields
  }
  return { _tag: "Error", message: thrownText(error) }
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string")

/** What a field of an error on the wire may hold. */
type FieldKind = "string" | "number" | "string|null" | "number|null" | "number|string" | "strings" | "any"

const fits = (kind: FieldKind, v: unknown): boolean => {
  switch (kind) {
    case "string": return typeof v === "string"
    case "number": return typeof v === "number"
    case "string|null": return v === null || typeof v === "string"
    case "number|null": return v === null || typeof v === "number"
    case "number|string": return typeof v === "number" || typeof v === "string"
    case "strings": return isStrings(v)
    case "any": return true
  }
}

/** A field: its kind, and the value an agent that sent none (an older one) gets; none: optional. */
type Field = readonly [FieldKind, unknown?]

const CONTEXT_FIELDS: Readonly<Record<string, Field>> = {
  module: ["string"], function: ["string"], sessionId: ["string|null"], workerId: ["string"], callId: ["number|string"],
}

/** Each error's own fields beyond `message` and the call context, as the classes in errors.ts declare them. */
const ERROR_FIELDS: { readonly [T in keyof typeof errorClasses]: Readonly<Record<string, Field>> } = {
  PythonError: { pythonType: ["string", ""], traceback: ["string", ""], output: ["string"] },
  CallTimeout: { timeoutMs: ["number", 0], workerId: ["string", ""] },
  CallCancelled: { reason: ["any"] },
  WorkerCrashed: { workerId: ["string", ""], exitCode: ["number|null", null], signal: ["string|null", null], reason: ["string", ""], rssBytes: ["number"], limitBytes: ["number"] },
  StartupTimeout: { workerId: ["string", ""], timeoutMs: ["number", 0], stderr: ["string", ""] },
  StartupFailed: { workerId: ["string", ""], exitCode: ["number|null", null], signal: ["string|null", null], stderr: ["string", ""] },
  ProtocolError: { workerId: ["string", ""] },
  FrameTooLarge: { sizeBytes: ["number", 0], maxFrameBytes: ["number", 0] },
  QueueFull: { maxQueue: ["number", 0] },
  QueueTimeout: { queueTimeoutMs: ["number", 0] },
  SerializationError: { typeName: ["string", ""], path: ["string"] },
  CodeExecutionDisabled: {},
  ModuleNotAllowed: { module: ["string", ""] },
  BridgeStopped: {},
  SupervisorRefused: { supervisorId: ["string", ""], childId: ["string", ""], reason: ["string", ""] },
  ChildStartFailed: { supervisorId: ["string", ""], childId: ["string", ""], cause: ["any"] },
  TooManySessions: { sessionId: ["string", ""], maxSessions: ["number", 0] },
  VariableLimitExceeded: { sessionId: ["string", ""], name: ["string", ""], scope: ["string", "session"], limitBytes: ["number", 0] },
  MaxRestartIntensity: { supervisorId: ["string", ""], intensity: ["number", 0], periodMs: ["number", 0], retryAt: ["number"] },
  InvalidOptions: { issues: ["strings", []] },
}

/**
 * The error an agent sent, as the snakepit class it was on the agent. One of no snakepit class
 * (an error of the agent's own, sent as `Error`; a tag this version does not know) is a
 * `ProtocolError` quoting its tag and message: a caller gets a tagged error whatever the agent
 * sends (an untagged one would be a defect, not a failure, in the Effect API). Its fields are
 * checked against the class: a field the class does not declare is dropped, one an older agent
 * did not send gets a neutral value, and one of the wrong type makes the whole reply a
 * `ProtocolError` (a caller's code reads these fields: `issues.map`, `traceback`).
 *
 * @example
 * errorFromWire({ _tag: "CallTimeout", message: "late", timeoutMs: 5, workerId: "w1" }) // CallTimeout
 */
export function errorFromWire(fields: Record<string, unknown>): Error {
  const { _tag } = fields
  if (typeof _tag !== "string" || !Object.hasOwn(errorClasses, _tag)) {
    const tag = typeof _tag === "string" ? shownName(_tag) : "no tag"
    return new ProtocolError({ message: `the agent failed the call with an error of no snakepit type (${tag}): ${String(fields.message ?? "")}`, workerId: typeof fields.workerId === "string" ? fields.workerId : "" })
  }
  const tag = _tag as keyof typeof errorClasses
  const own = ERROR_FIELDS[tag]
  const out: Record<string, unknown> = { message: String(fields.message) }
  for (const [name, field] of [...Object.entries(CONTEXT_FIELDS), ...Object.entries(own)]) {
    const v = fields[name]
    if (v === undefined) {
      if (field.length === 2) out[name] = field[1]
      continue
    }
    if (!fits(field[0], v)) {
      return new ProtocolError({ message: `an error reply (${tag}) has a malformed ${JSON.stringify(name)} field: ${describe(v)}`, workerId: typeof fields.workerId === "string" ? fields.workerId : "" })
    }
    out[name] = v
  }
  return new errorClasses[tag](out as never)
}
