/**
 * Properties of the dashboard's address rules: loopback agrees with the address's meaning for
 * every IPv4 address and for names that merely start like one, and the Host rule never admits
 * a name that is neither a loopback name, the bound address, nor allowed.
 */
import { expect } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { hostAllowed, hostRule, isLoopbackHost } from "../../src/inspect/dashboardHosts.js"

const octet = fc.integer({ min: 0, max: 255 })
const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/)

test.prop([octet, octet, octet, octet])("an IPv4 address is loopback exactly when its first octet is 127, in all three spellings", (a, b, c, d) => {
  const v4 = `${a}.${b}.${c}.${d}`
  expect(isLoopbackHost(v4)).toBe(a === 127)
  expect(isLoopbackHost(`::ffff:${v4}`)).toBe(a === 127)
  const hex = (x: number, y: number) => ((x << 8) | y).toString(16)
  expect(isLoopbackHost(`[::ffff:${hex(a, b)}:${hex(c, d)}]`)).toBe(a === 127)
})

test.prop([octet, octet, fc.array(label, { minLength: 1, maxLength: 3 })])("a DNS name that starts like 127.x is never loopback", (b, c, labels) => {
  expect(isLoopbackHost(`127.${b}.${c}.${labels.join(".")}`)).toBe(false)
  expect(isLoopbackHost(`127.${labels.join(".")}`)).toBe(false)
})

test.prop([fc.array(label, { minLength: 2, maxLength: 3 }), fc.integer({ min: 1, max: 65_535 }), fc.array(fc.array(label, { minLength: 2, maxLength: 3 }), { maxLength: 3 })])(
  "a Host that is not allowed, loopback or bound is refused on every port and with none",
  (name, port, allowed) => {
    const host = name.join(".")
    const allowedHosts = allowed.map((l) => l.join("."))
    fc.pre(!allowedHosts.includes(host) && host !== "localhost")
    const rule = hostRule({ bindHost: "0.0.0.0", port, allowedHosts })
    expect(hostAllowed(rule, host)).toBe(false)
    expect(hostAllowed(rule, `${host}:${port}`)).toBe(false)
    for (const a of allowedHosts) expect(hostAllowed(rule, `${a}:${port}`)).toBe(true)
  },
)
