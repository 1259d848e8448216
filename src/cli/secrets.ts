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
import { urlHasCredentials } from "../remote/natsUrls.js"

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

/**
 * True when a NATS server list (`--nats`, comma-separated) names a user, password or token in a
 * URL: `nats://alice:hunter2@host`, `nats://s3cret@host`, `alice:pw@host:4222`. The NATS client
 * does not use them (they must be given as options), and on a command line every local user
 * can read them.
 *
 * @example
 * natsUrlHasCredentials("nats://10.0.0.5:4222")                  // false
 * natsUrlHasCredentials("nats://a:4222,nats://bob:pw@b:4222")    // true
 */
export const natsUrlHasCredentials = (servers: string): boolean => servers.split(",").some(urlHasCredentials)

/** A secret flag found on a command line (never its value). */
export interface ArgvSecret {
  /** `agent` or `dashboard`. */
  readonly command: string
  /** The flag with its dashes: `--token`, or `--nats` for a URL with credentials. */
  readonly flag: string
}

/**
 * How to pass what `flag` carried without putting it on the command line.
 *
 * @example
 * saferWay("--token") // "pass it with --token-file or the environment instead"
 */
export const saferWay = (flag: string): string =>
  flag === "--nats"
    ? "the NATS client does not use credentials in the URL: give them with --user and --password-file, --token-file, --nkey-seed-file or --creds instead"
    : `pass it with ${flag}-file or the environment instead`

const COMMANDS = new Set(["agent", "dashboard"])

/** The file name of snakepit's CLI entry, built (`cli.js`) or run from source (`cli.ts`). */
export const CLI_FILE = /^cli\.[cm]?[jt]s$/

/**
 * True for an argv element that names snakepit's command by its name: its bin (`snakepit`), or
 * a `cli.js` / `cli.ts` whose path says snakepit. A copy under another name (`/opt/tools/pit/dist/cli.js`)
 * or a relative `src/cli.ts` needs the file itself looked at: `snakepit doctor` does
 * (`isSnakepitScript` in doctor.ts).
 *
 * @example
 * namesSnakepit("/usr/lib/node_modules/snakepit/dist/cli.js") // true
 * namesSnakepit("/other/tool/cli.js")                         // false
 */
export const namesSnakepit = (arg: string): boolean => {
  const base = arg.slice(arg.lastIndexOf("/") + 1)
  return base === "snakepit" || (CLI_FILE.test(base) && arg.includes("snakepit"))
}

/**
 * The secret flags with a value on a `snakepit agent` or `snakepit dashboard` command line
 * (`--token X` or `--token=X`, and `--nats` when its URL carries credentials); empty for any
 * other command line. `isSnakepit` says which argv element starts snakepit (default: by its
 * name, {@link namesSnakepit}); the command is the first `agent` or `dashboard` after it.
 *
 * @example
 * secretsInArgv(["node", "/usr/lib/node_modules/snakepit/dist/cli.js", "agent", "--token", "s3cret"])
 * // [{ command: "agent", flag: "--token" }]
 * secretsInArgv(["snakepit", "agent", "--nats=nats://alice:pw@nats:4222", "--pool", "p"])
 * // [{ command: "agent", flag: "--nats" }]
 */
export const secretsInArgv = (argv: readonly string[], isSnakepit: (arg: string) => boolean = namesSnakepit): ArgvSecret[] => {
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
    const nats = arg === "--nats" ? rest[i + 1] : arg.startsWith("--nats=") ? arg.slice("--nats=".length) : undefined
    if (nats !== undefined && natsUrlHasCredentials(nats)) found.push({ command, flag: "--nats" })
  })
  return found
}
