#!/usr/bin/env node
/**
 * The `snakepit` command: `demo`, `dashboard`, `doctor`, `call`, `agent`. Exit codes: 0 success, 1 a check or call
 * failed, 2 bad usage.
 *
 * @example
 * ```sh
 * npx snakepit demo
 * npx snakepit call math.sqrt '[16]'
 * ```
 */
import { once } from "node:events"
import { parseArgs, type ParseArgsConfig } from "node:util"
import { suggest } from "./didYouMean.js"
import { pino } from "pino"
import { PythonBridge } from "./bridge/PythonBridge.js"
import { runAgent } from "./cli/agent.js"
import { agentLimits } from "./cli/agentLimits.js"
import { runDashboard } from "./cli/dashboard.js"
import { runDemo } from "./cli/demo.js"
import { runDoctor } from "./cli/doctor.js"
import { DASHBOARD_NUMBER_FLAGS, DEMO_NUMBER_FLAGS, readNumberFlags } from "./cli/numberFlags.js"
import { natsUrlHasCredentials, resolveSecret, saferWay, type SecretSpec } from "./cli/secrets.js"
import { printable, printableJson } from "./terminalText.js"
import { isSnakepitError } from "./errors.js"
import { isLoopbackHost } from "./inspect/dashboardHosts.js"
import { readSecretFile } from "./remote/secretFile.js"
import { logDestination } from "./telemetry/logDestination.js"

