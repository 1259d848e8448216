/**
 * The NATS client, loaded on first use. `@nats-io/transport-node` and `@nats-io/kv` are optional
 * peer dependencies: only a remote pool (`PythonBridge.start({ remote })`) and an agent
 * (`RemoteAgent.start`, `snakepit agent`) need them, so a local-only install does not download
 * them (nor their engine requirement, Node ≥ 22). Nothing else in snakepit imports them at run
 * time (`import type` only), so `import "snakepit"` works without them.
 *
 * @example
 * const { transport, kv } = await loadNats("snakepit client c1 (pool ml)")
 * const nc = await transport.connect({ servers: "nats://127.0.0.1:4222" })
 * const bucket = await new kv.Kvm(nc).open("snakepit-ml")
 */
import { StartupFailed } from "../errors.js"

/**
 * The optional peer dependencies the remote pool and the agent load.
 *
 * @example
 * NATS_PACKAGES.join(" ") // "@nats-io/transport-node @nats-io/kv"
 */
export const NATS_PACKAGES = ["@nats-io/transport-node", "@nats-io/kv"] as const

/**
 * The command that installs them (the range of the peer dependencies, which our tests use).
 *
 * @example
 * NATS_INSTALL_COMMAND // "npm install @nats-io/transport-node@^3.4.0 @nats-io/kv@^3.4.0"
 */
export const NATS_INSTALL_COMMAND = `npm install ${NATS_PACKAGES.map((p) => `${p}@^3.4.0`).join(" ")}`

/**
 * The two NATS client modules, as their own types describe them.
 *
 * @example
 * const connect: NatsModules["transport"]["connect"] = (await loadNats("client")).transport.connect
 */
export interface NatsModules {
  readonly transport: typeof import("@nats-io/transport-node")
  readonly kv: typeof import("@nats-io/kv")
}

/**
 * Whether an import failed because a module cannot be found (the package or one of its own
 * dependencies), as opposed to failing while it loaded.
 *
 * @example
 * isMissingModule(await import("@nats-io/kv").catch((e: unknown) => e)) // true when not installed
 */
export const isMissingModule = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND"
}

/**
 * The message a user sees when the NATS client is not installed: which feature needs it, the
 * exact packages, the command, and why they are not installed by default.
 *
 * @example
 * missingNatsMessage("a remote pool", "Cannot find package '@nats-io/kv'")
 */
export const missingNatsMessage = (feature: string, cause: string): string =>
  `${feature} needs the NATS client packages ${NATS_PACKAGES.join(" and ")}, which are optional peer dependencies of snakepit ` +
  `and not installed (${cause}). Install them with: ${NATS_INSTALL_COMMAND} (they require Node >= 22).`

/** The one loading in flight or done; a failed load is forgotten so that a later install is seen. */
let loading: Promise<NatsModules> | undefined

/**
 * Imports the NATS client once; rejects with `StartupFailed` naming the packages to install when
 * they are missing (any other import failure is rethrown as it is). `who` names the client or
 * agent for the error's `workerId`, as `connectNats` does.
 *
 * @example
 * const { transport } = await loadNats("snakepit agent a1 (pool ml)")
 */
export function loadNats(who: string, feature = "a remote pool or agent"): Promise<NatsModules> {
  loading ??= Promise.all([import("@nats-io/transport-node"), import("@nats-io/kv")]).then(([transport, kv]) => ({ transport, kv }))
  return loading.catch((e: unknown) => {
    loading = undefined
    if (!isMissingModule(e)) throw e
    throw new StartupFailed({
      message: missingNatsMessage(feature, e instanceof Error ? e.message.split("\n")[0]! : String(e)),
      workerId: who,
      exitCode: null,
      signal: null,
      stderr: "",
    })
  })
}
