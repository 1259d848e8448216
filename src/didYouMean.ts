/**
 * "Did you mean": the known name closest to a misspelled one, so an unknown option is refused
 * with the fix in the message (`minWorker` → `minWorkers`, `pythonpath` → `pythonPath`,
 * `timeout` → `timeoutMs`). Pure.
 *
 * A known name is suggested when it differs only in case, when one is the other plus a suffix
 * or prefix of up to 3 characters (`timeout` / `timeoutMs`), or when it is within an edit
 * distance of a third of the name's length (adjacent swaps count as one edit). Ties go to the
 * name listed first. Nothing is suggested for a name unlike every known one.
 *
 * @example
 * suggest("minWorker", ["minWorkers", "maxWorkers"]) // "minWorkers"
 * suggest("pythonpath", ["python", "pythonPath"])    // "pythonPath"
 * suggest("colour", ["minWorkers"])                  // undefined
 */

/**
 * Edit distance with adjacent transpositions (optimal string alignment), capped: returns
 * `limit + 1` as soon as the distance must exceed `limit`.
 */
const distance = (a: string, b: string, limit: number): number => {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let prevPrev: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prevPrev[j - 2]! + 1)
      row.push(d)
      if (d < best) best = d
    }
    if (best > limit) return limit + 1
    prevPrev = prev
    prev = row
  }
  return prev[b.length]!
}

/**
 * The known name closest to `name`, or undefined when none is close.
 *
 * @example
 * suggest("timeout", ["kwargs", "timeoutMs", "signal"]) // "timeoutMs"
 */
export const suggest = (name: string, known: readonly string[]): string | undefined => {
  const lower = name.toLowerCase()
  let best: string | undefined
  let bestScore = Number.POSITIVE_INFINITY
  for (const k of known) {
    const kl = k.toLowerCase()
    let score: number
    if (kl === lower) score = 0
    else if ((kl.startsWith(lower) || kl.endsWith(lower) || lower.startsWith(kl) || lower.endsWith(kl)) && Math.abs(kl.length - lower.length) <= 3 && Math.min(kl.length, lower.length) >= 3) {
      score = 0.5 + Math.abs(kl.length - lower.length) / 10
    } else {
      const limit = Math.max(1, Math.floor(name.length / 3))
      const d = distance(lower, kl, limit)
      score = d <= limit ? d : Number.POSITIVE_INFINITY
    }
    if (score < bestScore) {
      bestScore = score
      best = k
    }
  }
  return best
}

/**
 * The issue for an unknown name: `<where> is not <what>` plus the suggestion, if any.
 *
 * @example
 * unknownName("minWorker", "minWorker", "a bridge option", ["minWorkers"])
 * // 'minWorker is not a bridge option (did you mean minWorkers?)'
 */
export const unknownName = (name: string, where: string, what: string, known: readonly string[]): string => {
  const guess = suggest(name, known)
  return `${where} is not ${what}${guess !== undefined ? ` (did you mean ${guess}?)` : ""}`
}

/**
 * The issues for the keys of `o` that are not in `known`, each named `<at><key>`; a key set to
 * `undefined` counts as omitted, and anything but a plain object has none (its type is checked
 * elsewhere). A misspelled option is refused, never left to run on its default: a dashboard
 * given `tokn` would serve its controls with no token.
 *
 * @example
 * unknownKeys({ tokn: "s3cret-token" }, "", ["token", "port"], "a dashboard option")
 * // ['tokn is not a dashboard option (did you mean token?)']
 */
export const unknownKeys = (o: unknown, at: string, known: readonly string[], what: string): string[] =>
  extraKeys(o, known).map((k) => unknownName(k, `${at}${k}`, what, known))

/**
 * As {@link unknownKeys}, but only for keys close to a known one: a misspelling is refused, a
 * name unlike every known one is let pass. For the supervisor's flags and child specs, where
 * OTP ignores unknown keys (a newer release's, say) and its own test suite checks that it does,
 * but `stratgy: "one_for_all"` silently running one_for_one would help nobody.
 *
 * @example
 * misspelledKeys({ stratgy: "one_for_all", sillyFlag: true }, "", ["strategy"], "a supervisor flag")
 * // ['stratgy is not a supervisor flag (did you mean strategy?)']
 */
export const misspelledKeys = (o: unknown, at: string, known: readonly string[], what: string): string[] =>
  extraKeys(o, known)
    .filter((k) => suggest(k, known) !== undefined)
    .map((k) => unknownName(k, `${at}${k}`, what, known))

/** The keys of a plain object `o` that are set (not `undefined`) and not in `known`. */
const extraKeys = (o: unknown, known: readonly string[]): string[] =>
  typeof o !== "object" || o === null || Array.isArray(o) ? [] : Object.keys(o).filter((k) => !known.includes(k) && (o as Record<string, unknown>)[k] !== undefined)
