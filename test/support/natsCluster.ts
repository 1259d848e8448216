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
    /** Each node's monitoring port (HTTP on loopback), kept across its restarts. */
    private readonly monitorPorts: readonly number[],
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
    const monitorPorts = await Promise.all(Array.from({ length: size }, freePort))
    const nodes: NatsServer[] = []
    try {
      for (let i = 0; i < size; i++) {
        const configFile = join(dir, `n${i + 1}.conf`)
        const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`)
        writeFileSync(
          configFile,
          [
            `server_name: n${i + 1}`,
            `http: 127.0.0.1:${monitorPorts[i]}`,
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
      const cluster = new NatsCluster(nodes, dir, monitorPorts)
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

  /**
   * The name (`n1`…) of the live node a connection subscribing to `subject` is on, read from each
   * node's monitoring endpoint: which node a client or an agent is connected to (it may have
   * reconnected to any node since it started); undefined while none lists it (a reconnect).
   *
   * @example
   * await cluster.nodeSubscribing("snakepit.p.agent.a1.from.>") // "n2"
   */
  async nodeSubscribing(subject: string): Promise<string | undefined> {
    for (let i = 0; i < this.nodes.length; i++) {
      const connz = await fetch(`http://127.0.0.1:${this.monitorPorts[i]}/connz?subs=1&limit=1024`, { signal: AbortSignal.timeout(5_000) })
        .then((r) => r.json() as Promise<{ connections?: Array<{ subscriptions_list?: string[] }> }>, () => undefined)
      if (connz?.connections?.some((c) => c.subscriptions_list?.includes(subject))) return `n${i + 1}`
    }
    return undefined
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
