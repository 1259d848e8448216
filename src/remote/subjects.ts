/**
 * The NATS subjects and KV names of one remote pool. Everything lives under a configurable
 * prefix, so NATS permissions can confine agents and clients to their pool's subjects (see
 * `docs/distributed.md`, "Security").
 *
 * @example
 * const s = poolSubjects("snakepit", "ml")
 * s.call            // "snakepit.ml.call" (queue group "snakepit.ml.agents")
 * s.agent("a1")     // "snakepit.ml.agent.a1"
 */

/** Subjects of one pool. */
export interface PoolSubjects {
  /** Calls any agent may take (a queue group). */
  readonly call: string
  /** The queue group name agents join on {@link PoolSubjects.call}. */
  readonly queue: string
  /** One agent's own subject: calls of sessions bound to it, cancels, session clean-ups. */
  readonly agent: (agentId: string) => string
  /** One client's subject for tool calls (and `session.variables`) forwarded by agents. */
  readonly tools: (clientId: string) => string
  /** Prefix of one client's reply subjects (results and stream items). */
  readonly replies: (clientId: string) => string
  /** The KV bucket holding each agent's heartbeat and capacity record. */
  readonly bucket: string
}

const TOKEN = /^[A-Za-z0-9_-]+$/

/** True when `s` can be one token of a subject (and a KV key): no dots, spaces or wildcards. */
export const isSubjectToken = (s: string): boolean => TOKEN.test(s)

/**
 * The subjects of pool `pool` under `prefix` (dot-separated tokens).
 *
 * @example
 * poolSubjects("acme.snakepit", "ml").tools("c1") // "acme.snakepit.ml.client.c1.tools"
 */
export function poolSubjects(prefix: string, pool: string): PoolSubjects {
  const base = `${prefix}.${pool}`
  return {
    call: `${base}.call`,
    queue: `${base}.agents`,
    agent: (agentId) => `${base}.agent.${agentId}`,
    tools: (clientId) => `${base}.client.${clientId}.tools`,
    replies: (clientId) => `${base}.client.${clientId}.reply`,
    // Bucket names allow no dots.
    bucket: `${prefix.replaceAll(".", "_")}_${pool}_agents`,
  }
}
