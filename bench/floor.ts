/**
 * The raw floor's Node side: spawn `floor_worker.py` with fds 3/4, write length-prefixed
 * frames, match replies by id. No library beyond node:child_process: whatever snakepit costs
 * above this is overhead.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { join } from "node:path"
import type { Readable, Writable } from "node:stream"

export const benchPyDir = join(import.meta.dirname, "py")

export interface FloorWorker {
  readonly pid: number
  call(arg: unknown, options?: { workUs?: number; tail?: Buffer }): Promise<{ result: unknown; tail: Buffer }>
  close(): void
}

/** Starts a floor worker; resolves once its ready frame arrived. */
export const startFloor = (python: string): Promise<FloorWorker> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(python, [process.env.FLOOR_PY ?? join(benchPyDir, "floor_worker.py")], { stdio: ["ignore", "ignore", "inherit", "pipe", "pipe"] })
    const input = child.stdio[3] as Writable
    const output = child.stdio[4] as Readable
    const pending = new Map<number, (reply: { result: unknown; tail: Buffer }) => void>()
    let nextId = 1
    let ready = false
    let buffered: Buffer[] = []
    let size = 0
    child.on("error", reject)
    // Chunks are joined only once a whole frame is there, so a 16 MiB reply is copied once.
    output.on("data", (chunk: Buffer) => {
      buffered.push(chunk)
      size += chunk.length
      while (size >= 4) {
        if (buffered[0]!.length < 4) buffered = [Buffer.concat(buffered, size)]
        const total = buffered[0]!.readUInt32BE(0)
        if (size < 4 + total) return
        const data = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, size)
        const hlen = data.readUInt32BE(4)
        const header = JSON.parse(data.toString("utf8", 8, 8 + hlen)) as { id?: number; result?: unknown; ready?: boolean }
        const tail = data.subarray(8 + hlen, 4 + total)
        const rest = data.subarray(4 + total)
        buffered = rest.length ? [rest] : []
        size = rest.length
        if (header.ready) {
          ready = true
          resolve(worker)
          continue
        }
        const settle = pending.get(header.id!)
        pending.delete(header.id!)
        settle?.({ result: header.result, tail })
      }
    })
    const worker: FloorWorker = {
      pid: child.pid!,
      call(arg, options = {}) {
        const id = nextId++
        const header = Buffer.from(JSON.stringify({ id, args: [arg], ...(options.workUs ? { work_us: options.workUs } : {}) }))
        const tail = options.tail ?? Buffer.alloc(0)
        const prefix = Buffer.allocUnsafe(8)
        prefix.writeUInt32BE(4 + header.length + tail.length, 0)
        prefix.writeUInt32BE(header.length, 4)
        input.cork()
        input.write(prefix)
        input.write(header)
        if (tail.length) input.write(tail)
        input.uncork()
        return new Promise((r) => pending.set(id, r))
      },
      close() {
        child.kill("SIGKILL")
      },
    }
    child.on("exit", () => {
      if (!ready) reject(new Error("floor worker exited before ready"))
    })
  })
