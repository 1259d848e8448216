/**
 * Connecting to NATS the same way from a client and from an agent: servers, authentication
 * (token, user/password, NKey seed or a `.creds` file) and TLS pass straight through to the
 * official client, and a refused or unreachable server is a typed `StartupFailed`, never a hang.
 * The client itself is an optional peer dependency, imported here on first use (natsModules.ts).
 *
 * @example
 * const nc = await connectNats({ servers: "nats://10.0.0.5:4222", credsFile: "/etc/snakepit/agent.creds" }, "agent a1")
 */
import { readSecretFile } from "./secretFile.js"
import type { NatsConnection, NodeConnectionOptions } from "@nats-io/transport-node"
import { StartupFailed } from "../errors.js"
import { loadNats, type NatsModules } from "./natsModules.js"
import type { NatsOptions } from "./natsOptions.js"
import { shownServers } from "./natsUrls.js"

/**
 * The options as the NATS client takes them (reads a `.creds` file; throws if it cannot).
 *
 * @example
 * natsClientOptions(await import("@nats-io/transport-node"), { servers: "nats://h:4222", token: "t" }, "agent a1").token // "t"
 */
export function natsClientOptions(transport: NatsModules["transport"], o: NatsOptions, name: string, inboxPrefix?: string): NodeConnectionOptions {
  const authenticator = o.credsFile
    ? transport.credsAuthenticator(new TextEncoder().encode(readSecretFile(o.credsFile)))
    : o.nkeySeed
      ? transport.nkeyAuthenticator(new TextEncoder().encode(o.nkeySeed))
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
 * Connects, or rejects with `StartupFailed` saying why (the NATS client not installed,
 * credentials refused, no server). `feature` names what needs NATS in the not-installed message.
 *
 * @example
 * const nc = await connectNats({ servers: "127.0.0.1:4222", token: "s3cret" }, "client", "snakepit.ml.client.c1.inbox")
 */
export async function connectNats(o: NatsOptions, name: string, inboxPrefix?: string, feature?: string): Promise<NatsConnection> {
  const { transport } = await loadNats(name, feature)
  let options: NodeConnectionOptions
  try {
    options = natsClientOptions(transport, o, name, inboxPrefix)
  } catch (e) {
    throw new StartupFailed({ message: `cannot read the NATS credentials: ${(e as Error).message}`, workerId: name, exitCode: null, signal: null, stderr: "" })
  }
  try {
    return await transport.connect(options)
  } catch (e) {
    const error = e as Error
    const refused = error.name === "AuthorizationError" || /authoriz|authentic/i.test(error.message)
    throw new StartupFailed({
      message: refused
        ? `NATS at ${shownServers(o.servers)} refused the credentials (${error.message})`
        : `cannot connect to NATS at ${shownServers(o.servers)}: ${error.message}`,
      workerId: name,
      exitCode: null,
      signal: null,
      stderr: "",
    })
  }
}
