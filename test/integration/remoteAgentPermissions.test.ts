/**
 * An agent whose NATS user may subscribe to the pool's subjects of this version but not to the
 * bare subjects of older ones (which it hears only to tell older clients why their calls are
 * refused) serves all the same, and says what it could not subscribe to. Before, any refused
 * subscription was fatal, so an operator who wrote the agent's permissions from the subjects this
 * version uses could not start it. Real nats-server with docs/nats/permissions.conf, minus the
 * bare call subject for the agent (and without TLS), a real `snakepit agent`, a real client.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { NatsServer, natsServerAvailable } from "../support/natsServer.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const PASSWORDS = { SNAKEPIT_AGENT_PASSWORD: "agent-secret", SNAKEPIT_AGENT_A1_PASSWORD: "a1-secret", SNAKEPIT_AGENT_A2_PASSWORD: "a2-secret", SNAKEPIT_APP1_PASSWORD: "app1-secret", SNAKEPIT_APP2_PASSWORD: "app2-secret" }

/** The documented permissions without TLS and without the agent's bare `snakepit.ml.call`. */
const configFile = (): string => {
  const documented = readFileSync(join(root, "docs", "nats", "permissions.conf"), "utf8")
  const withoutTls = documented.replace(/^tls \{[^}]*\}\n/m, "")
  const withoutBareCall = withoutTls.replace('"snakepit.ml.call.>", "snakepit.ml.call", ', '"snakepit.ml.call.>", ')
  expect(withoutTls).not.toBe(documented)
  expect(withoutBareCall).not.toBe(withoutTls)
  const file = join(mkdtempSync(join(tmpdir(), "snakepit-perms-")), "nats.conf")
  writeFileSync(file, withoutBareCall)
  return file
}

const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("an agent user without the older versions' subjects", () => {
  suite.hooks(() => NatsServer.start({}, { configFile: configFile(), env: PASSWORDS }))

  it("starts, serves an app user's calls, and warns that older clients' calls will time out instead of being refused", { timeout: 60_000 }, async () => {
    const agent = await startAgent({ url: suite.nats.url, pool: "ml", id: "p1", mark: suite.mark, args: ["--user", "agent", "--password-file", secretFile("agent-secret")] })
    suite.agents.push(agent)
    const app = await startBridge({ remote: { nats: suite.nats.url, pool: "ml", clientScope: "app1", user: "app1", pass: "app1-secret" }, logger: testLogger })
    await eventually(() => app.getStatus().workers.length === 1, 10_000, "the client to see the agent")
    expect(await app.executePython("s1", "remote", "where", [])).toMatchObject({ agent: "p1" })
    expect(agent.stderr()).toContain("NATS refused the subscription that answers clients of older snakepit versions")
  })
})

const secretFile = (secret: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), "snakepit-secret-")), "secret")
  writeFileSync(file, secret, { mode: 0o600 })
  return file
}
