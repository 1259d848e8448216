/**
 * `snakepit agent`: serve a local supervised pool to a remote pool over NATS until SIGTERM or
 * SIGINT, then drain (calls in flight finish, the agent's record is removed) and exit 0.
 *
 * @example
 * await runAgent({ nats: "nats://10.0.0.5:4222", pool: "ml", signal, logger, bridge: { minWorkers: 4 } })
 */
import { once } from "node:events"
import type { Logger } from "pino"
import type { LocalBridgeOptions } from "../bridge/options.js"
import type { NatsOptions } from "../remote/natsOptions.js"
import { RemoteAgent, type AgentOptions } from "../remote/RemoteAgent.js"
import { printable } from "../terminalText.js"

/** What `snakepit agent` was asked for. */
export interface AgentCommand extends Omit<NatsOptions, "servers"> {
  readonly nats: string
  readonly pool: string
  readonly prefix?: string
  readonly agentId?: string
  readonly heartbeatMs?: number
  readonly ttlMs?: number
  /** `--max-sessions-per-scope`: see {@link AgentOptions.maxSessionsPerScope}. */
  readonly maxSessionsPerScope?: number
  /** `--max-calls-per-scope`: see {@link AgentOptions.maxCallsPerScope}. */
  readonly maxCallsPerScope?: number
  /** `--scope-tokens`: see {@link AgentOptions.scopeTokens}. */
  readonly scopeTokens?: number
  readonly bridge: LocalBridgeOptions
  /** Serve any module function a caller names (`--allow-any-module`). */
  readonly allowAnyModule?: boolean
  /** Aborted by SIGTERM/SIGINT: drain and return. */
  readonly signal: AbortSignal
  readonly logger: Logger
}

/** Runs an agent until `signal` aborts, then drains it. */
export async function runAgent(command: AgentCommand): Promise<void> {
  const { nats, signal, logger, bridge, ...rest } = command
  const agent = await RemoteAgent.start({ ...rest, servers: nats, bridge: { ...bridge, logger } })
  // Tests and process managers read this line to know the agent serves.
  process.stdout.write(printable(`snakepit agent ${agent.id} serving pool ${command.pool} on ${nats}\n`))
  if (!signal.aborted) await once(signal, "abort")
  logger.info({ agentId: agent.id }, "draining")
  await agent.drain()
}
