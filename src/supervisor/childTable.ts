/**
 * A supervisor's children by id, in start order, as an immutable value whose every change costs
 * O(log n) instead of a copy of all n records. The supervisor machine keeps it in its context
 * and changes a child on every event of that child (spawned, started, stopping, exited), so a
 * copied record made starting or stopping n children cost O(n²); here each change shares all
 * but one path of a persistent hash map (Effect's `HashMap`) with the previous table, and XState
 * snapshots stay immutable (see docs/decisions.md, "The supervisor's children are a persistent
 * table").
 *
 * Start order is a sequence number given when an id enters the table and kept while it stays
 * (a restarted child keeps its place; a deleted and re-added one goes last, as in OTP): reading
 * the children in order sorts them, O(n log n), which only whole-table readings (status, a
 * shutdown, a one_for_all or rest_for_one restart) do. The table also counts the significant
 * children that are alive, so auto-shutdown is decided without a scan.
 *
 * @example
 * let table = emptyTable<{ status: ChildStatus; spec: { significant: boolean } }>()
 * table = withChild(table, "a", { status: "running", spec: { significant: true } })
 * childOf(table, "a")?.status    // "running"
 * inOrder(table).length          // 1
 * table.significantAlive         // 1
 */
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"

/** What the table needs to know of a child record. */
export interface TableRecord {
  readonly status: string
  readonly spec: { readonly significant: boolean }
}

interface Entry<R> {
  readonly seq: number
  readonly record: R
}

/** Children by id, in start order. Change it only with {@link withChild} and {@link withoutChildren}. */
export interface ChildTable<R extends TableRecord> {
  readonly entries: HashMap.HashMap<string, Entry<R>>
  /** The sequence number the next new id gets. */
  readonly nextSeq: number
  /** Children that are alive (starting, running or stopping) and significant. */
  readonly significantAlive: number
}

/**
 * True for the statuses in which a child has something running to stop.
 *
 * @example
 * isAliveStatus("stopping") // true
 */
export const isAliveStatus = (status: string): boolean => status === "starting" || status === "running" || status === "stopping"

const weight = (record: TableRecord | undefined): number => (record !== undefined && record.spec.significant && isAliveStatus(record.status) ? 1 : 0)

/**
 * An empty table.
 *
 * @example
 * tableSize(emptyTable()) // 0
 */
export const emptyTable = <R extends TableRecord>(): ChildTable<R> => ({ entries: HashMap.empty(), nextSeq: 0, significantAlive: 0 })

/**
 * The record of `id`, or undefined. O(log n).
 *
 * @example
 * childOf(table, "db")?.status
 */
export const childOf = <R extends TableRecord>(table: ChildTable<R>, id: string): R | undefined => Option.getOrUndefined(HashMap.get(table.entries, id))?.record

/**
 * The table with `id`'s record set: a new id goes after every other child, a known one keeps
 * its place. O(log n).
 *
 * @example
 * table = withChild(table, "db", { ...childOf(table, "db")!, status: "running" })
 */
export const withChild = <R extends TableRecord>(table: ChildTable<R>, id: string, record: R): ChildTable<R> => {
  const old = Option.getOrUndefined(HashMap.get(table.entries, id))
  const seq = old ? old.seq : table.nextSeq
  return {
    entries: HashMap.set(table.entries, id, { seq, record }),
    nextSeq: old ? table.nextSeq : table.nextSeq + 1,
    significantAlive: table.significantAlive - weight(old?.record) + weight(record),
  }
}

/**
 * The table without these ids (unknown ids are ignored). O(k log n).
 *
 * @example
 * table = withoutChildren(table, ["db"])
 */
export const withoutChildren = <R extends TableRecord>(table: ChildTable<R>, ids: Iterable<string>): ChildTable<R> => {
  let { entries, significantAlive } = table
  for (const id of ids) {
    const old = Option.getOrUndefined(HashMap.get(entries, id))
    if (!old) continue
    entries = HashMap.remove(entries, id)
    significantAlive -= weight(old.record)
  }
  return { entries, nextSeq: table.nextSeq, significantAlive }
}

/**
 * How many children the table holds. O(1).
 *
 * @example
 * tableSize(table) >= maxChildren
 */
export const tableSize = <R extends TableRecord>(table: ChildTable<R>): number => HashMap.size(table.entries)

/**
 * Every record, in start order. O(n log n).
 *
 * @example
 * inOrder(table).length === tableSize(table) // true: every record, oldest first
 */
export const inOrder = <R extends TableRecord>(table: ChildTable<R>): R[] =>
  Array.from(HashMap.values(table.entries))
    .sort((a, b) => a.seq - b.seq)
    .map((e) => e.record)
