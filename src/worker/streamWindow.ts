/**
 * The host's side of one stream's flow control: the chunks it received and its consumer has not
 * taken yet, and the credit to grant for those taken.
 *
 * Python sends a chunk only while fewer than {@link STREAM_CHUNK_WINDOW} of its chunks are
 * uncredited, and fewer than {@link STREAM_BYTE_WINDOW} bytes of them (or none at all: one chunk
 * larger than the byte window still goes alone). The host grants credit only for chunks its
 * consumer has taken, after taking them, so Python's uncredited chunks always include every
 * chunk the host holds unconsumed. When a chunk arrives, the host therefore holds, with it, at
 * most `STREAM_CHUNK_WINDOW` chunks and at most `STREAM_BYTE_WINDOW - 1 + maxFrameBytes` bytes
 * (`< STREAM_BYTE_WINDOW` already there, plus this one of at most `maxFrameBytes`). One more is
 * a worker that ignored credit: {@link StreamWindow.received} says so, and the connection ends
 * the worker as a protocol violation. No race: a credit leaves the host after the chunks it
 * counts were taken here, and Python subtracts them only once it reads that credit.
 *
 * A chunk's bytes are its frame body's length (`bodyLength`, as Python computes it when it
 * sends). Integer arithmetic and a ring of sizes allocated once per stream: nothing per chunk.
 *
 * @example
 * const window = new StreamWindow(maxFrameBytes)
 * if (window.received(bytes)) queue.push(value) // a chunk arrived
 * else fault("a chunk past the stream's credit")
 * window.taken() // the consumer took the oldest chunk
 * const n = window.credit() // > 0: write { type: "credit", id, n }
 */
import { STREAM_BYTE_WINDOW, STREAM_CHUNK_WINDOW } from "../protocol/messages.js"

export class StreamWindow {
  /** Sizes of the unconsumed chunks, oldest at `head` (never more than a window of them). */
  private readonly sizes = new Float64Array(STREAM_CHUNK_WINDOW)
  private head = 0
  private count = 0
  private bytes = 0
  /** Taken by the consumer since the last credit. */
  private takenChunks = 0
  private takenBytes = 0
  /** The most an honest worker can have the host hold (see the module docs). */
  private readonly maxBytes: number

  constructor(maxFrameBytes: number) {
    this.maxBytes = STREAM_BYTE_WINDOW - 1 + maxFrameBytes
  }

  /**
   * Counts a chunk of `bytes` (its frame body) that arrived; false, without counting it, when an
   * honest worker could not have sent it (it ignored credit).
   *
   * @example
   * if (!window.received(bytes)) fault(`chunk past the window: ${window.unconsumed}`)
   */
  received(bytes: number): boolean {
    if (this.count >= STREAM_CHUNK_WINDOW || this.bytes + bytes > this.maxBytes) return false
    this.sizes[(this.head + this.count) % STREAM_CHUNK_WINDOW] = bytes
    this.count++
    this.bytes += bytes
    return true
  }

  /**
   * The consumer took the oldest unconsumed chunk.
   *
   * @example
   * window.taken()
   */
  taken(): void {
    if (this.count === 0) return
    const bytes = this.sizes[this.head]!
    this.head = (this.head + 1) % STREAM_CHUNK_WINDOW
    this.count--
    this.bytes -= bytes
    this.takenChunks++
    this.takenBytes += bytes
  }

  /**
   * How many chunks to credit now: those taken since the last credit, once they are half a
   * window of chunks or half the byte window (big chunks would otherwise wait for credit that
   * only comes after 32 of them); 0 before that.
   *
   * @example
   * const n = window.credit()
   * if (n > 0) write({ type: "credit", id, n })
   */
  credit(): number {
    if (this.takenChunks < STREAM_CHUNK_WINDOW / 2 && this.takenBytes < STREAM_BYTE_WINDOW / 2) return 0
    const n = this.takenChunks
    this.takenChunks = 0
    this.takenBytes = 0
    return n
  }

  /**
   * What the host holds unconsumed, for an error message.
   *
   * @example
   * window.unconsumed // "64 chunks, 4194816 bytes"
   */
  get unconsumed(): string {
    return `${this.count} chunks, ${this.bytes} bytes`
  }
}
