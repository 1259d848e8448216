/**
 * The dashboard's address rules: loopback is parsed, not matched by prefix; the Host rule
 * admits the loopback names and bound address with the dashboard's port plus `allowedHosts`,
 * and nothing else.
 */
import { describe, expect, it } from "vitest"
import { hostAllowed, hostRule, isLoopbackHost, parseHostPort } from "../../src/inspect/dashboardHosts.js"

describe("isLoopbackHost", () => {
  it.each(["127.0.0.1", "127.0.0.5", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1", "localhost", "LOCALHOST"])("%s is loopback", (h) => {
    expect(isLoopbackHost(h)).toBe(true)
  })

  it.each(["127.attacker.invalid", "127.0.0.1.nip.io", "127.example", "0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "::2", "::ffff:10.0.0.1", "localhost.attacker.example", "", "dash.example.com"])(
    "%s is not loopback (regression: `127.attacker.invalid` passed a startsWith(\"127.\") test)",
    (h) => {
      expect(isLoopbackHost(h)).toBe(false)
    },
  )
})

describe("parseHostPort", () => {
  it("reads names, IPv4 and bracketed IPv6 with or without a port", () => {
    expect(parseHostPort("Dash.Example.com:8443")).toEqual({ name: "dash.example.com", port: 8443 })
    expect(parseHostPort("dash.example.com")).toEqual({ name: "dash.example.com", port: undefined })
    expect(parseHostPort("10.0.0.5:7070")).toEqual({ name: "10.0.0.5", port: 7070 })
    expect(parseHostPort("[::1]:7070")).toEqual({ name: "::1", port: 7070 })
    expect(parseHostPort("[::1]")).toEqual({ name: "::1", port: undefined })
  })

  it.each(["", "*", "*.example.com", "http://dash.example.com", "dash.example.com/x", "user@dash.example.com", "::1", "[::1", "[nothost]:80", "h:", "h:0", "h:65536", "h:12a", "h:1:2", "a..b", ".a", "h h"])(
    "refuses %j",
    (v) => {
      expect(parseHostPort(v)).toBeUndefined()
    },
  )
})

describe("hostAllowed", () => {
  const remote = hostRule({ bindHost: "0.0.0.0", port: 7070, allowedHosts: ["dash.example.com", "10.0.0.5:7070", "[fd00::5]:7070"] })

  it("refuses a DNS-rebinding Host in remote mode (regression: allowRemote skipped the check)", () => {
    expect(hostAllowed(remote, "rebind.attacker.example")).toBe(false)
    expect(hostAllowed(remote, "rebind.attacker.example:7070")).toBe(false)
  })

  it("admits an allowed name with any port, an allowed name:port exactly, and the loopback names on the bound port", () => {
    expect(hostAllowed(remote, "dash.example.com")).toBe(true)
    expect(hostAllowed(remote, "DASH.example.com:443")).toBe(true)
    expect(hostAllowed(remote, "10.0.0.5:7070")).toBe(true)
    expect(hostAllowed(remote, "10.0.0.5:7071")).toBe(false)
    expect(hostAllowed(remote, "10.0.0.5")).toBe(false)
    expect(hostAllowed(remote, "[fd00::5]:7070")).toBe(true)
    expect(hostAllowed(remote, "localhost:7070")).toBe(true)
    expect(hostAllowed(remote, "127.0.0.1:7070")).toBe(true)
    expect(hostAllowed(remote, "[::1]:7070")).toBe(true)
    expect(hostAllowed(remote, "localhost:7071")).toBe(false)
  })

  it("never admits 0.0.0.0, a missing or a malformed Host", () => {
    expect(hostAllowed(remote, "0.0.0.0:7070")).toBe(false)
    expect(hostAllowed(remote, undefined)).toBe(false)
    expect(hostAllowed(remote, "")).toBe(false)
    expect(hostAllowed(remote, "dash.example.com:7070, evil")).toBe(false)
  })

  it("in loopback mode admits only its own names on its port", () => {
    const local = hostRule({ bindHost: "127.0.0.1", port: 5000, allowedHosts: [] })
    expect(hostAllowed(local, "127.0.0.1:5000")).toBe(true)
    expect(hostAllowed(local, "attacker.example:5000")).toBe(false)
    expect(hostAllowed(local, "127.attacker.invalid:5000")).toBe(false)
    // No port means HTTP's 80.
    expect(hostAllowed(hostRule({ bindHost: "127.0.0.1", port: 80, allowedHosts: [] }), "localhost")).toBe(true)
    expect(hostAllowed(local, "localhost")).toBe(false)
  })
})
