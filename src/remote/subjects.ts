/**
 * The NATS subjects and KV names of one remote pool. Everything lives under a configurable
 * prefix, and each client and agent lives under its own subtree of it, so NATS permissions can
 * confine agents and clients (and one client user from another) to their own subjects (see
 * `docs/distributed.md`, "Security", and the tested `docs/nats/permissions.conf`).
 *
 * @example
 * const s = poolSubjects("snakepit", "ml")
 * s.call               // "snakepit.ml.call" (queue group "snakepit.ml.agents")
 * s.agent("a1")        // "snakepit.ml.agent.a1"
 * s.tools("app1.c1")   // "snakepit.ml.client.app1.c1.tools"
 */

/** Subjects of one pool. */
export interface PoolSubjects {
  /** Calls any agent may take (a queue group). */
  readonly call: string
  /** The queue group name agents join on {@link PoolSubjects.call}. */
  readonly queue: string
  /** One agent's own subject: calls of sessions bound to it, cancels, session clean-ups. */
  readonly agent: (agentId: string) => string
  /**
   * Prefix of one agent's request/reply inboxes (the answers clients send to its tool calls).
   * Four tokens under the pool, so a permission `<pool>.agent.*` (what clients need to call
   * agents) does not cover it: a client answers a tool call only as the response NATS lets it
   * send (`allow_responses`), never by publishing into an agent's inbox.
   */
  readonly agentInbox: (agentId: string) => string
  /** Everything of one client (replies, tools, inboxes): `<prefix>.<pool>.client.<clientId>`. */
  readonly client: (clientId: string) => string
  /** One client's subject for tool calls (and `session.variables`) forwarded by agents. */
  readonly tools: (clientId: string) => string
  /** Prefix of one client's reply subjects (results and stream items). */
  readonly replies: (clientId: string) => string
  /** Prefix of one client's request/reply inboxes (clean-ups, restarts, its KV reads). */
  readonly clientInbox: (clientId: string) => string
  /**
   * Whether `subject` is a client's (`<prefix>.<pool>.client.` and tokens, no wildcard): the
   * only subjects an agent answers on. Any other reply subject a peer names (the agents' KV,
   * say, which the agent role may write) would have the agent publish there for it.
   */
  readonly isClientSubject: (subject: string) => boolean
  /** The KV bucket holding each agent's heartbeat and capacity record. */
  readonly bucket: string
}

const TOKEN = /^[A-Za-z0-9_-]+$/

/** True when `s` can be one token of a subject (and a KV key): no dots, spaces or wildcards. */
export const isSubjectToken = (s: string): boolean => TOKEN.test(s)

/**
 * True when `s` is one or more tokens joined by dots (a prefix, a scoped client id).
 *
 * @example
 * isSubjectTokens("app1.c0ffee") // true
 * isSubjectTokens("app1.>")      // false
 */
export const isSubjectTokens = (s: string): boolean => s.split(".").every(isSubjectToken)

/**
 * The subjects of pool `pool` under `prefix` (dot-separated tokens).
 *
 * @example
 * poolSubjects("acme.snakepit", "ml").tools("c1") // "acme.snakepit.ml.client.c1.tools"
 */
export function poolSubjects(prefix: string, pool: string): PoolSubjects {
  const base = `${prefix}.${pool}`
  const client = (clientId: string) => `${base}.client.${clientId}`
  return {
    call: `${base}.call`,
    queue: `${base}.agents`,
    agent: (agentId) => `${base}.agent.${agentId}`,
    agentInbox: (agentId) => `${base}.agent.${agentId}.inbox`,
    client,
    tools: (clientId) => `${client(clientId)}.tools`,
    replies: (clientId) => `${client(clientId)}.reply`,
    clientInbox: (clientId) => `${client(clientId)}.inbox`,
    isClientSubject: (subject) => subject.startsWith(`${base}.client.`) && isSubjectTokens(subject.slice(base.length + 8)),
    // Bucket names allow no dots.
    bucket: `${prefix.replaceAll(".", "_")}_${pool}_agents`,
  }
}
