/**
 * Counts by key that hold only the keys in use: a count that falls to zero (or below) is
 * deleted, so a table of per-session or per-scope counts never grows with keys long gone.
 * Works on a `Map` or an `IdTable` (the latter where keys come and go once per call; see
 * idTable.ts).
 *
 * @example
 * const out = new Map<string, number>()
 * addCount(out, "s1", 1)  // out: { s1 → 1 }
 * addCount(out, "s1", -1) // out: {}
 */
export const addCount = <K>(counts: CountTable<K>, key: K, by: number): void => {
  const n = (counts.get(key) ?? 0) + by
  if (n > 0) counts.set(key, n)
  else counts.delete(key)
}

/** What {@link addCount} needs of a table: a `Map`'s get, set and delete. */
export interface CountTable<K> {
  get(key: K): number | undefined
  set(key: K, value: number): unknown
  delete(key: K): unknown
}
