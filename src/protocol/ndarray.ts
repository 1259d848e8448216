/**
 * Numeric arrays on the wire: the protocol's dtypes, the typed array that holds each one, and
 * {@link NDArray} for arrays of more (or fewer) than one dimension.
 *
 * A 1-D array crosses the bridge as a plain typed array (`Float64Array`…); only N-D arrays need
 * the `NDArray` wrapper, which pairs a flat C-order typed array with its shape. Data is
 * little-endian on the wire, which is every platform Node runs on in practice, so typed arrays
 * are sent and received as they are in memory.
 *
 * @example
 * const m = new NDArray("float64", [2, 3], new Float64Array([1, 2, 3, 4, 5, 6]))
 * await bridge.executePython("s", "numpy", "sum", [m]) // 21
 */

/** The element types the protocol knows (docs/protocol.md, "dtypes"). */
export type DType =
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "float32"
  | "float64"

/** Every typed array that maps to a {@link DType}. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array

/** A constructor of one of the {@link TypedArray}s. */
export interface TypedArrayConstructor {
  new (length: number): TypedArray
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray
  readonly BYTES_PER_ELEMENT: number
  readonly name: string
}

/**
 * The typed array class of each dtype.
 *
 * @example
 * const data = new TYPED_ARRAY_OF["int32"](4) // Int32Array(4)
 */
export const TYPED_ARRAY_OF: Readonly<Record<DType, TypedArrayConstructor>> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
}

// Keyed by constructor rather than `constructor.name` so a user subclass of, say, Float32Array
// is not mistaken for a dtype (it is refused like any other class instance).
const dtypeByConstructor = new Map<unknown, DType>(
  (Object.entries(TYPED_ARRAY_OF) as Array<[DType, TypedArrayConstructor]>).map(([d, c]) => [c, d]),
)

/**
 * The dtype of a typed array, or `undefined` for one the protocol does not carry
 * (`Uint8ClampedArray`, `Buffer` — which is `bytes` — and subclasses).
 *
 * @example
 * dtypeOf(new Float32Array(2)) // "float32"
 * dtypeOf(Buffer.from("x"))   // undefined
 */
export const dtypeOf = (value: ArrayBufferView): DType | undefined => dtypeByConstructor.get(value.constructor)

/**
 * True when `name` is one of the protocol's dtypes.
 *
 * @example
 * isDType("float64") // true
 * isDType("bool")    // false
 */
export const isDType = (name: unknown): name is DType =>
  typeof name === "string" && Object.prototype.hasOwnProperty.call(TYPED_ARRAY_OF, name)

/**
 * An N-dimensional array: a flat typed array in C (row-major) order and its shape.
 * Python receives it as a `numpy.ndarray` of that shape (or a shaped `memoryview` without
 * numpy). A 0-D array has shape `[]` and one element.
 *
 * @example
 * const img = new NDArray("uint8", [480, 640, 3], new Uint8Array(480 * 640 * 3))
 * img.shape // [480, 640, 3]
 */
export class NDArray {
  readonly dtype: DType
  readonly shape: readonly number[]
  readonly data: TypedArray

  constructor(dtype: DType, shape: readonly number[], data: TypedArray) {
    const Ctor = isDType(dtype) ? TYPED_ARRAY_OF[dtype] : undefined
    if (Ctor === undefined) throw new TypeError(`unknown dtype ${JSON.stringify(dtype)}`)
    if (data.constructor !== Ctor) {
      throw new TypeError(`dtype ${dtype} needs a ${Ctor.name}, got ${data.constructor.name}`)
    }
    let count = 1
    for (const n of shape) {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad dimension ${n} in shape [${shape.join(", ")}]`)
      count *= n
    }
    if (count !== data.length) {
      throw new RangeError(`shape [${shape.join(", ")}] holds ${count} elements but data has ${data.length}`)
    }
    this.dtype = dtype
    // Copied and frozen: the shape must keep agreeing with `data` after construction.
    this.shape = Object.freeze([...shape])
    this.data = data
  }
}
