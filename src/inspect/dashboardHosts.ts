/**
 * The dashboard's address rules, pure: which bind addresses are loopback, how a `Host` header
 * or an `allowedHosts` entry is read, and whether a request's `Host` names the dashboard.
 *
 * Loopback is decided by parsing the address (`node:net` `isIP` and `BlockList`), never by its prefix:
 * `127.0.0.0/8`, `::1` in any spelling, `::ffff:127.x.y.z` and the name `localhost` are
 * loopback; `127.attacker.invalid` is a DNS name like any other and is not.
 *
 * The Host rule is never off. A request is answered only when its `Host` header is
 * - a loopback name with the dashboard's port (`localhost:P`, `127.0.0.1:P`, `[::1]:P`), or the
 *   bound address itself with that port unless it is `0.0.0.0`/`::` (a DNS-rebinding page
 *   always sends the attacker's own DNS name, never one the operator bound to); or
 * - an `allowedHosts` entry: an entry with a port (`dash.example.com:8443`) matches exactly that
 *   name and port; an entry without one (`dash.example.com`) matches that name with any port or
 *   none, which is what a reverse proxy on 443 or 80 forwards. Names compare case-insensitively.
 *
 * @example
 * isLoopbackHost("127.0.0.5")            // true
 * isLoopbackHost("127.attacker.invalid") // false
 * const rule = hostRule({ bindHost: "0.0.0.0", port: 7070, allowedHosts: ["dash.example.com"] })
 * hostAllowed(rule, "dash.example.com:443")     // true
 * hostAllowed(rule, "rebind.attacker.example")  // false
 */
import { BlockList, isIP } from "node:net"

/** A host name or IP literal with an optional port, as in a `Host` header. */
export interface HostPort {
  /** Lower-cased name, or the IP literal without brackets. */
  readonly name: string
  readonly port: number | undefined
}

/** What `hostAllowed` checks a `Host` header against. */
export interface HostRule {
  /** Exact `name:port` values (names lower-cased, IPv6 in brackets). */
  readonly exact: ReadonlySet<string>
  /** Names accepted with any port or none. */
  readonly anyPort: ReadonlySet<string>
}

const unbracket = (host: string) => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host)

/** Loopback addresses; IPv4-mapped IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`) match the IPv4 rule. */
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4")
LOOPBACK.addAddress("::1", "ipv6")

/** The "any interface" addresses, which a Host header cannot name. */
const UNSPECIFIED = new BlockList()
UNSPECIFIED.addAddress("0.0.0.0", "ipv4")
UNSPECIFIED.addAddress("::", "ipv6")

/** Checks an IP literal (brackets and zone already removed) against `list`; false for a name. */
const inList = (list: BlockList, address: string) => {
  const kind = isIP(address)
  return kind !== 0 && list.check(address, kind === 4 ? "ipv4" : "ipv6")
}

/**
 * True when `host` (a bind address or a Host header's name, brackets allowed) is loopback.
 *
 * @example
 * isLoopbackHost("::ffff:127.0.0.1") // true
 * isLoopbackHost("127.1.2.3.nip.io") // false
 */
export const isLoopbackHost = (host: string): boolean => {
  const h = unbracket(host.trim()).toLowerCase()
  if (h === "localhost" || h === "localhost.") return true
  return inList(LOOPBACK, h.split("%")[0]!)
}

/**
 * Reads `name[:port]` or `[v6][:port]` (a `Host` header or an `allowedHosts` entry); undefined
 * for anything else (a scheme, a path, a user, an empty name, a bad port, a bare IPv6).
 *
 * @example
 * parseHostPort("Dash.Example.com:8443") // { name: "dash.example.com", port: 8443 }
 * parseHostPort("[::1]")                 // { name: "::1", port: undefined }
 */
export const parseHostPort = (value: string): HostPort | undefined => {
  let name: string
  let portText: string | undefined
  if (value.startsWith("[")) {
    const close = value.indexOf("]")
    if (close < 0) return undefined
    name = value.slice(1, close)
    if (isIP(name) !== 6) return undefined
    const after = value.slice(close + 1)
    if (after !== "" && !after.startsWith(":")) return undefined
    portText = after === "" ? undefined : after.slice(1)
  } else {
    const colon = value.indexOf(":")
    if (colon >= 0 && value.indexOf(":", colon + 1) >= 0) return undefined // an unbracketed IPv6
    name = colon >= 0 ? value.slice(0, colon) : value
    portText = colon >= 0 ? value.slice(colon + 1) : undefined
    // A DNS name or an IPv4 literal: letters, digits, hyphens, dots, underscores.
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith(".") || name.includes("..")) return undefined
  }
  let port: number | undefined
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined
    port = Number(portText)
    if (port < 1 || port > 65_535) return undefined
  }
  return { name: name.toLowerCase(), port }
}

const hostKey = (name: string, port: number) => `${isIP(name) === 6 ? `[${name}]` : name}:${port}`

/**
 * Builds the Host rule for a dashboard bound to `bindHost:port` (see the module doc).
 * Every `allowedHosts` entry must pass `parseHostPort` (checked by `serveDashboard`).
 *
 * @example
 * const rule = hostRule({ bindHost: "127.0.0.1", port: 7070, allowedHosts: [] })
 */
export const hostRule = (input: { readonly bindHost: string; readonly port: number; readonly allowedHosts: readonly string[] }): HostRule => {
  const exact = new Set<string>()
  const anyPort = new Set<string>()
  for (const name of ["localhost", "127.0.0.1", "::1"]) exact.add(hostKey(name, input.port))
  const bound = unbracket(input.bindHost).toLowerCase()
  if (!inList(UNSPECIFIED, bound)) exact.add(hostKey(bound, input.port))
  for (const entry of input.allowedHosts) {
    const parsed = parseHostPort(entry)
    if (parsed === undefined) continue
    if (parsed.port === undefined) anyPort.add(parsed.name)
    else exact.add(hostKey(parsed.name, parsed.port))
  }
  return { exact, anyPort }
}

/**
 * True when a request's `Host` header names the dashboard under `rule`; a missing or
 * malformed header never does.
 *
 * @example
 * hostAllowed(rule, req.headers.host) // false → answer 421
 */
export const hostAllowed = (rule: HostRule, header: string | undefined): boolean => {
  if (header === undefined) return false
  const parsed = parseHostPort(header)
  if (parsed === undefined) return false
  if (rule.anyPort.has(parsed.name)) return true
  // No port in a Host header means HTTP's default, 80.
  return rule.exact.has(hostKey(parsed.name, parsed.port ?? 80))
}
