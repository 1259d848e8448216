/**
 * `Date` ↔ the ISO text of a `datetime` tag, in the shape Python's `datetime` reads and writes.
 *
 * Not `Date.parse`: it reads an offset-less date-time as *local* time, while the protocol reads
 * it as UTC (Python sends a naive `datetime` without offset), and engines differ on fractions
 * longer than milliseconds. Python's range is years 1–9999; a `Date` outside it cannot be sent.
 *
 * @example
 * dateToIso(new Date(Date.UTC(2024, 4, 1, 12))) // "2024-05-01T12:00:00.000000+00:00"
 * isoToDate("2024-05-01T14:00:00+02:00")         // the same instant
 */
import { daysInMonth } from "./pyValues.js"

/** 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in ms since the epoch: Python's range. */
const MIN_MS = -62_135_596_800_000
const END_MS = 253_402_300_800_000

/**
 * The tag text of `d` (UTC, microseconds padded from its milliseconds), or `undefined` for an
 * invalid `Date` or one outside Python's years 1–9999.
 *
 * @example
 * dateToIso(new Date(0)) // "1970-01-01T00:00:00.000000+00:00"
 */
export function dateToIso(d: Date): string | undefined {
  const t = d.getTime()
  if (!(t >= MIN_MS && t < END_MS)) return undefined
  // In this range toISOString is exactly "YYYY-MM-DDTHH:mm:ss.sssZ".
  return `${d.toISOString().slice(0, 23)}000+00:00`
}

const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$/i

/**
 * The instant an ISO date-time names (ms precision, sub-ms digits truncated), or `undefined`
 * when the text is not one. No offset means UTC.
 *
 * @example
 * isoToDate("2024-05-01T12:00:00.123456")?.toISOString() // "2024-05-01T12:00:00.123Z"
 */
export function isoToDate(text: string): Date | undefined {
  const m = ISO_DATETIME.exec(text)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4])
  const minute = Number(m[5])
  const second = Number(m[6] ?? 0)
  const ms = m[7] === undefined ? 0 : Number((m[7] + "00").slice(0, 3))
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  const d = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999.
  d.setUTCFullYear(year, month - 1, day)
  d.setUTCHours(hour, minute, second, ms)
  let t = d.getTime()
  if (m[9] !== undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    const os = Number(m[12] ?? 0)
    const oms = m[13] === undefined ? 0 : Number((m[13] + "00").slice(0, 3))
    if (oh > 23 || om > 59 || os > 59) return undefined
    const offsetMs = ((oh * 60 + om) * 60 + os) * 1000 + oms
    t -= m[9] === "-" ? -offsetMs : offsetMs
  }
  return new Date(t)
}
