/**
 * The environment a worker inherits from its host: the host's own, less the secrets snakepit's
 * commands read from it. `snakepit agent` takes its NATS credentials and `snakepit dashboard` its
 * token from the environment (security.md), and a worker needs neither: inherited, they were one
 * allowlisted function away from any caller (`os.path.expandvars("$SNAKEPIT_NATS_PASSWORD")`
 * handed an app user the agent's NATS role). What the host passes in `env` explicitly still goes.
 *
 * @example
 * spawn(python, args, { env: { ...inheritedEnv(), ...options.env } })
 */

/** Environment variables that hold a snakepit secret; never inherited by a worker. */
export const SECRET_ENV_NAMES: readonly string[] = ["SNAKEPIT_NATS_TOKEN", "SNAKEPIT_NATS_PASSWORD", "SNAKEPIT_NATS_NKEY_SEED", "SNAKEPIT_DASHBOARD_TOKEN"]

/**
 * `env` (default: this process's) without {@link SECRET_ENV_NAMES}.
 *
 * @example
 * inheritedEnv({ PATH: "/bin", SNAKEPIT_NATS_PASSWORD: "s" }) // { PATH: "/bin" }
 */
export const inheritedEnv = (env: NodeJS.ProcessEnv = process.env): Record<string, string> => {
  const copy: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) if (value !== undefined && !SECRET_ENV_NAMES.includes(name)) copy[name] = value
  return copy
}
