/**
 * Publishes coalesced per turn of the event loop. The NATS client flushes its write buffer on
 * the microtask after the first publish into an empty buffer, so calls (and replies) made one
 * promise continuation apart each cost their own socket write, and the server its own read:
 * at 64 calls in flight that was one `write()` per message on both sides of the hop. The outbox
 * keeps the messages of one turn (in order) and hands them to the client together in
 * `setImmediate`, right after the I/O that produced them, so they leave in one write.
 *
 * Order is kept: every message a client or an agent sends goes through its one outbox (or
 * `flush()` first, before a request or a close), so a cancel never overtakes its call, nor an
 * `end` its stream's items. A publish the client refuses (the connection closed, a message over
 * the server's `max_payload`) reaches that message's own `onError`, as it did when the publish
 * was made in place.
 *
 * @example
 * const outbox = new Outbox((subject, data, reply) => nc.publish(subject, data, reply === undefined ? undefined : { reply }))
 * outbox.publish("snakepit.ml.agent.a1", bytes, { reply: "…reply.c1", onError: (e) => fail(e) })
 * outbox.flush() // before nc.request / nc.close: nothing queued is left behind or overtaken
 */

/** What the outbox needs of a NATS connection: one publish, that may throw. */
export type Publish = (subject: string, data: Uint8Array, reply: string | undefined) => void

/** Options of one queued message. */
export interface OutboxMessageOptions {
  /** The reply subject to publish with. */
  readonly reply?: string
  /** Told when the NATS client refuses this message (it is then not sent). */
  readonly onError?: (error: unknown) => void
}

interface Queued {
  readonly subject: string
  readonly data: Uint8Array
  readonly reply: string | undefined
  readonly onError: ((error: unknown) => void) | undefined
}

export class Outbox {
  private queue: Queued[] = []
  private scheduled = false

  constructor(private readonly send: Publish) {}

  /** Messages waiting for the end of this turn. */
  get size(): number {
    return this.queue.length
  }

  /** Queues one message; it leaves with the others of this turn, in order. */
  publish(subject: string, data: Uint8Array, options: OutboxMessageOptions = {}): void {
    this.queue.push({ subject, data, reply: options.reply, onError: options.onError })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Publishes everything queued now, in order (a refused message does not stop the others). */
  flush(): void {
    this.scheduled = false
    if (this.queue.length === 0) return
    const batch = this.queue
    this.queue = []
    for (const m of batch) {
      try {
        this.send(m.subject, m.data, m.reply)
      } catch (e) {
        m.onError?.(e)
      }
    }
  }
}
