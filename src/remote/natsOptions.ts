/**
 * How to reach and authenticate with NATS, in a file of its own: the public types (`NatsOptions`,
 * `RemoteOptions`, `AgentOptions`) must not name the NATS client's types, so that a project
 * type-checks against snakepit without the optional `@nats-io` packages installed.
 *
 * @example
 * const nats: NatsOptions = { servers: "nats://10.0.0.5:4222", credsFile: "/etc/snakepit/agent.creds" }
 */

/** How to reach and authenticate with NATS. */
export interface NatsOptions {
  /**
   * `nats://host:port`, or several for a cluster. Without credentials (`nats://user:pass@host`
   * is refused: the NATS client does not use them); give them as `user`/`pass`, `token`, … .
   */
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
