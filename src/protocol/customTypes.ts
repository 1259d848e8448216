/**
 * Custom types on the host: how an instance of a user's class is sent, and how a named value
 * Python sent is rebuilt. Both sides speak the codec's `ext` tag,
 * `{"__sp":"ext","name":"app.Point","v":<value>}`: the sender turns its object into a value the
 * codec supports (a record, a list of records…) and names it; the receiver rebuilds it with the
 * decoder registered under that name, or, without one, gets the plain value. Python's side is
 * `snakepit_bridge.register_codec` (docs/protocol.md, "Custom types").
 *
 * The registry is per process, like Python's: the codec is shared by every bridge and pool.
 * An encoder's result is encoded like any other value, so the bridge's `limits` apply to it
 * (an `ext` value counts as one level of `maxDepth`, like a container).
 *
 * @example
 * class Point { constructor(readonly x: number, readonly y: number) {} }
 * registerEncoder(Point, "app.Point", (p) => ({ x: p.x, y: p.y }))
 * registerDecoder("app.Point", (v) => { const { x, y } = v as { x: number; y: number }; return new Point(x, y) })
 */

/** A class whose instances an encoder handles (abstract classes and subclasses too). */
export type Constructor<T> = abstract new (...args: never[]) => T

interface Encoder {
  readonly type: Constructor<object>
  readonly name: string
  readonly encode: (value: never) => unknown
}

const encoders: Encoder[] = []
/** Encoder by constructor, filled as instances are met (null: none); cleared on registration. */
const byConstructor = new Map<unknown, Encoder | null>()
const decoders = new Map<string, (value: unknown) => unknown>()

const checkName = (name: unknown): string => {
  if (typeof name !== "string" || name === "") throw new TypeError(`a custom type's name must be a non-empty string, got ${JSON.stringify(name)}`)
  return name
}

/**
 * Sends instances of `type` (and of its subclasses) as `encode(value)` named `name`, so that a
 * Python decoder registered under the same name rebuilds them. `encode` must return a value the
 * codec supports (it may hold other registered types). A later registration for the same class
 * replaces the earlier one. Returns a function that removes this registration.
 *
 * @example
 * class Money { constructor(readonly cents: bigint, readonly currency: string) {} }
 * const unregister = registerEncoder(Money, "shop.Money", (m) => ({ cents: m.cents, currency: m.currency }))
 * await bridge.executePython(null, "shop", "total", [[new Money(250n, "EUR")]])
 */
export function registerEncoder<T extends object>(type: Constructor<T>, name: string, encode: (value: T) => unknown): () => void {
  if (typeof type !== "function") throw new TypeError("registerEncoder needs a class")
  if (typeof encode !== "function") throw new TypeError("registerEncoder needs an encode function")
  const entry: Encoder = { type, name: checkName(name), encode: encode as (value: never) => unknown }
  const previous = encoders.findIndex((e) => e.type === type)
  if (previous >= 0) encoders.splice(previous, 1)
  encoders.push(entry)
  byConstructor.clear()
  return () => {
    const i = encoders.indexOf(entry)
    if (i >= 0) encoders.splice(i, 1)
    byConstructor.clear()
  }
}

/**
 * Rebuilds values sent under `name` (by Python's `register_codec`, or by {@link registerEncoder})
 * with `decode`, which receives the decoded plain value. A decoder that throws fails that one
 * message with `SerializationError`. Returns a function that removes this registration.
 *
 * @example
 * registerDecoder("app.Point", (v) => new Point((v as any).x, (v as any).y))
 */
export function registerDecoder(name: string, decode: (value: unknown) => unknown): () => void {
  if (typeof decode !== "function") throw new TypeError("registerDecoder needs a decode function")
  decoders.set(checkName(name), decode)
  return () => {
    if (decoders.get(name) === decode) decoders.delete(name)
  }
}

/**
 * The encoder for an object the codec does not know, if one is registered. Internal to the codec.
 *
 * @example
 * encoderFor(new Point(1, 2))?.name // "app.Point"
 */
export function encoderFor(value: object): { readonly name: string; readonly encode: (value: object) => unknown } | undefined {
  if (encoders.length === 0) return undefined
  const key: unknown = Object.getPrototypeOf(value)
  let found = byConstructor.get(key)
  if (found === undefined) {
    found = encoders.find((e) => value instanceof e.type) ?? null
    byConstructor.set(key, found)
  }
  return (found ?? undefined) as { readonly name: string; readonly encode: (value: object) => unknown } | undefined
}

/**
 * The decoder registered under `name`, if any. Internal to the codec.
 *
 * @example
 * decoderFor("app.Point")?.({ x: 1, y: 2 }) // Point { x: 1, y: 2 }
 */
export const decoderFor = (name: string): ((value: unknown) => unknown) | undefined => decoders.get(name)
