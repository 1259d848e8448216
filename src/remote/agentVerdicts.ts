/**
 * How a remote client judges the agents it knows from one complete read of their KV records:
 * pure rules, no clock, timer, log or message of their own, so they can be tested exhaustively
 * (test/unit/agentVerdicts.test.ts). `RemotePool.judge` applies them: it pings an agent silent
 * for its TTL before it judges it lost (`confirmSilence`), pings an agent judged lost to bring it
 * back (`pingBack`), and fails the calls of an agent that left.
 *
 * @example
 * const clock = { record, revision: 3, seenAt: 1_000, down: false, backAfter: 0 }
 * recordRead(clock, { ...record, inFlight: 2 }, 4, 1_500) // { clock: { …, revision: 4, seenAt: 1_500 }, back: false }
 * verdict(clock, { present: true, deleted: false, began: 1_000 + record.ttlMs + 1 }) // { kind: "silent", why: "no heartbeat for … ms" }
 */
import type { AgentRecord } from "./protocol.js"

/** What a client's judgement of one agent rests on. */
export interface AgentClock {
  /** Its record as last read (draining kept once seen: an agent never stops draining). */
  readonly record: AgentRecord
  /** The KV revision of that record. */
  readonly revision: number
  /**
   * When (`Date.now()`) its record last changed, or when we could hear agents again after a time
   * we could not.
   */
  readonly seenAt: number
  /** Judged lost. */
  readonly down: boolean
  /**
   * While down: how many new versions of its record must be read before it counts as back
   * (Infinity: none will do; only an answer to a ping, or a record of another process under its
   * id).
   */
  readonly backAfter: number
}

/**
 * What one read says of an agent we know, after its record (if any) was applied:
 * - `forget`: judged lost long ago and its record gone: dropped from the client's table;
 * - `ping back`: judged lost and still there: ask it whether it serves again;
 * - `gone`: its record's last write is a delete: it drained or stopped, and is lost now;
 * - `silent`: no new record for its TTL: ask it (a ping) before judging it lost, since its
 *   heartbeats may not land though it serves (a KV electing a leader takes no writes);
 * - undefined: nothing to do.
 */
export type Verdict =
  | { readonly kind: "forget" }
  | { readonly kind: "ping back" }
  | { readonly kind: "gone"; readonly why: string }
  | { readonly kind: "silent"; readonly why: string }
  | undefined

/** How many TTLs an agent judged lost, whose record is gone, is kept before it is forgotten. */
export const FORGET_AFTER_TTLS = 10

/** Whether `record` was written by another process than `known` (a restart under its id). */
export const restartedIn = (known: AgentRecord, record: AgentRecord): boolean =>
  record.pid !== known.pid || record.startedAt !== known.startedAt

/**
 * Applies a version of an agent's record read at `now`. A new revision restarts its clock; a
 * record of the same process that says it is not draining, read after one that said it is (a
 * write from before its drain, delivered late), leaves it draining. An agent judged lost comes
 * back on a record of a new process under its id, or once `backAfter` new revisions were read.
 * The same revision read again changes nothing.
 *
 * @example
 * recordRead(clock, record, clock.revision, now).clock === clock // true: nothing new
 */
export function recordRead(clock: AgentClock, record: AgentRecord, revision: number, now: number): { readonly clock: AgentClock; readonly back: boolean } {
  if (clock.revision === revision) return { clock, back: false }
  const restarted = restartedIn(clock.record, record)
  const stillDraining = clock.record.draining && !record.draining && !restarted
  const backAfter = clock.down && !restarted ? clock.backAfter - 1 : clock.backAfter
  const back = clock.down && (restarted || backAfter <= 0)
  return {
    clock: {
      record: stillDraining ? { ...record, draining: true } : record,
      revision,
      seenAt: now,
      down: clock.down && !back,
      backAfter: back ? 0 : backAfter,
    },
    back,
  }
}

/**
 * The verdict on an agent after a read that began at `began`: whether its record was `present`
 * in the read, and whether its last write was a delete (`deleted`, looked for only while it is
 * not judged lost). Silence is counted up to the read's start: a record unchanged in a read shows
 * its agent silent until then, not until the read's end.
 *
 * @example
 * verdict({ ...clock, down: true }, { present: false, deleted: false, began: clock.seenAt + 11 * clock.record.ttlMs }) // { kind: "forget" }
 */
export function verdict(clock: AgentClock, read: { readonly present: boolean; readonly deleted: boolean; readonly began: number }): Verdict {
  const silentMs = read.began - clock.seenAt
  if (clock.down) return !read.present && silentMs > FORGET_AFTER_TTLS * clock.record.ttlMs ? { kind: "forget" } : { kind: "ping back" }
  // Only a delete is a departure: a record merely missing may have expired (a bucket keeps the
  // TTL of the agent that made it), and is judged by the agent's TTL like silence.
  if (read.deleted) return { kind: "gone", why: clock.record.draining ? "drained" : "it deleted its record: it stopped" }
  if (silentMs > clock.record.ttlMs) return { kind: "silent", why: read.present ? `no heartbeat for ${silentMs} ms` : `its record expired, no heartbeat for ${silentMs} ms` }
  return undefined
}
