/**
 * A table of entries by id, for collections whose entries come and go once per call (the calls
 * in flight on a connection, a remote client's calls sent, an agent's calls running): `Map`'s
 * interface, without the garbage `Map` leaves behind under that churn once a full garbage
 * collection has run.
 *
 * **Why not a `Map`.** V8 keeps a `Map`'s entries in a hash table that it replaces by a new one
 * whenever deleted entries have filled it (every few dozen calls here), and the old table keeps
 * a pointer to its successor (for iterators) and its entries as they were. While the tables are
 * young that costs nothing. But a full collection moves the live table to the old generation;
 * when that table is replaced, the dead old one still points at the young successor, and a
 * young-generation collection treats old-to-young pointers as live: the successor survives, is
 * promoted, and so do the calls it held, and its own successor after it, for good. From the
 * first full collection on, every call's bookkeeping was promoted and freed only by full
 * collections: in `bench/idTableChurn.ts` a `Map` with 64 live entries went from about 160 to
 * about 2 900 ns a set, get and delete after one `gc()` (this table: about 560 either way), and
 * a pipelined echo call cost the host 11–14 µs of CPU instead of 7–8 (docs/performance.md, "A
 * Map's tables kept every call alive"). A null-prototype object holds its entries in a
 * dictionary that has no such chain, and any string is a plain key of it (`__proto__` too).
 *
 * Ids are strings or whole numbers (a number and its decimal string are the same id). The
 * entries iterate as an object's keys do: ids that are array indices (whole numbers up to
 * 2^32 − 2) in ascending order, which for ids handed out in sequence is the order they were
 * added, then the other ids in the order they were added.
 *
 * @example
 * const calls = new IdTable<string>()
 * calls.set(1, "a"); calls.set(2, "b"); calls.delete(1)
 * calls.get(2)                  // "b"
 * calls.size                    // 1
 * const left = [...calls.values()] // ["b"]
 */
export class IdTable<V, K extends string | number = number> {
  private entries: Record<K, V> = Object.create(null) as Record<K, V>
  private count = 0

  /** How many entries it holds. */
  get size(): number {
    return this.count
  }

  /** The entry of `id`, or undefined. */
  get(id: K): V | undefined {
    return this.entries[id]
  }

  /** Whether `id` has an entry. */
  has(id: K): boolean {
    return this.entries[id] !== undefined
  }

  /** Sets the entry of `id` (`value` must not be undefined). */
  set(id: K, value: V): void {
    if (this.entries[id] === undefined) this.count++
    this.entries[id] = value
  }

  /** Removes the entry of `id`; true when there was one. */
  delete(id: K): boolean {
    if (this.entries[id] === undefined) return false
    delete this.entries[id]
    this.count--
    return true
  }

  /** Removes every entry. */
  clear(): void {
    this.entries = Object.create(null) as Record<K, V>
    this.count = 0
  }

  /**
   * The entries, whole-number ids first in ascending order (see above). Entries deleted during
   * the iteration and not reached yet are skipped, as with a `Map`; entries added during it are
   * not visited (a `Map` would visit them).
   */
  *values(): IterableIterator<V> {
    const entries = this.entries
    for (const key in entries) {
      const value = entries[key as K]
      if (value !== undefined) yield value
    }
  }
}
