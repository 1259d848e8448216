/**
 * Agents deny by default (issue 18, item 3): `snakepit agent` without an allowlist refuses every
 * call a NATS peer sends, code-like names (`builtins.exec`) and plain ones (`math.sqrt`) alike;
 * `--allow-modules`/`--expose` serve exactly what they admit; `--allow-any-module` is the
 * explicit opt-out. Real `nats-server`, real `snakepit agent` processes, a remote client.
 */
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ModuleNotAllowed } from "../../src/errors.js"
import { RemoteAgent } from "../../src/remote/RemoteAgent.js"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"
import { outcome } from "../support/worker.js"

const suite = new AgentSuite()
const { mark, agents } = suite
const FLIP = "import appmod; appmod.FLAG = True"

/** An agent started with `access` flags, and a client (no allowlist of its own) that sees it. */
const agentAndClient = async (pool: string, access: string[]) => {
  agents.push(await startAgent({ url: suite.nats.url, pool, id: `${pool}1`, mark, access }))
  const bridge = await startBridge({ remote: { nats: suite.nats.url, pool }, logger: testLogger })
  await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
  return bridge
}

const refusal = async (p: Promise<unknown>) => {
  const r = await outcome(p)
  return r.ok ? r.value : r.error
}

describe.skipIf(!natsServerAvailable)("agents deny by default", () => {
  suite.hooks()

  it("an agent started without --allow-modules, --expose or --allow-any-module refuses builtins.exec and math.sqrt with ModuleNotAllowed", async () => {
    const bridge = await agentAndClient("closed", [])
    expect(await refusal(bridge.executePython("s", "builtins", "exec", [FLIP]))).toBeInstanceOf(ModuleNotAllowed)
    expect(await refusal(bridge.executePython(null, "math", "sqrt", [16]))).toBeInstanceOf(ModuleNotAllowed)
    const streamed = (async () => {
      for await (const _ of bridge.stream("s", "appmod", "count", [2])) void _
    })()
    expect(await refusal(streamed)).toBeInstanceOf(ModuleNotAllowed)
  })

  it("--allow-modules math serves math.sqrt and refuses math.__loader__ walks and builtins.exec", async () => {
    const bridge = await agentAndClient("mathonly", ["--allow-modules", "math"])
    expect(await bridge.executePython("s", "math", "sqrt", [16])).toBe(4)
    expect(await refusal(bridge.executePython("s", "math", "__loader__.exec_module", []))).toBeInstanceOf(ModuleNotAllowed)
    expect(await refusal(bridge.executePython("s", "builtins", "exec", [FLIP]))).toBeInstanceOf(ModuleNotAllowed)
    expect(await refusal(bridge.executePython("s", "os", "system", ["true"]))).toBeInstanceOf(ModuleNotAllowed)
  })

  it("--expose serves exactly its names, and the agent's workers refuse a walk out of the module themselves", async () => {
    const bridge = await agentAndClient("exposed", ["--expose", "appmod.predict,appmod.flag", "--expose", "json.*"])
    expect(await bridge.executePython("s", "appmod", "predict", [21])).toBe(42)
    expect(await bridge.executePython("s", "json", "dumps", [[1]])).toBe("[1]")
    expect(await refusal(bridge.executePython("s", "appmod", "pid", []))).toBeInstanceOf(ModuleNotAllowed)
    // The agent's host admits the name (json.*); Python sees `codecs` is a module and refuses.
    expect(await refusal(bridge.executePython("s", "json", "codecs.builtins.exec", [FLIP]))).toBeInstanceOf(ModuleNotAllowed)
    expect(await bridge.executePython("s", "appmod", "flag")).toBe(false)
  })

  it("--allow-modules appmod: a NATS client cannot run another module's constructor through a class defined in appmod (Popen.__init__ behind appmod.Runner)", async () => {
    const bridge = await agentAndClient("ctor", ["--allow-modules", "appmod"])
    const marker = join(mkdtempSync(join(tmpdir(), "snakepit-ctor-")), "ran")
    expect(await refusal(bridge.executePython("s", "appmod", "Runner", [["touch", marker]]))).toBeInstanceOf(ModuleNotAllowed)
    expect(await refusal(bridge.executePython("s", "appmod", "Borrowed", [["touch", marker]]))).toBeInstanceOf(ModuleNotAllowed)
    expect(existsSync(marker)).toBe(false)
    expect(await bridge.executePython("s", "appmod", "Pair", [1, 2])).toEqual([1, 2])
  })

  it("--allow-code without an allowlist: function calls are refused, code runs, and the agent warns of both at start", async () => {
    const agent = await startAgent({ url: suite.nats.url, pool: "codeonly", id: "codeonly1", mark, access: ["--allow-code"] })
    agents.push(agent)
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "codeonly" }, logger: testLogger, allowCodeExecution: true })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    expect(await refusal(bridge.executePython("s", "math", "sqrt", [16]))).toBeInstanceOf(ModuleNotAllowed)
    // Code is not a function name: the operator allowed it, and it runs whatever the allowlist.
    expect(await bridge.executeCode("s", "y = x * 2", { x: 21 })).toEqual({ y: 42 })
    expect(agent.stderr()).toContain("every function call is refused")
    expect(agent.stderr()).toContain("any client that may publish to this pool's subjects runs any Python code here")
  })

  it("--allow-any-module is the explicit opt-out: builtins.exec runs", async () => {
    const bridge = await agentAndClient("open", ["--allow-any-module"])
    await bridge.executePython("s", "builtins", "exec", [FLIP])
    expect(await bridge.executePython("s", "appmod", "flag")).toBe(true)
  })

  it("a remote client's own allowedModules are checked before a call is sent, even to an agent that allows any module", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "client", id: "client1", mark, access: ["--allow-any-module"] }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "client" }, logger: testLogger, allowedModules: ["appmod"] })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    expect(await refusal(bridge.executePython("s", "builtins", "exec", [FLIP]))).toBeInstanceOf(ModuleNotAllowed)
    expect(await refusal(bridge.executePython("s", "appmod", "predict.__globals__.__setitem__", ["FLAG", true]))).toBeInstanceOf(ModuleNotAllowed)
    expect(await bridge.executePython("s", "appmod", "flag")).toBe(false)
  })

  it("allowAnyModule together with an allowlist is InvalidOptions, before anything starts", async () => {
    const r = await outcome(RemoteAgent.start({ servers: suite.nats.url, pool: "p", allowAnyModule: true, bridge: { allowedModules: ["math"], logger: testLogger } }))
    if (r.ok) await r.value.stop() // (only if the check is broken: leave nothing running)
    expect(r.ok ? undefined : (r.error as { _tag: string })._tag).toBe("InvalidOptions")
  })
})
