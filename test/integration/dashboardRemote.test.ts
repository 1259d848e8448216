/**
 * The dashboard's remote mode on a real server over real Python workers, attacked with raw HTTP
 * requests (node:http sends any Host header, as a DNS-rebinding page effectively does):
 * `allowRemote` needs a token and `allowedHosts`, the Host check stays on, a control request
 * without the token is refused, and a name that merely starts with "127." is not loopback.
 */
import { request } from "node:http"
import { describe, expect, it } from "vitest"
import { record, startBridge } from "../support/bridge.js"

/** One raw request to the dashboard's address with the given Host header (and headers, body). */
const raw = (url: string, init: { host: string; method?: string; path?: string; headers?: Record<string, string>; body?: string }) =>
  new Promise<number>((resolve, reject) => {
    const u = new URL(url)
    const req = request({ hostname: "127.0.0.1", port: u.port, path: init.path ?? "/", method: init.method ?? "GET", headers: { ...init.headers, host: init.host } }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on("error", reject)
    req.end(init.body)
  })

const TOKEN = "0123456789abcdef"
const json = { "content-type": "application/json" }

describe("dashboard remote mode", () => {
  it("refuses allowRemote without a token or without allowedHosts at start, saying what to add", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    await expect(bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, allowedHosts: ["dash.example.com"] })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      message: expect.stringContaining("allowRemote needs a token"),
    })
    await expect(bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, token: TOKEN })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      message: expect.stringContaining("allowRemote needs allowedHosts"),
    })
    await expect(bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, token: TOKEN, allowedHosts: [] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, token: TOKEN, allowedHosts: ["*"] })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      message: expect.stringContaining('allowedHosts entry "*"'),
    })
  })

  it("refuses a misspelled option: controls with a mistyped token are not served without one", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    await expect(bridge.serveDashboard({ controls: true, tokn: TOKEN } as never)).rejects.toMatchObject({
      _tag: "InvalidOptions",
      issues: ["tokn is not a dashboard option (did you mean token?)"],
    })
    // Also as the bridge's `dashboard` option, which serveDashboard's options extend.
    const configured = await startBridge({ minWorkers: 1, dashboard: { allowRemot: true } as never })
    await expect(configured.serveDashboard({ port: 0 })).rejects.toMatchObject({ _tag: "InvalidOptions", issues: ["allowRemot is not a dashboard option (did you mean allowRemote?)"] })
  })

  it("refuses a DNS-rebinding Host (421) in remote mode and answers an allowed one", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const d = await bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, token: TOKEN, allowedHosts: ["dash.example.com"] })
    const auth = { authorization: `Bearer ${TOKEN}` }
    expect(await raw(d.url, { host: "rebind.attacker.example", path: "/metrics", headers: auth })).toBe(421)
    expect(await raw(d.url, { host: `rebind.attacker.example:${new URL(d.url).port}`, path: "/metrics", headers: auth })).toBe(421)
    expect(await raw(d.url, { host: "dash.example.com", path: "/metrics", headers: auth })).toBe(200)
    expect(await raw(d.url, { host: "dash.example.com", path: "/metrics" })).toBe(401)
  })

  it("a control request without the token is refused and kills no worker, even with an allowed Host", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const d = await bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, token: TOKEN, allowedHosts: ["dash.example.com"], controls: true })
    const exited = record(bridge, "worker.exited")
    const kill = { method: "POST", path: "/api/workers/w1/kill", headers: json, body: "{}" }
    expect(await raw(d.url, { ...kill, host: "rebind.attacker.example" })).toBe(421)
    expect(await raw(d.url, { ...kill, host: "dash.example.com" })).toBe(401)
    expect(await raw(d.url, { method: "POST", path: "/api/restart", headers: json, body: "{}", host: "dash.example.com" })).toBe(401)
    expect(await bridge.executePython("s", "echo", "add", [1, 2])).toBe(3)
    expect(exited).toEqual([])
  })

  it('"127.attacker.invalid" is not loopback: binding it without allowRemote is refused', async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    await expect(bridge.serveDashboard({ host: "127.attacker.invalid" })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      message: expect.stringContaining('host "127.attacker.invalid" is not loopback'),
    })
  })

  it("in loopback mode the Host check holds too, and allowedHosts adds names", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const d = await bridge.serveDashboard({ allowedHosts: ["dash.internal"] })
    expect(await raw(d.url, { host: "rebind.attacker.example" })).toBe(421)
    expect(await raw(d.url, { host: `127.attacker.invalid:${new URL(d.url).port}` })).toBe(421)
    expect(await raw(d.url, { host: `localhost:${new URL(d.url).port}` })).toBe(200)
    expect(await raw(d.url, { host: "dash.internal" })).toBe(200)
  })
})
