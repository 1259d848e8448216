/**
 * The last write of one key of the agents' KV bucket, read without the NATS client's KV `get`.
 * That `get` asks JetStream for the stored message itself ("direct get"), whose headers come back
 * as the answer's headers, and for an empty record the client's request/reply reads them: a
 * record written with a malformed header (any agent user may write `$KV.<bucket>.<its id>`, the
 * shared role any id) stopped the reader of an agent starting under that id (see
 * peerMessages.ts). Here the server's JSON answer to a "message get" carries the record, read by
 * our guarded subscription, and its headers are parsed by us, tolerantly. Used by an agent for its
 * own record at start; clients keep the KV's direct get, which replicas answer while a cluster
 * elects the stream's leader (a "message get" needs the leader).
 *
 * @example
 * const entry = await lastEntry(requests, "snakepit_ml_agents", "a1", 5_000)
 * if (entry?.operation === "PUT") parseAgentRecord(entry.value, "a1")
 */
import type { PeerRequests } from "./peerMessages.js"

/** One key's last write: its operation (a delete or purge leaves a marker), value and revision. */
export interface KvEntry {
  readonly operation: "PUT" | "DEL" | "PURGE"
  readonly value: Uint8Array
  readonly revision: number
}

/** JetStream's error code for "no message found" (the key was never written, or expired). */
const NO_MESSAGE = 10_037

/** The `KV-Operation` of a stored message's header text; PUT when it names none (or is unreadable). */
const operationOf = (headers: string): KvEntry["operation"] => {
  for (const line of headers.split("\r\n")) {
    const colon = line.indexOf(":")
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== "kv-operation") continue
    const op = line.slice(colon + 1).trim().toUpperCase()
    if (op === "DEL" || op === "PURGE") return op
  }
  return "PUT"
}

/**
 * The last write of `key` in KV bucket `bucket`, or null when there is none. Rejects when the
 * server answers with another error, with a permission refusal, or not within `timeoutMs`.
 */
export async function lastEntry(requests: PeerRequests, bucket: string, key: string, timeoutMs: number): Promise<KvEntry | null> {
  const ask = Buffer.from(JSON.stringify({ last_by_subj: `$KV.${bucket}.${key}` }))
  const answer = await requests.request(`$JS.API.STREAM.MSG.GET.KV_${bucket}`, ask, timeoutMs)
  const reply = JSON.parse(Buffer.from(answer.data).toString("utf8")) as {
    readonly error?: { readonly code?: unknown; readonly err_code?: unknown; readonly description?: unknown }
    readonly message?: { readonly seq?: unknown; readonly data?: unknown; readonly hdrs?: unknown }
  }
  if (reply.error !== undefined) {
    if (reply.error.err_code === NO_MESSAGE) return null
    throw new Error(`the KV bucket ${bucket} could not be read: ${String(reply.error.description)} (${String(reply.error.code)})`)
  }
  const m = reply.message
  if (typeof m?.seq !== "number" || (m.data !== undefined && typeof m.data !== "string") || (m.hdrs !== undefined && typeof m.hdrs !== "string")) {
    throw new Error(`the KV bucket ${bucket} answered a read of ${key} with no message`)
  }
  return {
    operation: typeof m.hdrs === "string" ? operationOf(Buffer.from(m.hdrs, "base64").toString("latin1")) : "PUT",
    value: Buffer.from(typeof m.data === "string" ? m.data : "", "base64"),
    revision: m.seq,
  }
}
