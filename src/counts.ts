/**
 * Counts by key that hold only the keys in use: a count that falls to zero (or below) is
 * deleted, so a map of per-session or per-scope counts never grows with keys long gone.
 *
 * @example
 * const out = new Map<string, number>()
 * addCount(out, "s1", 1)  // out: { s1 → 1 }
 * addCount(out, "s1", -1) // out: {}
 */
export const addCount = (counts: Map<string, number>, key: string, by: number): void => {
  const n = (counts.get(key) ?? 0) + by
  if (n > 0) counts.set(key, n)
  else counts.delete(key)
}