const HELP: Record<string, string> = {
  main: `usage: snakepit <command> [options]

commands:
  demo      run a bridge under load, kill a worker, watch it recover
  dashboard serve the live dashboard over a bridge running the demo workload
  doctor    check Python, the bundled bridge package, numpy, pipes and signals
  call      call one Python function and print its result as JSON
  agent     serve a local pool to remote clients over NATS

options for every command:
  --python <cmd>   Python executable (default: $SNAKEPIT_PYTHON, else python3)
  --help           this text, or a command's own with: snakepit <command> --help
`,
  demo: `usage: snakepit demo [--sessions N] [--calls N] [--workers N] [--dashboard] [--port N] [--python cmd]

Starts a bridge with the bundled example module, runs N calls from each session, SIGKILLs a
worker mid-load and shows the supervisor restoring the pool. Exits 0 when only the killed
worker's in-flight calls failed. --dashboard also serves the live dashboard (on --port, default
a free port) and keeps it up after the run until Ctrl-C.

Each N is a whole number (digits only): --sessions 1 to 1000, --calls 1 to 1000000, --workers 1
to 1024, --port 0 to 65535; anything else is a usage error (exit 2).
`,
  dashboard: `usage: snakepit dashboard [--port N] [--host addr --allowed-hosts h1,h2] [--token-file F] [--controls]
       [--kill-every S] [--workers N] [--sessions N] [--python cmd]

Starts a bridge running the demo workload without end and serves the live dashboard on
http://127.0.0.1:7070 (--port 0 picks a free port): workers and their states, the supervision
tree, the worker state diagram, an event log, and Prometheus text at /metrics. A worker is
SIGKILLed every --kill-every seconds (default 20; 0 never). --controls adds buttons to kill a
worker and restart the environment. Ctrl-C stops it.

Each N and S is a whole number (digits only): --port 0 to 65535, --kill-every 0 to 2147483
(Node's longest timer), --workers 1 to 1024, --sessions 1 to 1000; anything else is a usage
error (exit 2).

A --host other than loopback exposes it and needs a token and --allowed-hosts: the Host header
values it is reached by (dash.example.com for any port, dash.example.com:8443 for exactly that);
other Host values are refused. The token comes from --token-file F (trailing newline dropped) or
$SNAKEPIT_DASHBOARD_TOKEN; --token T still works but is visible to every local user in ps.
`,
  doctor: `usage: snakepit doctor [--python cmd]

Checks the Python executable and version, that snakepit_bridge imports, numpy (optional),
and a real worker round trip with SIGKILL detection. Exits 1 and says what to fix on failure.
Notes (without failing) any snakepit agent or dashboard of yours with a secret on its command line.
`,
  call: `usage: snakepit call <module.function> [json-args] [--kwargs json-object] [--session id]
       [--pythonPath dir] [--python cmd] [--allow-modules a,b] [--expose mod.fn]...

Calls one function and prints the result as JSON, e.g.: snakepit call math.sqrt '[16]'
or with keyword arguments: snakepit call json.dumps '[[1,2]]' --kwargs '{"indent": 2}'
Any function can be named (builtins.exec too); --allow-modules/--expose restrict what is called
when the name comes from elsewhere (same rules as the bridge's allowedModules/expose).
Modules in the directory it starts in import (it is last on the workers' sys.path, so a
threading.py left there does not replace Python's). A --pythonPath dir is searched before the
standard library: name only directories no less trusted user can write to.
`,
  agent: `usage: snakepit agent --nats <url> --pool <name> [--prefix p] [--agent-id id]
       [--workers N | --min-workers N --max-workers N] [--max-queue N] [--max-sessions N] [--session-ttl-ms N]
       [--max-sessions-per-scope N] [--max-calls-per-scope N] [--scope-tokens N] [--busy-wait-us N]
       [--pythonPath dir]... [--python cmd] [--heartbeat-ms N] [--ttl-ms N]
       [--allow-modules a,b] [--expose mod.fn]... [--allow-any-module] [--allow-code] [--allow-restart]
       [--token-file F | --user U --password-file F | --nkey-seed-file F | --creds file] [--tls-ca file]
Runs a supervised pool of local Python workers and serves it to PythonBridge clients started with
{ remote: { nats, pool } } (docs/distributed.md). SIGTERM or SIGINT drains it: calls in flight
finish, then it leaves the pool and exits 0.

Every call is refused (ModuleNotAllowed) unless the agent is given what it may run:
  --allow-modules a,b   the public functions of modules a and b, as named there (a.sub.f is refused)
  --expose mod.fn       exactly these names (repeatable or comma list; "mod.*" for a module)
  --allow-any-module    any function a caller names, builtins.exec included: only when every
                        NATS peer that can publish to the pool is trusted
Code execution (executeCode) is refused unless --allow-code, whatever the above.
A client's restartPythonEnvironment() is refused unless --allow-restart (a restart ends every
client's calls and session state on this agent).
Modules in the directory it starts in import (last on the workers' sys.path); a --pythonPath dir
is searched before the standard library: name only directories no less trusted user can write to.

Limits of the agent's pool, shared by every client (app) of this agent:
  --min-workers N       workers kept alive (default 2, or --max-workers when lower)
  --max-workers N       workers at most, started on demand (default 10)
  --workers N           shorthand for --min-workers N --max-workers max(N, 10); not with those two
  --max-queue N         calls waiting for a worker; one more fails with QueueFull (default 1000)
  --max-sessions N      sessions held at once; a new one beyond fails with TooManySessions
                        (default 100000)
  --session-ttl-ms N    a session unused this long is cleaned up (default 3600000, one hour)
  --heartbeat-ms N      how often the agent writes its record (default 1000, at least 50)
  --ttl-ms N            silence after which clients judge the agent lost; at least twice
                        --heartbeat-ms (default 3000)
  --busy-wait-us N      µs a worker with no call running polls for the next before it sleeps
                        (default 200; 0: never; the bridge's workerBusyWaitUs)
Caps per app (a client's clientScope; clients without one share one scope), default none:
  --max-sessions-per-scope N  sessions one scope may hold here; one more: TooManySessions
  --max-calls-per-scope N     calls of one scope in flight or queued here; one more: QueueFull
  --scope-tokens N            leading tokens of a client id that are its scope (default 1);
                              the depth of the scopes NATS permissions give users, no more
  The scope is that of the client id of the subject a call came on: with NATS permissions
  (docs/distributed.md) one app cannot spend another's caps.
Each N is a whole number of at least 1 (0 for --min-workers and --busy-wait-us; digits only); anything else is a
usage error (exit 2).

NATS secrets come from files (--token-file, --password-file, --nkey-seed-file; a trailing newline
is dropped) or $SNAKEPIT_NATS_TOKEN, $SNAKEPIT_NATS_PASSWORD, $SNAKEPIT_NATS_NKEY_SEED
($SNAKEPIT_NATS_USER for the user). --token, --password and --nkey-seed still work but are
visible to every local user in ps. A --nats URL with credentials (nats://user:pass@host) is a
usage error: the NATS client does not use them, and ps would show them.
`,
}

