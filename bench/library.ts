/**
 * The library as the bench measures it: the compiled package in `dist/`, the code users install,
 * not `src/` run through tsx. tsx compiles with esbuild's `keepNames`, which wraps every named
 * closure in a `__name(fn, "…")` call (an `Object.defineProperty` on the new function) each time
 * one is created; the call path creates several per call, so source under tsx cost about 1.5×
 * the compiled package's Node CPU per pipelined call (docs/performance.md, "What the bench
 * measures"). The bench's own harness (the raw floor's host side, the loops) still runs through
 * tsx: it creates no named closure per call.
 *
 * `npm run bench` builds first; run directly, a `dist/` missing or older than any file of `src/`
 * is refused with the command that fixes it, so a stale build is never measured.
 *
 * @example
 * const { PythonBridge } = await loadLibrary()
 * const bridge = await PythonBridge.start({ minWorkers: 1 })
 */
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = join(fileURLToPath(import.meta.url), "..", "..")

/** The newest modification time (ms) of any file under `dir`, and that file. */
const newest = (dir: string): { at: number; file: string } => {
  let best = { at: 0, file: dir }
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const found = entry.isDirectory() ? newest(path) : { at: statSync(path).mtimeMs, file: path }
    if (found.at > best.at) best = found
  }
  return best
}

/**
 * Why `dist/` cannot be measured (missing, or older than a source file), or `undefined`.
 *
 * @example
 * const why = staleBuild() // "dist/ is older than src/bridge/pool.ts: run `npm run build` first"
 */
export const staleBuild = (): string | undefined => {
  const built = join(root, "dist", "index.js")
  if (!existsSync(built)) return "dist/ is missing: run `npm run build` first (or `npm run bench`, which builds)"
  const source = newest(join(root, "src"))
  if (source.at > statSync(built).mtimeMs) {
    return `dist/ is older than ${source.file.slice(root.length + 1)}: run \`npm run build\` first (or \`npm run bench\`, which builds)`
  }
  return undefined
}

/** The parts of the library the bench uses, with the source's types. */
export interface Library {
  readonly PythonBridge: typeof import("../src/bridge/PythonBridge.js").PythonBridge
  readonly RemoteAgent: typeof import("../src/remote/RemoteAgent.js").RemoteAgent
  readonly resolvePython: typeof import("../src/worker/python.js").resolvePython
  readonly NDArray: typeof import("../src/protocol/codec.js").NDArray
  readonly Supervisor: typeof import("../src/supervisor/Supervisor.js").Supervisor
  readonly DynamicSupervisor: typeof import("../src/supervisor/Supervisor.js").DynamicSupervisor
}

let loaded: Promise<Library> | undefined

/**
 * Imports the compiled package (`dist/`, which mirrors `src/`) once per process; exits with
 * status 2 and the reason when it is missing or stale.
 *
 * @example
 * const { PythonBridge, resolvePython } = await loadLibrary()
 */
export const loadLibrary = (): Promise<Library> => (loaded ??= importLibrary())

const importLibrary = async (): Promise<Library> => {
  const stale = staleBuild()
  if (stale) {
    process.stderr.write(`bench: ${stale}\n`)
    process.exit(2)
  }
  // Imported by URL at run time: the typecheck of a fresh checkout has no dist/ to resolve.
  const load = <T>(path: string) => import(pathToFileURL(join(root, "dist", path)).href) as Promise<T>
  const [bridge, remote, python, codec, supervisor] = await Promise.all([
    load<typeof import("../src/bridge/PythonBridge.js")>("bridge/PythonBridge.js"),
    load<typeof import("../src/remote/RemoteAgent.js")>("remote/RemoteAgent.js"),
    load<typeof import("../src/worker/python.js")>("worker/python.js"),
    load<typeof import("../src/protocol/codec.js")>("protocol/codec.js"),
    load<typeof import("../src/supervisor/Supervisor.js")>("supervisor/Supervisor.js"),
  ])
  return {
    PythonBridge: bridge.PythonBridge,
    RemoteAgent: remote.RemoteAgent,
    resolvePython: python.resolvePython,
    NDArray: codec.NDArray,
    Supervisor: supervisor.Supervisor,
    DynamicSupervisor: supervisor.DynamicSupervisor,
  }
}
