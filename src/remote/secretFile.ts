/**
 * Reads a file that holds a secret (a token, a password, an NKey seed, a `.creds` file): a
 * regular file of at most {@link MAX_SECRET_FILE_BYTES}, opened without blocking. A FIFO or a
 * device given by mistake (`--token-file /dev/zero`, a named pipe nobody writes) hung the agent's
 * start for good, or read until memory ran out; either is now an error that names it.
 *
 * @example
 * const token = readSecretFile("/run/secrets/nats-token").trim()
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs"

/** The largest secret file read (a `.creds` file is about 1 KiB). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024

/** The file's text; throws an Error (with `code` for the OS's refusals) when it cannot be one. */
export const readSecretFile = (path: string): string => {
  // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer.
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "ENOTREG" })
    if (stat.size > MAX_SECRET_FILE_BYTES) throw Object.assign(new Error(`${path} is larger than ${MAX_SECRET_FILE_BYTES} bytes`), { code: "EFBIG" })
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1)
    let length = 0
    for (let n = -1; n !== 0 && length <= MAX_SECRET_FILE_BYTES; length += n) n = readSync(fd, buffer, length, buffer.length - length, null)
    if (length > MAX_SECRET_FILE_BYTES) throw Object.assign(new Error(`${path} is larger than ${MAX_SECRET_FILE_BYTES} bytes`), { code: "EFBIG" })
    return buffer.toString("utf8", 0, length)
  } finally {
    closeSync(fd)
  }
}