/** A command line that cannot work: said on stderr, exit 2. */
class UsageError extends Error {}

/** Resolves one secret (docs in cli/secrets.ts); a secret given in argv is warned about on stderr. */
const secret = (spec: SecretSpec): { value: string | undefined; from: string } => {
  const r = resolveSecret(spec, { env: process.env, readFile: readSecretFile })
  if (!r.ok) throw new UsageError(r.message)
  if (r.warning) process.stderr.write(`${r.warning}\n`)
  // Read once; nothing this process starts needs it (workers never inherit it: hostEnv.ts).
  delete process.env[spec.env]
  const from = r.from === "file" ? `--${spec.flag}-file ${spec.file}` : r.from === "env" ? `$${spec.env}` : `--${spec.flag}`
  return { value: r.value, from }
}

/**
 * Aborts on the first SIGINT/SIGTERM so the command stops its bridge cleanly; a second one
 * exits at once. The listeners stay installed (`on`, not `once`): a library using signal-exit
 * (execa, in user code) re-raises the signal, killing the process mid-cleanup, when it believes
 * it is the only listener.
 */
const interrupted = (): AbortController => {
  const ac = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(signal === "SIGINT" ? 130 : 143)
    ac.abort()
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  return ac
}

/** `--allow-modules a,b --allow-modules c` as ["a", "b", "c"]; undefined when never given. */
const listOption = (values: readonly string[] | undefined): string[] | undefined =>
  values?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")

/** The bridge options of `--allow-modules` and `--expose`. */
const allowlist = (values: { "allow-modules"?: string[]; expose?: string[] }) => {
  const allowedModules = listOption(values["allow-modules"])
  const expose = listOption(values.expose)
  return { ...(allowedModules ? { allowedModules } : {}), ...(expose ? { expose } : {}) }
}

/**
 * The bridge's `pythonPath` from `--pythonPath`: only what was given. The working directory is
 * not added: every worker has it on `sys.path` already, last (workerArgs in worker/process.ts),
 * so the user's modules there import. As a `pythonPath` entry it would go into `PYTHONPATH`,
 * ahead of the standard library, and a `threading.py` anyone could leave there would run in
 * every worker, whatever `--allow-modules` says. An entry given is trusted the same way: it is
 * searched before the standard library.
 */
const pythonPathOption = (dirs: readonly string[] | undefined) => (dirs?.length ? { pythonPath: dirs } : {})


const toJson = (value: unknown) =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : Buffer.isBuffer(v) ? { bytes: v.length } : v), 2)

/** Every flag of every command (parseArgs checks the types; each command reads its own). */
const FLAGS = {
  help: { type: "boolean" },
  python: { type: "string" },
  session: { type: "string" },
  kwargs: { type: "string" },
  pythonPath: { type: "string", multiple: true },
  sessions: { type: "string" },
  calls: { type: "string" },
  workers: { type: "string" },
  dashboard: { type: "boolean" },
  port: { type: "string" },
  host: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  "allowed-hosts": { type: "string" },
  controls: { type: "boolean" },
  "kill-every": { type: "string" },
  nats: { type: "string" },
  pool: { type: "string" },
  prefix: { type: "string" },
  "agent-id": { type: "string" },
  "allow-code": { type: "boolean" },
  "allow-modules": { type: "string", multiple: true },
  expose: { type: "string", multiple: true },
  "allow-any-module": { type: "boolean" },
  "allow-restart": { type: "boolean" },
  "heartbeat-ms": { type: "string" },
  "ttl-ms": { type: "string" },
  "min-workers": { type: "string" },
  "max-workers": { type: "string" },
  "max-queue": { type: "string" },
  "max-sessions": { type: "string" },
  "session-ttl-ms": { type: "string" },
  "max-sessions-per-scope": { type: "string" },
  "max-calls-per-scope": { type: "string" },
  "scope-tokens": { type: "string" },
  "busy-wait-us": { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  "password-file": { type: "string" },
  "nkey-seed": { type: "string" },
  "nkey-seed-file": { type: "string" },
  creds: { type: "string" },
  "tls-ca": { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>

/**
 * The command line parsed; an unknown flag or a flag without its value is a usage error (exit
 * 2) that names the flag meant, when one is close.
 */
const parseFlags = (argv: string[]) => {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: FLAGS })
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const flag = /'(-{1,2}[^']+)'/.exec((e as Error).message)?.[1] ?? "?"
      const guess = suggest(flag.replace(/^-+/, ""), Object.keys(FLAGS))
      throw new UsageError(`unknown option ${flag}${guess !== undefined ? ` (did you mean --${guess}?)` : ""}; see snakepit --help`)
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new UsageError((e as Error).message)
    throw e
  }
}

