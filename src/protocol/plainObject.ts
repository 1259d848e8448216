/**
 * Whether a value is a plain object: `{}` or `Object.create(null)`, what the codec sends as a
 * Python dict and decodes a dict into. A `Buffer`, typed array, `Map`, `Date` or class instance is
 * not one, though `typeof` says "object": where a message or an option must hold keyword
 * arguments or data, only a plain object is taken (a worker that sent a 64 MiB `bytes` value as a
 * tool call's `kwargs` had the host make a key of every byte: a minute's stall and 2 GB of heap).
 *
 * @example
 * isPlainObject({ a: 1 })              // true
 * isPlainObject(Object.create(null))   // true
 * isPlainObject(new Map())             // false
 * isPlainObject(Buffer.alloc(1))       // false
 */
export const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
