/**
 * Reads a file that holds a secret (a token, a password, an NKey seed, a `.creds` file): at most
 * {@link MAX_SECRET_FILE_BYTES}, opened and read without blocking, for at most
 * {@link SECRET_READ_TIMEOUT_MS}. A regular file, a pipe (`--token-file <(pass show nats)`,
 * `/dev/stdin`) or a device may hold it; one given by mistake (`/dev/zero`, a named pipe nobody
 * writes) hung the agent's start for good, or read until memory ran out. Either is now an error
 * that says why.
 *
 * @example
 * const token = readSecretFile("/run/secrets/nats-token").trim()
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs"

/** The largest secret file read (a `.creds` file is about 1 KiB). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024

/** How long a pipe or device may take to give its whole secret. */
export const SECRET_READ_TIMEOUT_MS = 5_000

/** Sleeps 20 ms, blocking: the CLI reads its secrets before it serves anything. */
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)

const tooLarge = (path: string) => new Error(`${path} holds more than ${MAX_SECRET_FILE_BYTES} bytes, more than any secret`)

/** The file's text; throws an Error (with `code` for the OS's refusals) when it cannot be read. */
export const readSecretFile = (path: string): string => {
  // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, and reading one waits
  // for its data; here both wait at most SECRET_READ_TIMEOUT_MS.
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  try {
    const stat = fstatSync(fd)
    if (stat.isFile() && stat.size > MAX_SECRET_FILE_BYTES) throw tooLarge(path)
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1)
    const deadline = Date.now() + SECRET_READ_TIMEOUT_MS
    let length = 0
    for (;;) {
      let n: number
      try {
        n = readSync(fd, buffer, length, buffer.length - length, null)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e
        if (Date.now() >= deadline) throw new Error(`${path} gave no end of its secret within ${SECRET_READ_TIMEOUT_MS} ms`)
        pause()
        continue
      }
      // A named pipe whose writer has not opened it yet reads as ended: wait for it, as for data.
      if (n === 0 && length === 0 && stat.isFIFO() && Date.now() < deadline) {
        pause()
        continue
      }
      if (n === 0) break
      length += n
      if (length > MAX_SECRET_FILE_BYTES) throw tooLarge(path)
    }
    return buffer.toString("utf8", 0, length)
  } finally {
    closeSync(fd)
  }
}
