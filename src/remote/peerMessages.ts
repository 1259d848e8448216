/**
 * NATS messages from peers, read without letting them end our connection. The NATS client runs
 * subscription callbacks inside its socket reader, and an exception thrown there stops the reader
 * for good: the connection stays open but reads nothing more (no message, no PONG, no KV ack).
 * A peer could cause one with a single message: `nats-server` relays a header whose field name
 * holds a space, and reading `msg.headers` then throws. The client's own request/reply did just
 * that for an empty answer (it reads the headers to tell "no responders"), so an app user that
 * answered an agent's probe, or an agent that answered a client, made the other deaf for minutes.
 *
 * So every subscription callback of ours is {@link guardedCallback}, a status is read with
 * {@link statusOf}, and a request a peer answers goes through {@link PeerRequests}, whose one
 * subscription reads the answers itself.
 *
 * @example
 * const requests = new PeerRequests(nc, "snakepit.ml.agent.a1.inbox", (e) => logger.warn({ err: e }, "answer dropped"))
 * const answer = await requests.request("snakepit.ml.client.app1.c1.tools", frame, 30_000)
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node"
import { randomHex } from "./randomIds.js"

/**
 * The NATS status code of a message (503: "no responders"), or undefined when it has none or its
 * header cannot be read (a peer's malformed header is no status).
 *
 * @example
 * if (statusOf(m) === 503) failCallsSentOn(m.subject)
 */
export const statusOf = (m: Msg): number | undefined => {
  try {
    return m.headers?.code
  } catch {
    return undefined
  }
}

/**
 * A subscription callback that never throws into the NATS client's reader: what `handle` throws
 * is given to `onError` (which must not throw either), and the connection reads on.
 *
 * @example
 * nc.subscribe(subject, { callback: guardedCallback((m) => onReply(m), (e) => logger.error({ err: e }, "reply dropped")) })
 */
export const guardedCallback = (handle: (m: Msg) => void, onError: (error: unknown) => void) => (e: Error | null, m: Msg): void => {
  if (e !== null) return
  try {
    handle(m)
  } catch (error) {
    try {
      onError(error)
    } catch {
      // Nothing may reach the reader.
    }
  }
}

/** A request answered by nobody: NATS said no subscriber listens on its subject. */
export class NoResponders extends Error {
  constructor(readonly subject: string) {
    super(`no responders for ${subject}`)
  }
}

/** A request not answered within its time. */
export class RequestTimedOut extends Error {
  constructor(readonly subject: string, readonly timeoutMs: number) {
    super(`no answer to a request on ${subject} within ${timeoutMs} ms (timeout)`)
  }
}

/**
 * Requests whose answers come from peers: one subscription on `<inbox>.r.*`, read by a guarded
 * callback, and a table of the requests out by the last token of their reply subject. Only the
 * peer that received a request can answer it there (NATS permissions: `allow_responses`).
 */
export class PeerRequests {
  /** Requests out, by the last token of their reply subject: their subject, and how each settles. */
  private readonly waiting = new Map<string, { readonly subject: string; readonly settle: (answer: Msg | Error) => void }>()
  private readonly subscription: Subscription
  /** NATS's refusal of that subscription, once it came: no request can be answered. */
  private refused: Error | undefined
  private closed = false

  constructor(
    private readonly nc: NatsConnection,
    private readonly inbox: string,
    onError: (error: unknown) => void,
  ) {
    const answers = `${inbox}.r.*`
    this.subscription = nc.subscribe(answers, { callback: guardedCallback((m) => this.onAnswer(m), onError) })
    // A publish NATS does not permit is refused asynchronously, as a status: its requests fail
    // with that refusal at once, as the NATS client's own would, not at their time-out.
    void (async () => {
      for await (const status of nc.status()) {
        const error = status.type === "error" ? (status.error as Error & { operation?: string; subject?: string }) : undefined
        if (error?.name !== "PermissionViolationError") continue
        if (error.operation === "publish") {
          for (const out of [...this.waiting.values()]) if (out.subject === error.subject) out.settle(error)
        } else if (error.operation === "subscription" && error.subject === answers) {
          // No answer can reach us: every request fails with the refusal, now and later.
          this.refused = error
          for (const out of [...this.waiting.values()]) out.settle(error)
        }
      }
    })().catch(() => {})
  }

  /**
   * Publishes `data` on `subject` and resolves with its first answer; rejects with
   * {@link NoResponders}, {@link RequestTimedOut} after `timeoutMs`, or the publish's own error.
   */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Msg> {
    if (this.closed) return Promise.reject(new Error("the NATS connection is closed"))
    if (this.refused) return Promise.reject(this.refused)
    const token = randomHex(8)
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => settle(new RequestTimedOut(subject, timeoutMs)), timeoutMs)
      timer.unref?.()
      const settle = (answer: Msg | Error) => {
        clearTimeout(timer)
        this.waiting.delete(token)
        if (answer instanceof Error) reject(answer)
        else resolve(answer)
      }
      this.waiting.set(token, { subject, settle })
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.r.${token}` })
      } catch (e) {
        settle(e instanceof Error ? e : new Error(String(e)))
      }
    })
  }

  /** Rejects every request out and unsubscribes. */
  close(): void {
    this.closed = true
    for (const { settle } of [...this.waiting.values()]) settle(new Error("the NATS connection is closed"))
    this.subscription.unsubscribe()
  }

  private onAnswer(m: Msg): void {
    const out = this.waiting.get(m.subject.slice(m.subject.lastIndexOf(".") + 1))
    if (!out) return // answered already, timed out, or nobody's: the first answer stands
    out.settle(m.data.length === 0 && statusOf(m) === 503 ? new NoResponders(out.subject) : m)
  }
}
