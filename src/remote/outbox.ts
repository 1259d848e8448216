/**
 * Publishes coalesced per turn of the event loop, several to one message. The NATS client
 * flushes its write buffer on the microtask after the first publish into an empty buffer, so
 * calls (and replies) made one promise continuation apart each cost their own socket write, and
 * every message costs both NATS clients and the server their per-message work (parsing, routing,
 * a `Msg` per delivery): at 64 calls in flight that was more than the call itself. The outbox
 * keeps the messages of one turn and hands them to the client in `setImmediate`, right after the
 * I/O that produced them, joining those for one subject into one NATS message (frames back to
 * back, read by `readMessages`), up to `maxBatchBytes` each.
 *
 * Order is kept per subject: every message a client or an agent sends goes through its one
 * outbox (or `flush()` first, before a request or a close), and a subject's messages leave in
 * the order they were queued, so a cancel never overtakes its call, nor an `end` its stream's
 * items. The joined message carries the reply subject of its first part that has one, and
 * every part learns which reply subject its message left with (`onSent`), so a sender that
 * gives each part its own reply subject has one per NATS message. A publish the client refuses
 * (the connection closed, a message over the server's `max_payload`) reaches the `onError` of
 * every part of that message, as it did when each part was published in place.
 *
 * @example
 * const outbox = new Outbox((subject, data, reply) => nc.publish(subject, data, reply === undefined ? undefined : { reply }))
 * outbox.publish("snakepit.ml.agent.a1.from.c1", bytes, { reply: "…reply.c1", onError: (e) => fail(e) })
 * outbox.flush() // before nc.request / nc.close: nothing queued is left behind or overtaken
 */

/** What the outbox needs of a NATS connection: one publish, that may throw. */
export type Publish = (subject: string, data: Uint8Array, reply: string | undefined) => void

import { FrameTooLarge } from "../errors.js"

/** Options of one queued message. */
export interface OutboxMessageOptions {
  /** The reply subject to publish with. */
  readonly reply?: string
  /** Told when the NATS client refuses this message (it is then not sent). */
  readonly onError?: (error: unknown) => void
  /** Told, just before it is handed to the NATS client, the reply subject of the message it joined. */
  readonly onSent?: (reply: string | undefined) => void
}

interface Queued {
  readonly subject: string
  readonly data: Uint8Array
  readonly reply: string | undefined
  readonly onError: ((error: unknown) => void) | undefined
  readonly onSent: ((reply: string | undefined) => void) | undefined
}

/** Default bound on one joined message: well under NATS' default `max_payload` (1 MiB). */
export const MAX_BATCH_BYTES = 64 * 1024

/** Parts of one NATS message being joined. */
interface Batch {
  readonly subject: string
  reply: string | undefined
  bytes: number
  readonly parts: Queued[]
}

export class Outbox {
  private queue: Queued[] = []
  private scheduled = false

  /**
   * `maxBatchBytes`: a joined message grows no bigger (one part bigger than it goes alone).
   * `maxPayload`: the server's `max_payload`, named in the `FrameTooLarge` of a message over it.
   */
  constructor(
    private readonly send: Publish,
    private readonly maxBatchBytes = MAX_BATCH_BYTES,
    private readonly maxPayload?: number,
  ) {}

  /** Messages waiting for the end of this turn. */
  get size(): number {
    return this.queue.length
  }

  /** Queues one message; it leaves with the others of this turn, in order. */
  publish(subject: string, data: Uint8Array, options: OutboxMessageOptions = {}): void {
    this.queue.push({ subject, data, reply: options.reply, onError: options.onError, onSent: options.onSent })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Publishes everything queued now, in order per subject (a refused message does not stop the others). */
  flush(): void {
    this.scheduled = false
    if (this.queue.length === 0) return
    const queued = this.queue
    this.queue = []
    if (queued.length === 1) {
      const m = queued[0]!
      this.publishParts(m.subject, m.data, m.reply, queued)
      return
    }
    // Each subject's open message; a full one is replaced by a new one, after it in `batches`,
    // so the subject's order stands.
    const open = new Map<string, Batch>()
    const batches: Batch[] = []
    for (const m of queued) {
      let batch = open.get(m.subject)
      if (batch === undefined || batch.bytes + m.data.byteLength > this.maxBatchBytes) {
        batch = { subject: m.subject, reply: undefined, bytes: 0, parts: [] }
        open.set(m.subject, batch)
        batches.push(batch)
      }
      batch.parts.push(m)
      batch.bytes += m.data.byteLength
      batch.reply ??= m.reply
    }
    for (const b of batches) {
      const data = b.parts.length === 1 ? b.parts[0]!.data : Buffer.concat(b.parts.map((p) => p.data), b.bytes)
      this.publishParts(b.subject, data, b.reply, b.parts)
    }
  }

  private publishParts(subject: string, data: Uint8Array, reply: string | undefined, parts: readonly Queued[]): void {
    for (const p of parts) p.onSent?.(reply)
    try {
      this.send(subject, data, reply)
    } catch (e) {
      // The NATS client's refusal of a message over max_payload is a plain error: the caller
      // gets it typed, as a frame over our own limit would be.
      const error = e instanceof Error && /max_payload/.test(e.message)
        ? new FrameTooLarge({ message: `a message of ${data.byteLength} bytes is over the NATS server's max_payload${this.maxPayload === undefined ? "" : ` (${this.maxPayload} bytes)`}`, sizeBytes: data.byteLength, maxFrameBytes: this.maxPayload ?? this.maxBatchBytes })
        : e
      for (const p of parts) p.onError?.(error)
    }
  }
}

/**
 * The bound on a joined message for one NATS connection: {@link MAX_BATCH_BYTES}, or the
 * server's `max_payload` when that is smaller.
 *
 * @example
 * const outbox = new Outbox(publish, batchBytes(nc))
 */
export const batchBytes = (nc: { readonly info?: { readonly max_payload?: number } | undefined }): number =>
  Math.min(MAX_BATCH_BYTES, nc.info?.max_payload ?? MAX_BATCH_BYTES)
