/**
 * A three-node `nats-server` cluster on loopback for the remote-pool tests: full-mesh routes,
 * JetStream on every node (each its own store in a temp dir, kept across a node's restart), so
 * a KV bucket can be replicated on all three. Each node is a {@link NatsServer}: it can be
 * killed and started again on its own ports.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { freePort, NatsServer } from "./natsServer.js"

export class NatsCluster {
  private constructor(
    /** The nodes, `n1`, `n2`, `n3`. */
    readonly nodes: readonly NatsServer[],
    private readonly dir: string,
  ) {}

  /** Every node's client URL, for a client that may use any of them. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url)
  }

  /**
   * Starts `size` nodes routed to each other and waits until JetStream answers, then creates
   * `buckets` as KV buckets replicated on every node (the agents open them as they are).
   *
   * @example
   * const cluster = await NatsCluster.start(3, [{ name: "snakepit_p_agents", ttlMs: 800 }])
   */
  static async start(size: number, buckets: ReadonlyArray<{ name: string; ttlMs: number }>): Promise<NatsCluster> {
    // Route ports are probed free, then bound by the nodes later: one taken meanwhile (other test
    // files run beside this one) makes its node exit; the whole cluster then starts again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsCluster.startOnce(size, buckets)
      } catch (e) {
        if (attempt === 3 || !/exited \(code/.test((e as Error).message)) throw e
      }
    }
  }

  private static async startOnce(size: number, buckets: ReadonlyArray<{ name: string; ttlMs: number }>): Promise<NatsCluster> {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-nats-cluster-"))
    const routePorts = await Promise.all(Array.from({ length: size }, freePort))
    const nodes: NatsServer[] = []
    try {
      for (let i = 0; i < size; i++) {
        const configFile = join(dir, `n${i + 1}.conf`)
        const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`)
        writeFileSync(
          configFile,
          [
            `server_name: n${i + 1}`,
            "cluster {",
            "  name: snakepit-test",
            `  listen: 127.0.0.1:${routePorts[i]}`,
            `  routes: [${routes.join(", ")}]`,
            "}",
            "",
          ].join("\n"),
        )
        nodes.push(await NatsServer.start({}, { configFile }))
      }
      const cluster = new NatsCluster(nodes, dir)
      await cluster.createBuckets(buckets)
      return cluster
    } catch (e) {
      for (const n of nodes) await n.stop()
      rmSync(dir, { recursive: true, force: true })
      throw e
    }
  }

  /** JetStream needs its meta leader elected first: retried until the buckets exist. */
  private async createBuckets(buckets: ReadonlyArray<{ name: string; ttlMs: number }>): Promise<void> {
    const nc = await connect({ servers: this.urls })
    try {
      const deadline = Date.now() + 30_000
      for (const b of buckets) {
        for (;;) {
          try {
            await new Kvm(nc).create(b.name, { history: 1, ttl: b.ttlMs, replicas: this.nodes.length })
            break
          } catch (e) {
            if (Date.now() > deadline) throw e
            await new Promise((r) => setTimeout(r, 250))
          }
        }
      }
    } finally {
      await nc.close()
    }
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
