/**
 * Credentials in a NATS server URL (`nats://alice:hunter2@host`, `nats://s3cret@host`): the NATS
 * client does not use them, so a client or agent given one failed to authenticate, and printed
 * the URL, password and all, in its `StartupFailed`. Such URLs are refused when options are
 * checked (credentials go in `user`/`pass`, `token`, `nkeySeed` or `credsFile`), and a URL is
 * shown only with its credentials masked.
 *
 * @example
 * urlHasCredentials("nats://alice:hunter2@nats:4222") // true
 * shownServers(["nats://alice:hunter2@nats:4222"])    // "nats://***@nats:4222"
 */

// A scheme, then a user-info part: up to the last "@" before the first "/", "?" or "#" (a URL's
// authority ends its user info at its last "@", so an unescaped "@" in a password is masked too).
// The leading blanks are taken whole (`(?=(\s*))\2`, an atomic group): given back one at a time,
// each retried the scan to the end, and 20 000 blanks took a quarter of a second.
const WITH_USER_INFO = /^((?=(\s*))\2(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)[^/?#]+@/

/**
 * True when one server URL names a user, password or token before its host: `nats://alice:pw@h`,
 * `nats://token@h`, `alice:pw@h:4222`. Not an empty one (`nats://@h`), nor an "@" in a path or
 * query.
 *
 * @example
 * urlHasCredentials("tls://u:p@[::1]:4222") // true
 * urlHasCredentials("nats://host:4222/x@y") // false
 */
export const urlHasCredentials = (server: string): boolean => WITH_USER_INFO.test(server)

/**
 * One server or a list, for a message or a log: each URL's credentials replaced by `***`.
 *
 * @example
 * shownServers(["nats://a:4222", "nats://bob:pw@b:4222"]) // "nats://a:4222,nats://***@b:4222"
 */
export const shownServers = (servers: string | readonly string[]): string =>
  (typeof servers === "string" ? [servers] : servers).map((s) => String(s).replace(WITH_USER_INFO, "$1***@")).join(",")

/**
 * The issue with a server list that carries credentials in a URL (never the credentials), or
 * undefined. `name` is the option as the caller wrote it.
 *
 * @example
 * serverCredentialsIssue("remote.nats", "nats://bob:pw@b:4222")
 * // "remote.nats has credentials in a URL (nats://***@b:4222), which the NATS client does not use: …"
 */
export const serverCredentialsIssue = (name: string, servers: unknown): string | undefined => {
  const list = typeof servers === "string" ? [servers] : Array.isArray(servers) ? servers : []
  const strings = list.filter((s): s is string => typeof s === "string")
  if (!strings.some(urlHasCredentials)) return undefined
  return `${name} has credentials in a URL (${shownServers(strings)}), which the NATS client does not use: give them as user and pass, token, nkeySeed or credsFile`
}
