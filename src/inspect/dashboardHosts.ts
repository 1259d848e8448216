/**
 * The dashboard's address rules, pure: which bind addresses are loopback, how a `Host` header
 * or an `allowedHosts` entry is read, and whether a request's `Host` names the dashboard.
 *
 * Loopback is decided by parsing the address (`node:net` `isIP`), never by its prefix:
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
import { isIP } from "node:net"

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

/** The 16 bytes of an IPv6 literal (`isIP(s) === 6` already checked), or undefined. */
const ipv6Bytes = (address: string): number[] | undefined => {
  let text = address.split("%")[0]!.toLowerCase()
  const tail: number[] = []
  // A dotted IPv4 tail (`::ffff:127.0.0.1`) is the last 4 bytes.
  const lastColon = text.lastIndexOf(":")
  const last = text.slice(lastColon + 1)
  if (last.includes(".")) {
    tail.push(...last.split(".").map(Number))
    text = `${text.slice(0, lastColon + 1)}0:0`
  }
  const [head, rest] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined]
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)))
  const front = groups(head)
  const back = rest === undefined ? [] : groups(rest)
  const all = rest === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back]
  if (all.length !== 8 || all.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff])
  if (tail.length === 4) bytes.splice(12, 4, ...tail)
  return bytes
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
  const kind = isIP(h)
  if (kind === 4) return h.split(".")[0] === "127"
  if (kind !== 6) return false
  const b = ipv6Bytes(h)
  if (b === undefined) return false
  const zeros = (n: number) => b.slice(0, n).every((x) => x === 0)
  if (zeros(15) && b[15] === 1) return true // ::1
  return zeros(10) && b[10] === 0xff && b[11] === 0xff && b[12] === 127 // ::ffff:127.x.y.z
}

/** True for the "any interface" addresses, which a Host header cannot name. */
const isUnspecified = (host: string) => {
  const h = unbracket(host)
  if (isIP(h) === 4) return h === "0.0.0.0"
  const b = isIP(h) === 6 ? ipv6Bytes(h) : undefined
  return b !== undefined && b.every((x) => x === 0)
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
  if (!isUnspecified(bound)) exact.add(hostKey(bound, input.port))
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
