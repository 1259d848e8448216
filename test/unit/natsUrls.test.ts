/**
 * Credentials in a NATS server URL are refused when options are checked, and never printed: the
 * NATS client does not use them, so such a client or agent failed to authenticate and showed the
 * password in its error (`src/remote/natsUrls.ts`).
 */
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { InvalidOptions } from "../../src/errors.js"
import { RemoteAgent } from "../../src/remote/RemoteAgent.js"
import { serverCredentialsIssue, shownServers, urlHasCredentials } from "../../src/remote/natsUrls.js"

describe("credentials in NATS server URLs", () => {
  it.each([
    ["nats://alice:hunter2@nats:4222", true], ["nats://token@nats", true], ["alice:pw@nats:4222", true], ["tls://u:p@[::1]:4222", true],
    [" nats://u:p@b:4222", true], ["nats://nats:4222", false], ["nats://[::1]:4222", false], ["nats:4222", false],
    ["nats://host:4222/x@y", false], ["nats://host:4222?u=a@b", false], ["nats://@host", false], ["", false],
  ] as [string, boolean][])("urlHasCredentials(%j) is %s", (server, expected) => {
    expect(urlHasCredentials(server)).toBe(expected)
  })

  it("a URL is shown with its credentials masked, and only then", () => {
    expect(shownServers(["nats://a:4222", "nats://bob:pw@b:4222", "alice:s3cret@c:4222"])).toBe("nats://a:4222,nats://***@b:4222,***@c:4222")
    expect(shownServers("nats://host:4222/x@y")).toBe("nats://host:4222/x@y")
    // An unescaped "@" in a password: the user info runs to the authority's last "@".
    expect(shownServers("nats://alice:p@ss@h:4222")).toBe("nats://***@h:4222")
    expect(urlHasCredentials("nats://alice:p@ss@h:4222")).toBe(true)
    expect(serverCredentialsIssue("remote.nats", ["nats://a:4222"])).toBeUndefined()
    expect(serverCredentialsIssue("remote.nats", "nats://bob:pw@b:4222")).not.toContain("pw")
  })

  it("a client given such a URL fails with InvalidOptions naming the option, not the password, and connects to nothing", async () => {
    const started = PythonBridge.start({ remote: { nats: ["nats://127.0.0.1:1", "nats://alice:hunter2@127.0.0.1:2"], pool: "p" } })
    const error = await started.then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidOptions)
    expect((error as InvalidOptions).message).toContain("remote.nats has credentials in a URL (nats://127.0.0.1:1,nats://***@127.0.0.1:2)")
    expect(JSON.stringify(error) + String((error as Error).stack)).not.toContain("hunter2")
  })

  it("so does an agent", async () => {
    const error = await RemoteAgent.start({ servers: "nats://alice:hunter2@127.0.0.1:1", pool: "p", allowAnyModule: true }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidOptions)
    expect((error as InvalidOptions).message).toContain("servers has credentials in a URL (nats://***@127.0.0.1:1)")
    expect(JSON.stringify(error) + String((error as Error).stack)).not.toContain("hunter2")
  })
})