const main = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseFlags(argv)
  const [command, ...rest] = positionals
  if (!command || values.help) {
    // Own keys only: `snakepit constructor --help` found Object's constructor and threw.
    const help = command === undefined ? HELP.main : Object.hasOwn(HELP, command) ? HELP[command] : undefined
    process.stdout.write(help ?? HELP.main!)
    return help === undefined ? 2 : 0
  }
  const python = values.python
  switch (command) {
    case "dashboard": {
      // Checked before anything starts (secrets read, Python): a bad number is exit 2.
      const flags = readNumberFlags(DASHBOARD_NUMBER_FLAGS, values)
      if (!flags.ok) throw new UsageError(`${flags.message}; see snakepit dashboard --help`)
      const n = flags.numbers
      const token = secret({ what: "dashboard token", flag: "token", argv: values.token, file: values["token-file"], env: "SNAKEPIT_DASHBOARD_TOKEN" })
      const allowedHosts = values["allowed-hosts"]?.split(",").map((h) => h.trim()).filter((h) => h !== "")
      if (values.host !== undefined && !isLoopbackHost(values.host) && (token.value === undefined || !allowedHosts?.length))
        throw new UsageError(
          `--host ${values.host} is not loopback: it also needs a token (--token-file F or $SNAKEPIT_DASHBOARD_TOKEN) and --allowed-hosts h1,h2 (the Host names it is reached by)`,
        )
      await runDashboard({
        signal: interrupted().signal,
        ...(python ? { python } : {}),
        ...(n.port !== undefined ? { port: n.port } : {}),
        ...(values.host ? { host: values.host } : {}),
        ...(allowedHosts?.length ? { allowedHosts } : {}),
        ...(token.value !== undefined ? { token: token.value, tokenFrom: token.from } : {}),
        ...(values.controls ? { controls: true } : {}),
        ...(n["kill-every"] !== undefined ? { killEveryMs: n["kill-every"] * 1000 } : {}),
        ...(n.workers !== undefined ? { workers: n.workers } : {}),
        ...(n.sessions !== undefined ? { sessions: n.sessions } : {}),
      })
      return 0
    }
    case "demo": {
      const flags = readNumberFlags(DEMO_NUMBER_FLAGS, values)
      if (!flags.ok) throw new UsageError(`${flags.message}; see snakepit demo --help`)
      const n = flags.numbers
      const stop = values.dashboard ? once(interrupted().signal, "abort").then(() => {}) : undefined
      const summary = await runDemo({
        ...(stop ? { dashboard: { keepServing: stop, ...(n.port !== undefined ? { port: n.port } : {}) } } : {}),
        ...(python ? { python } : {}),
        ...(n.sessions !== undefined ? { sessions: n.sessions } : {}),
        ...(n.calls !== undefined ? { callsPerSession: n.calls } : {}),
        ...(n.workers !== undefined ? { workers: n.workers } : {}),
      })
      const onlyExpected = Object.keys(summary.failures).every((t) => t === "WorkerCrashed")
      return onlyExpected && summary.ok > 0 ? 0 : 1
    }
    case "agent": {
      if (!values.nats || !values.pool) {
        process.stderr.write(HELP.agent!)
        return 2
      }
      // Checked before anything starts (secrets read, NATS, Python): a bad number is exit 2.
      const limits = agentLimits(values)
      if (!limits.ok) throw new UsageError(`${limits.message}; see snakepit agent --help`)
      // Never echoed: the URL holds the secret.
      if (natsUrlHasCredentials(values.nats)) throw new UsageError(`--nats has credentials in its URL, which every local user can read (ps); ${saferWay("--nats")}`)
      const token = secret({ what: "NATS token", flag: "token", argv: values.token, file: values["token-file"], env: "SNAKEPIT_NATS_TOKEN" }).value
      const pass = secret({ what: "NATS password", flag: "password", argv: values.password, file: values["password-file"], env: "SNAKEPIT_NATS_PASSWORD" }).value
      const nkeySeed = secret({ what: "NATS nkey seed", flag: "nkey-seed", argv: values["nkey-seed"], file: values["nkey-seed-file"], env: "SNAKEPIT_NATS_NKEY_SEED" }).value
      const user = values.user ?? (process.env.SNAKEPIT_NATS_USER || undefined)
      await runAgent({
        nats: values.nats,
        pool: values.pool,
        signal: interrupted().signal,
        logger: pino({ level: "info", name: "snakepit-agent" }, logDestination(2)),
        ...(values.prefix ? { prefix: values.prefix } : {}),
        ...(values["agent-id"] ? { agentId: values["agent-id"] } : {}),
        ...limits.agent,
        ...(token !== undefined ? { token } : {}),
        ...(user !== undefined ? { user } : {}),
        ...(pass !== undefined ? { pass } : {}),
        ...(nkeySeed !== undefined ? { nkeySeed } : {}),
        ...(values.creds ? { credsFile: values.creds } : {}),
        ...(values["tls-ca"] ? { tls: { caFile: values["tls-ca"] } } : {}),
        ...(values["allow-any-module"] ? { allowAnyModule: true } : {}),
        ...(values["allow-restart"] ? { allowRestart: true } : {}),
        bridge: {
          ...allowlist(values),
          ...(python ? { python } : {}),
          ...pythonPathOption(values.pythonPath),
          ...limits.bridge,
          ...(values["allow-code"] ? { allowCodeExecution: true } : {}),
        },
      })
      return 0
    }
    case "doctor":
      return (await runDoctor(python ? { python } : {})) ? 0 : 1
    case "call": {
      const [target, json = "[]"] = rest
      const dot = target?.lastIndexOf(".") ?? -1
      if (!target || dot <= 0) {
        process.stderr.write(HELP.call!)
        return 2
      }
      let args: unknown
      try {
        args = JSON.parse(json)
      } catch {
        process.stderr.write(printable(`args must be a JSON array, got ${json}\n`))
        return 2
      }
      let kwargs: Record<string, unknown> | undefined
      if (values.kwargs !== undefined) {
        let parsed: unknown
        try {
          parsed = JSON.parse(values.kwargs)
        } catch {
          parsed = undefined
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`--kwargs must be a JSON object, got ${values.kwargs}`)
        kwargs = parsed as Record<string, unknown>
      }
      const bridge = await PythonBridge.start({
        minWorkers: 1,
        ...(python ? { python } : {}),
        ...pythonPathOption(values.pythonPath),
        logger: pino({ level: "warn" }, logDestination(2)),
        ...allowlist(values),
      })
      try {
        const result = await bridge.executePython(values.session ?? null, target.slice(0, dot), target.slice(dot + 1), Array.isArray(args) ? args : [args], kwargs ? { kwargs } : {})
        process.stdout.write(`${printableJson(toJson(result))}\n`)
        return 0
      } finally {
        await bridge.stop()
      }
    }
    default:
      process.stderr.write(`unknown command ${printable(JSON.stringify(command))}\n\n${HELP.main}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`${printable(e.message)}\n`)
      process.exit(2)
    }
    // A Python error's message and stderr are the raising code's text: no terminal control from them.
    process.stderr.write(`${printable(`${isSnakepitError(e) ? `${e._tag}: ` : ""}${e instanceof Error ? e.message : String(e)}`)}\n`)
    if (isSnakepitError(e) && "stderr" in e && e.stderr) process.stderr.write(`${printable(String(e.stderr))}\n`)
    process.exit(1)
  },
)
