/**
 * The messages between clients and agents over NATS (each one envelope, see `wire.ts`), and the
 * record every agent keeps in the pool's KV bucket. `docs/distributed.md` lists the subjects.
 *
 * Client → agent, on the pool's queue subject or on the agent's own subject:
 * - `call`: `{ callId, clientId, kind: "call" | "exec" | "stream", sessionId, module, fn, args,
 *   kwargs, code, context, timeoutMs }`, with a reply subject for what follows;
 * - `cancel { callId, clientId }`, `credit { callId, clientId, items }` (stream flow control),
 *   `cleanup { sessionId }` and `restart {}` (request/reply).
 *
 * Agent → client, on the call's reply subject: `accepted { agentId }` (for a call taken from the
 * queue group), `item { value }`* (a stream), then exactly one of `result { value }`, `end {}`
 * (a stream's end) or `error { error }`. Tool calls (and `session.variables`) of a session go to
 * the client that called, as requests on its tools subject: `{ sessionId, name, args, kwargs }`
 * answered `{ ok, value }` or `{ ok: false, message }`.
 *
 * @example
 * const record: AgentRecord = JSON.parse(new TextDecoder().decode(entry.value))
 */

/** What an agent publishes in the KV bucket under its id, every heartbeat. */
export interface AgentRecord {
  readonly agentId: string
  /** Calls it runs at once (workers × concurrency). */
  readonly capacity: number
  readonly inFlight: number
  readonly workers: number
  readonly sessions: number
  readonly heartbeatMs: number
  /** Silence after which clients consider it lost. */
  readonly ttlMs: number
  /** Finishing its calls before it exits: takes no new sessions. */
  readonly draining: boolean
  readonly allowCodeExecution: boolean
  readonly pid: number
  readonly hostname: string
  readonly startedAt: number
}

/**
 * Stream items an agent sends before it waits for credit; the client grants half a window at a
 * time as its consumer takes items.
 *
 * @example
 * if (++consumed % (STREAM_WINDOW / 2) === 0) grant(STREAM_WINDOW / 2)
 */
export const STREAM_WINDOW = 64

/**
 * Parses a KV record, or undefined when it is not one.
 *
 * @example
 * const record = parseAgentRecord(entry.value) // AgentRecord | undefined
 */
export function parseAgentRecord(bytes: Uint8Array): AgentRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(bytes)) as Partial<AgentRecord>
    if (typeof r.agentId !== "string" || typeof r.capacity !== "number" || typeof r.ttlMs !== "number") return undefined
    return r as AgentRecord
  } catch {
    return undefined
  }
}
