/**
 * Which value of an outgoing envelope is over `limits.maxValueBytes`, and where in it: the
 * deepest container (or string, or binary) that is over the limit by itself, `args[0].rows`
 * rather than just `args`.
 *
 * It reads the codec's output (plain JSON data, binary data as numbered attachments), whose
 * size is JSON's grammar: every node's encoded size is computed once, bottom up, so the search
 * is linear in the envelope. Encoding each level's children again, as it first did, cost the
 * value's size once per level: a 75 MB value 40 arrays deep held the event loop for a minute
 * before its `SerializationError`, and ran the value's `toJSON` and custom encoders as often.
 *
 * @example
 * const attachments: Uint8Array[] = []
 * const encoded = encodeFields(envelope, attachments, limits)
 * const over = overValueBytes(envelope, encoded, attachments, limits.maxValueBytes)
 * if (over) throw tooBig(formatPath(over.path), over.bytes, limits.maxValueBytes, over.typeName)
 */
import { TAG } from "./codec.js"
import { isPlainObject } from "./plainObject.js"
import type { PathSegment } from "./limits.js"

/** The value over the limit: where it is, its encoded size, and what it is. */
export interface OverLimit {
  readonly path: PathSegment[]
  readonly bytes: number
  /** `Array`, `string`, or the class name of the value. */
  readonly typeName: string
}

const hasOwn = Object.prototype.hasOwnProperty

/**
 * The first field of `envelope` whose encoded value is over `maxValueBytes`, followed down
 * through the first child over it for as long as there is one; undefined when none is.
 * `encoded` is what the codec made of `envelope` (its fields, same keys), `attachments` the
 * binary data it set aside.
 *
 * @example
 * overValueBytes({ args: [["a".repeat(100)]] }, { args: [["a".repeat(100)]] }, [], 50)
 * // { path: ["args", 0, 0], bytes: 102, typeName: "string" }
 */
export const overValueBytes = (
  envelope: Readonly<Record<string, unknown>>,
  encoded: Readonly<Record<string, unknown>>,
  attachments: readonly Uint8Array[],
  maxValueBytes: number,
): OverLimit | undefined => {
  const sizes = new EncodedSizes(attachments)
  for (const key of Object.keys(envelope)) {
    const value = envelope[key]
    if (typeof value !== "object" && typeof value !== "string") continue
    let node = encoded[key]
    let source: unknown = value
    let bytes = sizes.of(node)
    if (bytes <= maxValueBytes) continue
    const path: PathSegment[] = [key]
    // Follow the one child that is over the limit by itself, as far as there is one. Only into
    // what the caller wrote as an array or a plain object, whose children are the codec's
    // children one for one (a tuple's and an escaped dict's inside their tag).
    for (;;) {
      const children = childrenOf(source, node)
      let next: { segment: PathSegment; source: unknown; node: unknown; bytes: number } | undefined
      if (children !== undefined) {
        for (const [segment, childSource, childNode] of children) {
          const b = sizes.of(childNode)
          if (b > maxValueBytes) {
            next = { segment, source: childSource, node: childNode, bytes: b }
            break
          }
        }
      }
      if (next === undefined) break
      path.push(next.segment)
      source = next.source
      node = next.node
      bytes = next.bytes
    }
    return { path, bytes, typeName: Array.isArray(source) ? "Array" : typeof source === "string" ? "string" : ((source as object)?.constructor?.name ?? "Object") }
  }
  return undefined
}

/**
 * The children of a caller's array or plain object, each with the codec's node for it; undefined
 * for anything else (the codec replaced it: a `toJSON`'s result, an instance's tag).
 */
function childrenOf(source: unknown, node: unknown): Iterable<[PathSegment, unknown, unknown]> | undefined {
  if (Array.isArray(source) && !hasOwn.call(source, "toJSON")) {
    // A tuple is `{ [TAG]: "tuple", v: [...] }`.
    const items = Array.isArray(node) ? node : tagged(node, "tuple")
    if (!Array.isArray(items) || items.length !== source.length) return undefined
    return source.map((s, i): [PathSegment, unknown, unknown] => [i, s, items[i]])
  }
  if (isPlainObject(source) && !hasOwn.call(source, "toJSON")) {
    // An object owning the reserved key is escaped as `{ [TAG]: "dict", v: {...} }`.
    const fields = hasOwn.call(source, TAG) ? tagged(node, "dict") : node
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) return undefined
    const out: Array<[PathSegment, unknown, unknown]> = []
    for (const k of Object.keys(fields)) {
      const child = (fields as Record<string, unknown>)[k]
      // A property whose value encodes to nothing is not written.
      if (child !== undefined && hasOwn.call(source, k)) out.push([k, source[k], child])
    }
    return out
  }
  return undefined
}

/** The `v` of a codec tag named `name`, or undefined. */
function tagged(node: unknown, name: string): unknown {
  if (typeof node !== "object" || node === null) return undefined
  const n = node as Record<string, unknown>
  return n[TAG] === name ? n.v : undefined
}

/**
 * Encoded sizes of the codec's nodes, in UTF-8 bytes as `JSON.stringify` writes them, plus the
 * bytes of the attachments they name. Each container's is computed once (a node reached twice,
 * written twice, is counted twice, as it is sent).
 */
class EncodedSizes {
  private readonly known = new Map<object, number>()

  constructor(private readonly attachments: readonly Uint8Array[]) {}

  of(node: unknown): number {
    switch (typeof node) {
      case "string":
        return Buffer.byteLength(JSON.stringify(node))
      case "number":
      case "boolean":
        return JSON.stringify(node).length
      case "object":
        if (node === null) return 4
        return this.ofContainer(node)
      default:
        // `undefined` (an array slot: `null`; a property: dropped, see ofContainer).
        return 4
    }
  }

  private ofContainer(node: object): number {
    const known = this.known.get(node)
    if (known !== undefined) return known
    let bytes: number
    if (Array.isArray(node)) {
      bytes = 2 + Math.max(0, node.length - 1)
      for (const item of node) bytes += this.of(item)
    } else {
      const fields = node as Record<string, unknown>
      let written = 0
      bytes = 2
      for (const k of Object.keys(fields)) {
        const v = fields[k]
        if (v === undefined) continue
        bytes += Buffer.byteLength(JSON.stringify(k)) + 1 + this.of(v)
        written++
      }
      bytes += Math.max(0, written - 1)
      // Binary data: `{ [TAG]: "bytes" | "array", …, i }` names attachment `i`.
      const tag = fields[TAG]
      if ((tag === "bytes" || tag === "array") && typeof fields.i === "number") bytes += this.attachments[fields.i]?.byteLength ?? 0
    }
    this.known.set(node, bytes)
    return bytes
  }
}
