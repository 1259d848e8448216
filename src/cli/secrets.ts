/**
 * Where the CLI's secrets come from, pure: a flag's value on the command line, a file named by
 * `--…-file`, or an environment variable; and which command lines carry a secret in the clear.
 *
 * A secret on the command line is visible to every local user (`ps`, `/proc/<pid>/cmdline`),
 * so it is still accepted but warned about; a file (read once, trailing newline trimmed) or an
 * environment variable (readable only by the same user) is the way to pass one. A flag or file
 * wins over the environment; a flag and its file together are a usage error, as is a file that
 * cannot be read or is empty.
 *
 * @example
 * const r = resolveSecret(
 *   { what: "NATS token", flag: "token", argv: values.token, file: values["token-file"], env: "SNAKEPIT_NATS_TOKEN" },
 *   { env: process.env, readFile: (p) => readFileSync(p, "utf8") },
 * )
 * if (!r.ok) exit2(r.message)
 * else if (r.warning) process.stderr.write(`${r.warning}\n`)
 */

/** One secret the command takes. */
export interface SecretSpec {
  /** For messages: "NATS password". */
  readonly what: string
  /** The argv flag without dashes: `"password"`; its file flag is `--password-file`. */
  readonly flag: string
  /** The flag's value, if given on the command line. */
  readonly argv: string | undefined
  /** The `--<flag>-file` value, if given. */
  readonly file: string | undefined
  /** The environment variable that may hold it. */
  readonly env: string
}

/** The effects `resolveSecret` needs, given by the caller. */
export interface SecretIo {
  readonly env: Readonly<Record<string, string | undefined>>
  /** Reads a whole file as UTF-8; throws when it cannot. */
  readonly readFile: (path: string) => string
}

/** Where a resolved secret came from. */
export type SecretSource = "argv" | "file" | "env" | "none"

/** A resolved secret, or why the command line is wrong. */
export type SecretResult =
  | { readonly ok: true; readonly value: string | undefined; readonly from: SecretSource; readonly warning?: string }
  | { readonly ok: false; readonly message: string }

/** Trailing CR/LF only: a secret may legitimately contain or end with spaces. */
const trimNewlines = (s: string) => s.replace(/[\r\n]+$/, "")

/**
 * Picks the secret from the command line, its file or the environment (see the module doc).
 *
 * @example
 * resolveSecret({ what: "dashboard token", flag: "token", argv: undefined, file: "/run/secrets/dash", env: "SNAKEPIT_DASHBOARD_TOKEN" }, io)
 * // { ok: true, value: "…", from: "file" }
 */
export const resolveSecret = (spec: SecretSpec, io: SecretIo): SecretResult => {
  if (spec.argv !== undefined && spec.file !== undefined) return { ok: false, message: `give --${spec.flag} or --${spec.flag}-file, not both` }
  if (spec.file !== undefined) {
    let text: string
    try {
      text = io.readFile(spec.file)
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message
      return { ok: false, message: `cannot read the ${spec.what} from --${spec.flag}-file ${JSON.stringify(spec.file)}: ${why}` }
    }
    const value = trimNewlines(text)
    if (value === "") return { ok: false, message: `--${spec.flag}-file ${JSON.stringify(spec.file)} is empty: it should hold the ${spec.what}` }
    return { ok: true, value, from: "file" }
  }
  if (spec.argv !== undefined) {
    return {
      ok: true,
      value: spec.argv,
      from: "argv",
      warning: `warning: --${spec.flag} puts the ${spec.what} on the command line, where every local user can read it (ps, /proc/<pid>/cmdline); use --${spec.flag}-file FILE or $${spec.env} instead`,
    }
  }
  const fromEnv = io.env[spec.env]
  if (fromEnv !== undefined && fromEnv !== "") return { ok: true, value: fromEnv, from: "env" }
  return { ok: true, value: undefined, from: "none" }
}

/** The CLI flags whose value is a secret. */
export const SECRET_FLAGS = ["token", "password", "nkey-seed"] as const

/** A secret flag found on a command line (never its value). */
export interface ArgvSecret {
  /** `agent` or `dashboard`. */
  readonly command: string
  /** The flag with its dashes: `--token`. */
  readonly flag: string
}

const COMMANDS = new Set(["agent", "dashboard"])

/** True for an argv element that runs snakepit: its bin, or its cli.js / cli.ts in a snakepit path. */
const isSnakepit = (arg: string) => {
  const base = arg.slice(arg.lastIndexOf("/") + 1)
  return base === "snakepit" || (/^cli\.[cm]?[jt]s$/.test(base) && arg.includes("snakepit"))
}

/**
 * The secret flags with a value on a `snakepit agent` or `snakepit dashboard` command line
 * (`--token X` or `--token=X`); empty for any other command line.
 *
 * @example
 * secretsInArgv(["node", "/usr/lib/node_modules/snakepit/dist/cli.js", "agent", "--token", "s3cret"])
 * // [{ command: "agent", flag: "--token" }]
 */
export const secretsInArgv = (argv: readonly string[]): ArgvSecret[] => {
  const start = argv.findIndex(isSnakepit)
  if (start < 0) return []
  const rest = argv.slice(start + 1)
  const command = rest.find((a) => COMMANDS.has(a))
  if (command === undefined) return []
  const found: ArgvSecret[] = []
  rest.forEach((arg, i) => {
    for (const name of SECRET_FLAGS) {
      const flag = `--${name}`
      if ((arg === flag && i + 1 < rest.length) || arg.startsWith(`${flag}=`)) found.push({ command, flag })
    }
  })
  return found
}
