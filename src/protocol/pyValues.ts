/**
 * Python values JavaScript has no type for: `datetime.date` ({@link PyDate}), `datetime.time`
 * ({@link PyTime}) and `tuple` ({@link tuple}, {@link isTuple}). A `datetime.datetime` is a
 * plain `Date`.
 *
 * A tuple is a frozen array carrying a non-enumerable `Symbol.for("snakepit.tuple")` mark, so
 * it indexes, iterates and spreads like any array and `JSON.stringify`s like one, yet the codec
 * can tell it from a list. The symbol is registered (`Symbol.for`) so that two copies of this
 * module (e.g. a dual-installed package) still agree on what a tuple is.
 *
 * @example
 * await bridge.executePython("s", "m", "f", [tuple(1, 2), new PyDate(2024, 5, 1)])
 */

const TUPLE: unique symbol = Symbol.for("snakepit.tuple") as never

/**
 * A Python tuple: a frozen array marked as a tuple. Python receives a `tuple`, not a `list`.
 *
 * @example
 * const point = tuple(1, 2)   // readonly [1, 2]
 * isTuple(point)              // true
 * isTuple([1, 2])             // false
 */
export function tuple<T extends unknown[]>(...items: T): Readonly<T> {
  return markTuple(items)
}

/**
 * True when `x` is a tuple made by {@link tuple} or received from Python.
 *
 * @example
 * const pair = await bridge.executePython("s", "builtins", "divmod", [7, 2]) // tuple(3, 1)
 * isTuple(pair) // true
 */
export function isTuple(x: unknown): boolean {
  return Array.isArray(x) && (x as { [TUPLE]?: unknown })[TUPLE] === true
}

/**
 * Marks `items` (which the caller gives up) as a tuple and freezes it. Internal: the decoder
 * uses it on arrays it has just parsed, saving a copy.
 *
 * @example
 * const t = markTuple([1, 2]) // the same array, now a frozen tuple
 */
export function markTuple<T extends unknown[]>(items: T): Readonly<T> {
  Object.defineProperty(items, TUPLE, { value: true })
  return Object.freeze(items)
}

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0

/**
 * Days in `month` (1–12) of `year`, proleptic Gregorian as Python's `datetime` counts them.
 *
 * @example
 * daysInMonth(2024, 2) // 29
 */
export const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeap(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31

const checkInt = (what: string, n: number, min: number, max: number): void => {
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${n}`)
}

/**
 * A calendar date without time or zone: Python's `datetime.date`. Year 1–9999, as in Python.
 *
 * @example
 * const d = new PyDate(2024, 5, 1)
 * d.toString()                              // "2024-05-01"
 * PyDate.fromString("2024-05-01").month     // 5
 */
export class PyDate {
  readonly year: number
  readonly month: number
  readonly day: number

  constructor(year: number, month: number, day: number) {
    checkInt("year", year, 1, 9999)
    checkInt("month", month, 1, 12)
    checkInt("day", day, 1, daysInMonth(year, month))
    this.year = year
    this.month = month
    this.day = day
  }

  /**
   * Parses `YYYY-MM-DD` (what Python's `date.isoformat()` writes); throws `RangeError` otherwise.
   *
   * @example
   * PyDate.fromString("1999-12-31").year // 1999
   */
  static fromString(text: string): PyDate {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
    if (m === null) throw new RangeError(`not an ISO date: ${JSON.stringify(text)}`)
    return new PyDate(Number(m[1]), Number(m[2]), Number(m[3]))
  }

  /** ISO 8601, `YYYY-MM-DD`, as Python's `date.isoformat()`. */
  toString(): string {
    return `${pad(this.year, 4)}-${pad(this.month, 2)}-${pad(this.day, 2)}`
  }

  /** The ISO string, so `JSON.stringify` of a structure holding one stays readable. */
  toJSON(): string {
    return this.toString()
  }
}

/**
 * A time of day with microseconds: Python's `datetime.time`. `utcOffset` is the zone offset
 * of an aware time (`"+05:30"`), or `null` for a naive one (the usual case).
 *
 * @example
 * new PyTime(12, 30).toString()              // "12:30:00"
 * new PyTime(12, 30, 0, 1).toString()        // "12:30:00.000001"
 * PyTime.fromString("08:15:00+02:00").utcOffset // "+02:00"
 */
export class PyTime {
  readonly hour: number
  readonly minute: number
  readonly second: number
  readonly microsecond: number
  readonly utcOffset: string | null

  constructor(hour: number, minute = 0, second = 0, microsecond = 0, utcOffset: string | null = null) {
    checkInt("hour", hour, 0, 23)
    checkInt("minute", minute, 0, 59)
    checkInt("second", second, 0, 59)
    checkInt("microsecond", microsecond, 0, 999_999)
    if (utcOffset !== null && !/^[+-]\d{2}:\d{2}(:\d{2}(\.\d{6})?)?$/.test(utcOffset)) {
      throw new RangeError(`utcOffset must look like "+05:30", got ${JSON.stringify(utcOffset)}`)
    }
    this.hour = hour
    this.minute = minute
    this.second = second
    this.microsecond = microsecond
    this.utcOffset = utcOffset
  }

  /**
   * Parses `HH:MM[:SS[.ffffff]][±HH:MM|Z]` (what Python's `time.isoformat()` writes, and a
   * little more); throws `RangeError` otherwise. Fractions beyond microseconds are truncated.
   *
   * @example
   * PyTime.fromString("23:59:59.5").microsecond // 500000
   */
  static fromString(text: string): PyTime {
    const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}(?::\d{2}(?:\.\d{6})?)?)?$/i.exec(text)
    if (m === null) throw new RangeError(`not an ISO time: ${JSON.stringify(text)}`)
    const micro = m[4] === undefined ? 0 : Number((m[4] + "00000").slice(0, 6))
    const offset = m[5] === undefined ? null : m[5].toUpperCase() === "Z" ? "+00:00" : m[5]
    return new PyTime(Number(m[1]), Number(m[2]), Number(m[3] ?? 0), micro, offset)
  }

  /** ISO 8601 as Python's `time.isoformat()`: microseconds only when non-zero. */
  toString(): string {
    const base = `${pad(this.hour, 2)}:${pad(this.minute, 2)}:${pad(this.second, 2)}`
    const frac = this.microsecond === 0 ? "" : `.${pad(this.microsecond, 6)}`
    return base + frac + (this.utcOffset ?? "")
  }

  /** The ISO string, so `JSON.stringify` of a structure holding one stays readable. */
  toJSON(): string {
    return this.toString()
  }
}
