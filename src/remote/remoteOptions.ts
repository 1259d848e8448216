/**
 * The `remote` option of `PythonBridge.start`: run calls on agents serving a pool over NATS
 * instead of on local Python processes (see `docs/distributed.md`).
 *
 * @example
 * await PythonBridge.start({ remote: { nats: "nats://10.0.0.5:4222", pool: "ml", credsFile: "client.creds" } })
 */
import type { NatsOptions } from "./natsOptions.js"
import { serverCredentialsIssue } from "./natsUrls.js"
import { isSubjectToken } from "./subjects.js"
import { unknownKeys } from "../didYouMean.js"

/** Where the remote pool is and how to authenticate (NATS options other than `servers`). */
export interface RemoteOptions extends Omit<NatsOptions, "servers"> {
  /** The NATS server URL(s), without credentials in them (refused: give `user`/`pass`, `token`, …). */
  readonly nats: string | readonly string[]
  /** The pool's name, as its agents were started with (`snakepit agent --pool`). */
  readonly pool: string
  /** Subject prefix, the same as the agents' (default `"snakepit"`). */
  readonly prefix?: string
  /**
   * Where this client's own subjects live: with `clientScope: "app1"` its replies, tools subject
   * and inboxes are under `<prefix>.<pool>.client.app1.<random id>`, so a NATS permission
   * `subscribe: "<prefix>.<pool>.client.app1.>"` lets the user `app1` read only its own
   * (default: directly under `<prefix>.<pool>.client`). Dot-separated tokens.
   */
  readonly clientScope?: string
}

// Every key of RemoteOptions (a Record over them: a new option must be listed to compile).
const REMOTE_KEYS = Object.keys({
  nats: 1, pool: 1, prefix: 1, clientScope: 1, token: 1, user: 1, pass: 1, nkeySeed: 1, credsFile: 1, tls: 1, connectTimeoutMs: 1,
} satisfies Record<keyof RemoteOptions, 1>)

/** The longest `remote.connectTimeoutMs` (Node's timers take no more). */
const MAX_CONNECT_TIMEOUT_MS = 2 ** 31 - 1

/**
 * The problems with a `remote` option (empty when it is valid).
 *
 * @example
 * remoteOptionIssues({ nats: "nats://h:4222", pool: "a.b" }) // ['remote.pool must be a name of …']
 */
export function remoteOptionIssues(remote: unknown): string[] {
  if (typeof remote !== "object" || remote === null) return ["remote must be an object { nats, pool }"]
  const r = remote as Record<string, unknown>
  const issues: string[] = []
  issues.push(...unknownKeys(r, "remote.", REMOTE_KEYS, "a remote option"))
  const servers = Array.isArray(r.nats) ? r.nats : [r.nats]
  if (servers.length === 0 || !servers.every((s) => typeof s === "string" && s.length > 0)) issues.push("remote.nats must be a NATS URL or a non-empty array of them")
  const inUrl = serverCredentialsIssue("remote.nats", r.nats)
  if (inUrl !== undefined) issues.push(inUrl)
  if (typeof r.pool !== "string" || !isSubjectToken(r.pool)) issues.push(`remote.pool must be a name of letters, digits, "-" or "_", got ${JSON.stringify(r.pool)}`)
  if (r.prefix !== undefined && (typeof r.prefix !== "string" || !r.prefix.split(".").every(isSubjectToken)))
    issues.push(`remote.prefix must be dot-separated tokens of letters, digits, "-" or "_", got ${JSON.stringify(r.prefix)}`)
  if (r.clientScope !== undefined && (typeof r.clientScope !== "string" || !r.clientScope.split(".").every(isSubjectToken)))
    issues.push(`remote.clientScope must be dot-separated tokens of letters, digits, "-" or "_", got ${JSON.stringify(r.clientScope)}`)
  for (const key of ["token", "user", "pass", "nkeySeed", "credsFile"]) {
    if (r[key] !== undefined && typeof r[key] !== "string") issues.push(`remote.${key} must be a string`)
  }
  // 0 or NaN waited the NATS client's own 20 s, a negative one failed at once, one past 2^31 − 1
  // overflowed Node's timer.
  const t = r.connectTimeoutMs
  if (t !== undefined && !(typeof t === "number" && Number.isInteger(t) && t >= 1 && t <= MAX_CONNECT_TIMEOUT_MS)) {
    issues.push(`remote.connectTimeoutMs must be a whole number of milliseconds from 1 to ${MAX_CONNECT_TIMEOUT_MS}, got ${typeof t === "number" ? String(t) : JSON.stringify(t)}`)
  }
  return issues
}

/**
 * The NATS options inside a `remote` option.
 *
 * @example
 * natsOptionsOf({ nats: "nats://h:4222", pool: "ml", token: "t" }) // { servers: "nats://h:4222", token: "t" }
 */
export const natsOptionsOf = (r: RemoteOptions): NatsOptions => {
  const { nats, pool: _pool, prefix: _prefix, clientScope: _scope, ...auth } = r
  return { servers: nats, ...auth }
}
