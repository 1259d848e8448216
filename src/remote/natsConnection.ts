/**
 * Connecting to NATS the same way from a client and from an agent: servers, authentication
 * (token, user/password, NKey seed or a `.creds` file) and TLS pass straight through to the
 * official client, and a refused or unreachable server is a typed `StartupFailed`, never a hang.
 *
 * @example
 * const nc = await connectNats({ servers: "nats://10.0.0.5:4222", credsFile: "/etc/snakepit/agent.creds" }, "agent a1")
 */
import { readFileSync } from "node:fs"
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node"
import { StartupFailed } from "../errors.js"

/** How to reach and authenticate with NATS. */
export interface NatsOptions {
  /** `nats://host:port`, or several for a cluster. */
  readonly servers: string | readonly string[]
  /** A token for token authentication. Default: none. */
  readonly token?: string
  /** A user name for user/password authentication (with `pass`). Default: none. */
  readonly user?: string
  /** The password of `user`. Default: none. */
  readonly pass?: string
  /** An NKey seed (`SU…`) for NKey authentication. Default: none. */
  readonly nkeySeed?: string
  /** A `.creds` file (JWT + NKey seed), as `nsc` writes it. Default: none. */
  readonly credsFile?: string
  /** TLS: CA to trust, and a client certificate if the server asks for one. Default: none. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string }
  /** Give up connecting after this long (default 5 000 ms). */
  readonly connectTimeoutMs?: number
}

/**
 * The options as the NATS client takes them (reads a `.creds` file; throws if it cannot).
 *
 * @example
 * natsClientOptions({ servers: "nats://h:4222", token: "t" }, "agent a1").token // "t"
 */
export function natsClientOptions(o: NatsOptions, name: string, inboxPrefix?: string): NodeConnectionOptions {
  const authenticator = o.credsFile
    ? credsAuthenticator(readFileSync(o.credsFile))
    : o.nkeySeed
      ? nkeyAuthenticator(new TextEncoder().encode(o.nkeySeed))
      : undefined
  return {
    servers: typeof o.servers === "string" ? o.servers : [...o.servers],
    name,
    timeout: o.connectTimeoutMs ?? 5_000,
    // Keep trying for ever once connected: a restarted server must not end the pool.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(o.token !== undefined ? { token: o.token } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.pass !== undefined ? { pass: o.pass } : {}),
    ...(authenticator ? { authenticator } : {}),
    ...(o.tls ? { tls: { ...o.tls } } : {}),
    // Request/reply inboxes (and JetStream's) under the caller's own subjects, not the shared
    // `_INBOX.>` any user allowed to read inboxes could read.
    ...(inboxPrefix !== undefined ? { inboxPrefix } : {}),
  }
}

/**
 * Connects, or rejects with `StartupFailed` saying why (credentials refused, no server).
 *
 * @example
 * const nc = await connectNats({ servers: "127.0.0.1:4222", token: "s3cret" }, "client", "snakepit.ml.client.c1.inbox")
 */
export async function connectNats(o: NatsOptions, name: string, inboxPrefix?: string): Promise<NatsConnection> {
  let options: NodeConnectionOptions
  try {
    options = natsClientOptions(o, name, inboxPrefix)
  } catch (e) {
    throw new StartupFailed({ message: `cannot read the NATS credentials: ${(e as Error).message}`, workerId: name, exitCode: null, signal: null, stderr: "" })
  }
  try {
    return await connect(options)
  } catch (e) {
    const error = e as Error
    const refused = error.name === "AuthorizationError" || /authoriz|authentic/i.test(error.message)
    throw new StartupFailed({
      message: refused
        ? `NATS at ${String(o.servers)} refused the credentials (${error.message})`
        : `cannot connect to NATS at ${String(o.servers)}: ${error.message}`,
      workerId: name,
      exitCode: null,
      signal: null,
      stderr: "",
    })
  }
}
