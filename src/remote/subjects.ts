/**
 * The NATS subjects and KV names of one remote pool. Everything lives under a configurable
 * prefix, and each client and agent lives under its own subtree of it, so NATS permissions can
 * confine agents and clients (and one client user from another) to their own subjects (see
 * `docs/distributed.md`, "Security", and the tested `docs/nats/permissions.conf`).
 *
 * A client publishes to agents only on subjects that end with its own id (`…call.<clientId>`,
 * `…agent.<agentId>.from.<clientId>`): NATS permissions can attest who sent a message only by
 * the subject it may publish to, never by what the message says, so the sender's id is put
 * where a permission (`…from.app1.>`) can confine it, and an agent refuses a message whose body
 * names another client than its subject.
 *
 * @example
 * const s = poolSubjects("snakepit", "ml")
 * s.callFrom("app1.c1")            // "snakepit.ml.call.app1.c1" (queue group "snakepit.ml.agents")
 * s.agentFrom("a1", "app1.c1")     // "snakepit.ml.agent.a1.from.app1.c1"
 * s.tools("app1.c1")               // "snakepit.ml.client.app1.c1.tools"
 */

/** Subjects of one pool. */
export interface PoolSubjects {
  /**
   * Calls any agent may take, from client `clientId` (a queue group): `<prefix>.<pool>.call.<clientId>`.
   */
  readonly callFrom: (clientId: string) => string
  /** What agents subscribe to (in the queue group) for {@link PoolSubjects.callFrom}: `<prefix>.<pool>.call.>`. */
  readonly callFromAny: string
  /** The queue group name agents join on {@link PoolSubjects.callFromAny} (and {@link PoolSubjects.call}). */
  readonly queue: string
  /**
   * One agent's own subject for client `clientId`: calls of sessions bound to it, cancels,
   * stream credit, session clean-ups, restarts. `<prefix>.<pool>.agent.<agentId>.from.<clientId>`.
   */
  readonly agentFrom: (agentId: string, clientId: string) => string
  /** What one agent subscribes to for {@link PoolSubjects.agentFrom}: `<prefix>.<pool>.agent.<agentId>.from.>`. */
  readonly agentFromAny: (agentId: string) => string
  /**
   * The client whose subject `subject` is, when it is {@link PoolSubjects.callFrom} or agent
   * `agentId`'s {@link PoolSubjects.agentFrom}; undefined otherwise.
   */
  readonly sender: (subject: string, agentId: string) => string | undefined
  /**
   * The queue subject of wire versions 1 and 2 (no client id in it). Agents still listen there,
   * only to tell such clients, in a message they can read, that they speak another version.
   */
  readonly call: string
  /** One agent's subject of wire versions 1 and 2 (see {@link PoolSubjects.call}). */
  readonly agent: (agentId: string) => string
  /**
   * Prefix of one agent's request/reply inboxes (the answers clients send to its tool calls).
   * Its fourth token under the pool is `inbox`, not `from`, so a permission
   * `<pool>.agent.*.from.<scope>.>` (what clients need to call agents) does not cover it: a
   * client answers a tool call only as the response NATS lets it send (`allow_responses`),
   * never by publishing into an agent's inbox.
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
 * poolSubjects("snakepit", "ml").sender("snakepit.ml.agent.a1.from.app1.c1", "a1") // "app1.c1"
 */
export function poolSubjects(prefix: string, pool: string): PoolSubjects {
  const base = `${prefix}.${pool}`
  const client = (clientId: string) => `${base}.client.${clientId}`
  const agent = (agentId: string) => `${base}.agent.${agentId}`
  /** The tokens after `head` (a subject NATS delivered has no wildcards, but say so anyway). */
  const tail = (subject: string, head: string) => {
    const rest = subject.startsWith(head) ? subject.slice(head.length) : ""
    return isSubjectTokens(rest) ? rest : undefined
  }
  return {
    callFrom: (clientId) => `${base}.call.${clientId}`,
    callFromAny: `${base}.call.>`,
    queue: `${base}.agents`,
    agentFrom: (agentId, clientId) => `${agent(agentId)}.from.${clientId}`,
    agentFromAny: (agentId) => `${agent(agentId)}.from.>`,
    sender: (subject, agentId) => tail(subject, `${base}.call.`) ?? tail(subject, `${agent(agentId)}.from.`),
    call: `${base}.call`,
    agent,
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
