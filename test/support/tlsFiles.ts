/**
 * A throw-away certificate authority for TLS tests, made with `openssl` in a temp dir: a CA, a
 * server certificate it signs for 127.0.0.1 and localhost, and a second CA that signed nothing
 * (a client that trusts only that one must not connect). Remove the dir with {@link TestCa.remove}.
 *
 * @example
 * const ca = makeTestCa()
 * try { … connect({ tls: { caFile: ca.caFile } }) … } finally { ca.remove() }
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** True when `openssl` can be run here. */
export const opensslAvailable = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0

/** The files of one test CA. */
export interface TestCa {
  readonly dir: string
  /** The CA clients trust. */
  readonly caFile: string
  /** The server's certificate (signed by the CA) and key. */
  readonly certFile: string
  readonly keyFile: string
  /** Another CA, which did not sign the server's certificate. */
  readonly otherCaFile: string
  readonly remove: () => void
}

const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

/**
 * Generates the CA and the server certificate (a few milliseconds with EC keys).
 *
 * @example
 * const { caFile, certFile, keyFile } = makeTestCa()
 */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "snakepit-tls-"))
  const f = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
  try {
    openssl("req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "1", "-subj", "/CN=snakepit test CA")
    openssl("req", "-x509", ...ec, "-keyout", f("other-ca.key"), "-out", f("other-ca.pem"), "-days", "1", "-subj", "/CN=snakepit other CA")
    openssl("req", ...ec, "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=127.0.0.1")
    writeFileSync(f("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("server.pem"), "-days", "1", "-extfile", f("server.ext"))
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  return {
    dir,
    caFile: f("ca.pem"),
    certFile: f("server.pem"),
    keyFile: f("server.key"),
    otherCaFile: f("other-ca.pem"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
