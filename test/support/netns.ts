/**
 * Real network partitions for the remote-pool tests: each "host" is a Linux network namespace
 * this harness creates, joined to one hub namespace (where nats-server runs) by its own veth
 * pair on its own /24 of 10.213.0.0/16. Every address lives only inside those namespaces: the
 * machine's own namespace gets no link, address or route. A link is cut by taking its hub end
 * down (every packet on it is dropped, no TCP reset reaches either side, as with a pulled cable)
 * and healed by bringing it up again. Processes run inside a namespace through `ip netns exec`
 * (which execs the command itself, so the pid is the process's own). {@link NetLab.teardown}
 * kills everything started in the namespaces (also what those processes started) and deletes
 * the namespaces, which deletes their links: call it in `finally`/`afterAll`; it never throws.
 *
 * Needs root and iproute2's `ip`: {@link netnsUnavailable} says why not, for a visible skip.
 */
import { randomBytes } from "node:crypto"
import { execFileSync, spawnSync } from "node:child_process"
import { execa, type Options, type ResultPromise } from "execa"

/** Runs `ip` with `args` (throws with its stderr when it fails). */
const ip = (...args: string[]): string => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

/** The namespaces `ip netns list` shows now (names only), for a before/after leak check. */
export const listNamespaces = (): string[] =>
  ip("netns", "list")
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter(Boolean)
    .sort()

/**
 * Why network namespaces cannot be made here, or undefined when they can: not root, no `ip`,
 * or the kernel refuses (a container without CAP_SYS_ADMIN). Probed once, with a namespace
 * made and deleted again.
 *
 * @example
 * describe.skipIf(netnsUnavailable !== undefined)("partitions", () => { … })
 * if (netnsUnavailable) console.warn(`partition tests skipped: ${netnsUnavailable}`)
 */
export const netnsUnavailable: string | undefined = (() => {
  if (process.platform !== "linux") return `network namespaces are Linux only (this is ${process.platform})`
  if (process.getuid?.() !== 0) return "network namespaces need root (CI runs as root)"
  if (spawnSync("ip", ["-V"], { stdio: "ignore" }).status !== 0) return "iproute2's `ip` is missing"
  const probe = `snakepit-probe-${randomBytes(3).toString("hex")}`
  const made = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" })
  if (made.status !== 0) return `\`ip netns add\` failed: ${made.stderr.trim()}`
  spawnSync("ip", ["netns", "del", probe], { stdio: "ignore" })
  return undefined
})()

/** One host: its namespace, its address, and the hub's address on its link. */
export interface Host {
  readonly name: string
  readonly namespace: string
  /** This host's address on its link to the hub. */
  readonly address: string
  /** The hub's address on this host's link: where this host reaches the hub's servers. */
  readonly hubAddress: string
}

export class NetLab {
  private readonly children = new Set<ResultPromise>()
  private constructor(
    /** The hub namespace's name (`ip netns exec <hub> …`). */
    readonly hub: string,
    private readonly hostsByName: ReadonlyMap<string, Host>,
    private readonly namespaces: string[],
  ) {}

  /**
   * Creates the hub and one namespace per host name, a veth pair from the hub to each, their
   * addresses, and brings every link (and each namespace's loopback) up. On any failure what was
   * made is removed again before the error is thrown.
   *
   * @example
   * const lab = await NetLab.create(["client", "a1", "a2"])
   * try { lab.spawn(lab.hub, "nats-server", ["-a", "0.0.0.0", "-p", "4222"]) } finally { await lab.teardown() }
   */
  static async create(hostNames: readonly string[]): Promise<NetLab> {
    const tag = randomBytes(3).toString("hex")
    const hub = `snakepit-${tag}-hub`
    const namespaces: string[] = [hub]
    const hosts = new Map<string, Host>()
    const lab = new NetLab(hub, hosts, namespaces)
    try {
      ip("netns", "add", hub)
      ip("-n", hub, "link", "set", "lo", "up")
      hostNames.forEach((name, i) => {
        const namespace = `snakepit-${tag}-${name}`
        ip("netns", "add", namespace)
        namespaces.push(namespace)
        ip("-n", namespace, "link", "set", "lo", "up")
        // Made directly inside the two namespaces: the machine's namespace never holds either end.
        ip("link", "add", "name", `h${i}`, "netns", hub, "type", "veth", "peer", "name", "hub0", "netns", namespace)
        const net = `10.213.${i + 1}`
        ip("-n", hub, "addr", "add", `${net}.1/24`, "dev", `h${i}`)
        ip("-n", namespace, "addr", "add", `${net}.2/24`, "dev", "hub0")
        ip("-n", hub, "link", "set", `h${i}`, "up")
        ip("-n", namespace, "link", "set", "hub0", "up")
        hosts.set(name, { name, namespace, address: `${net}.2`, hubAddress: `${net}.1` })
      })
      return lab
    } catch (e) {
      await lab.teardown()
      throw e
    }
  }

  /** A host by the name given to {@link NetLab.create}. */
  host(name: string): Host {
    const h = this.hostsByName.get(name)
    if (!h) throw new Error(`no host ${name} in this lab`)
    return h
  }

  private hubEnd(name: string): string {
    return `h${[...this.hostsByName.keys()].indexOf(this.host(name).name)}`
  }

  /** Cuts `name` off the hub: its link goes down, every packet either way is dropped. */
  cut(name: string): void {
    ip("-n", this.hub, "link", "set", this.hubEnd(name), "down")
  }

  /** Heals a {@link NetLab.cut}: the link comes up again (its addresses and routes with it). */
  heal(name: string): void {
    ip("-n", this.hub, "link", "set", this.hubEnd(name), "up")
  }

  /**
   * Starts `command` inside `namespace` (the hub's or a host's); it is killed at teardown if
   * still running. The result never rejects (`reject: false`); stdio as `options` say.
   */
  spawn(namespace: string, command: string, args: readonly string[], options: Options = {}): ResultPromise {
    const child = execa("ip", ["netns", "exec", namespace, command, ...args], { reject: false, ...options }) as ResultPromise
    this.children.add(child)
    void child.finally(() => this.children.delete(child))
    return child
  }

  /** Pids of every process inside the lab's namespaces (what `ip netns pids` lists). */
  pids(): number[] {
    const out: number[] = []
    for (const ns of this.namespaces) {
      try {
        out.push(...ip("netns", "pids", ns).split("\n").filter(Boolean).map(Number))
      } catch {
        // A namespace already gone has no processes.
      }
    }
    return out
  }

  /**
   * Kills every process it started (SIGKILL) and any other left in its namespaces (workers an
   * agent started), waits for them, deletes the namespaces (and so every link and address).
   * Idempotent; never throws (a failed step is reported on stderr, the rest still runs).
   */
  async teardown(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL")
    await Promise.allSettled([...this.children])
    const deadline = Date.now() + 10_000
    for (let left = this.pids(); left.length > 0 && Date.now() < deadline; left = this.pids()) {
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // Already gone.
        }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      try {
        ip("netns", "del", ns)
      } catch (e) {
        process.stderr.write(`netns teardown: could not delete ${ns}: ${String(e)}\n`)
      }
    }
  }
}
