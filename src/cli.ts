#!/usr/bin/env node
/**
 * The `snakepit` command: `demo`, `doctor`, `call`. Exit codes: 0 success, 1 a check or call
 * failed, 2 bad usage.
 *
 * @example
 * npx snakepit demo
 * npx snakepit call math.sqrt '[16]'
 */
import { parseArgs } from "node:util"
import { pino } from "pino"
import { PythonBridge } from "./bridge/PythonBridge.js"
import { runDemo } from "./cli/demo.js"
import { runDoctor } from "./cli/doctor.js"
import { isSnakepitError } from "./errors.js"

const HELP: Record<string, string> = {
  main: `usage: snakepit <command> [options]

commands:
  demo      run a bridge under load, kill a worker, watch it recover
  doctor    check Python, the bundled bridge package, numpy, pipes and signals
  call      call one Python function and print its result as JSON

options for every command:
  --python <cmd>   Python executable (default: $SNAKEPIT_PYTHON, else python3)
  --help           this text, or a command's own with: snakepit <command> --help
`,
  demo: `usage: snakepit demo [--sessions N] [--calls N] [--workers N] [--python cmd]

Starts a bridge with the bundled example module, runs N calls from each session, SIGKILLs a
worker mid-load and shows the supervisor restoring the pool. Exits 0 when only the killed
worker's in-flight calls failed.
`,
  doctor: `usage: snakepit doctor [--python cmd]

Checks the Python executable and version, that snakepit_bridge imports, numpy (optional),
and a real worker round trip with SIGKILL detection. Exits 1 and says what to fix on failure.
`,
  call: `usage: snakepit call <module.function> [json-args] [--session id] [--pythonPath dir] [--python cmd]

Calls one function and prints the result as JSON, e.g.: snakepit call math.sqrt '[16]'
`,
}

const toJson = (value: unknown) =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : Buffer.isBuffer(v) ? { bytes: v.length } : v), 2)

const main = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: "boolean" },
      python: { type: "string" },
      session: { type: "string" },
      pythonPath: { type: "string", multiple: true },
      sessions: { type: "string" },
      calls: { type: "string" },
      workers: { type: "string" },
    },
  })
  const [command, ...rest] = positionals
  if (!command || values.help) {
    process.stdout.write(HELP[command ?? "main"] ?? HELP.main!)
    return command && !HELP[command] ? 2 : 0
  }
  const python = values.python
  switch (command) {
    case "demo": {
      const summary = await runDemo({
        ...(python ? { python } : {}),
        ...(values.sessions ? { sessions: Number(values.sessions) } : {}),
        ...(values.calls ? { callsPerSession: Number(values.calls) } : {}),
        ...(values.workers ? { workers: Number(values.workers) } : {}),
      })
      const onlyExpected = Object.keys(summary.failures).every((t) => t === "WorkerCrashed")
      return onlyExpected && summary.ok > 0 ? 0 : 1
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
        process.stderr.write(`args must be a JSON array, got ${json}\n`)
        return 2
      }
      const bridge = await PythonBridge.start({
        minWorkers: 1,
        ...(python ? { python } : {}),
        pythonPath: values.pythonPath ?? [process.cwd()],
        logger: pino({ level: "warn" }, pino.destination(2)),
      })
      try {
        const result = await bridge.executePython(values.session ?? null, target.slice(0, dot), target.slice(dot + 1), Array.isArray(args) ? args : [args])
        process.stdout.write(`${toJson(result)}\n`)
        return 0
      } finally {
        await bridge.stop()
      }
    }
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${HELP.main}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${isSnakepitError(e) ? `${e._tag}: ` : ""}${e instanceof Error ? e.message : String(e)}\n`)
    if (isSnakepitError(e) && "stderr" in e && e.stderr) process.stderr.write(`${String(e.stderr)}\n`)
    process.exit(1)
  },
)
