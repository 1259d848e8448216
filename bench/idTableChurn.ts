/**
 * `node --expose-gc --import tsx bench/idTableChurn.ts`: why the calls in flight are kept in an
 * `IdTable` and not a `Map` (src/idTable.ts). Both hold 64 entries while 1 000 000 come and go
 * per round, as a connection's calls in flight do; a full `gc()` runs before round 3. Prints ns
 * per set and delete for each round, and the old generation's size at the end.
 *
 * @example
 * // Map      ns per set+delete:   354   163   158 | 2855  2833  2962  2874   old space 42.9 MB
 * // IdTable  ns per set+delete:   610   559   558 |  552   574   428   571   old space 4.6 MB
 */
import v8 from "node:v8"
import { IdTable } from "../src/idTable.js"

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error("run with node --expose-gc")

interface Table<V> {
  set(id: number, value: V): unknown
  get(id: number): V | undefined
  delete(id: number): boolean
}

const churn = (name: string, table: Table<{ id: number; args: number[]; text: string; bytes: Uint8Array }>) => {
  let next = 0
  const live: number[] = []
  let sink = 0
  const rounds: string[] = []
  for (let r = 0; r < 7; r++) {
    if (r === 3) gc()
    const t = process.cpuUsage()
    for (let i = 0; i < 1_000_000; i++) {
      const id = next++
      table.set(id, { id, args: [id, id + 1], text: `x${id}`, bytes: new Uint8Array(64) })
      live.push(id)
      if (live.length > 64) {
        const done = live.shift()!
        sink += table.get(done)!.id
        table.delete(done)
      }
    }
    const c = process.cpuUsage(t)
    rounds.push(String(Math.round(((c.user + c.system) * 1000) / 1_000_000)).padStart(5))
  }
  const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size / 1e6
  process.stdout.write(`${name.padEnd(8)} ns per set+delete: ${rounds.slice(0, 3).join(" ")} |${rounds.slice(3).join(" ")}   old space ${old.toFixed(1)} MB${sink < 0 ? "!" : ""}\n`)
}

churn("Map", new Map())
gc()
churn("IdTable", new IdTable())
