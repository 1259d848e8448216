/**
 * What the dashboard of a supervision tree shows: the tree (a `Supervisor`'s status, nested
 * supervisors included) and, for every `bridgeChild` in it, the same feed a single bridge's
 * dashboard has (workers, call panels, log). A bridge restarted by its parent is a new bridge:
 * the tree is walked again at every snapshot and whenever the root's actor changes, feeds are
 * attached to bridges that appeared and closed for bridges that went away.
 *
 * @example
 * const feed = new TreeFeed(root, bridgeOf)
 * feed.onChange(() => push(feed.snapshot()))
 * feed.close()
 */
import { LoggedFeed } from "./feedLog.js"
import type { AnyActorRef } from "xstate"
import type { ChildInfo, SupervisorStatus } from "../supervisor/status.js"
import { DashboardFeed, type DashboardSnapshot, type FeedOptions, type FeedSource, type LogEntry } from "./dashboardFeed.js"

/** The part of a supervisor the feed reads. */
export interface TreeSource {
  getStatus(): SupervisorStatus
  /** The supervisor's actor: the feed looks for new bridges when its snapshot changes. */
  readonly actor: { subscribe(observer: { next: () => void; error: (error: unknown) => void }): { unsubscribe(): void } }
}

/** One bridge of the tree: `path` is its child ids from the root, joined by `/` (`"root/ml"`). */
export interface TreeBridge {
  readonly path: string
  readonly snapshot: DashboardSnapshot
}

/** Everything the tree page renders, JSON-safe. */
export interface TreeSnapshot {
  readonly at: number
  readonly tree: SupervisorStatus
  readonly bridges: readonly TreeBridge[]
}

/** A tree log line names the bridge it came from. */
export interface TreeLogEntry extends LogEntry {
  readonly bridge: string
}

/** Bridges of the tree, depth first, in child order, with their paths. */
const bridgesOf = (status: SupervisorStatus, prefix: string, bridgeOf: (ref: AnyActorRef | null) => FeedSource | undefined): Array<{ path: string; bridge: FeedSource }> => {
  const found: Array<{ path: string; bridge: FeedSource }> = []
  const walk = (s: SupervisorStatus, at: string) => {
    for (const c of s.children as readonly ChildInfo[]) {
      const path = `${at}/${c.id}`
      const bridge = bridgeOf(c.ref)
      if (bridge) found.push({ path, bridge })
      else if (c.supervisor) walk(c.supervisor, path)
    }
  }
  walk(status, prefix)
  return found
}

/** Live dashboard state of a supervision tree. */
export class TreeFeed extends LoggedFeed<TreeLogEntry> {
  private readonly feeds = new Map<FeedSource, { readonly path: string; readonly feed: DashboardFeed; readonly off: () => void }>()
  private readonly watch: { unsubscribe(): void }
  private seq = 0

  constructor(
    private readonly root: TreeSource,
    private readonly bridgeOf: (ref: AnyActorRef | null) => FeedSource | undefined,
    private readonly options: FeedOptions = {},
  ) {
    super(options.logSize ?? 200)
    this.refresh(root.getStatus())
    // With an error listener: an observer without one would make XState report the supervisor's
    // failure (its owner handles it through `done`) as an unhandled error.
    this.watch = root.actor.subscribe({ next: () => this.changed(), error: () => {} })
  }

  /** The tree now, with each running bridge's snapshot. */
  snapshot(now = Date.now()): TreeSnapshot {
    const tree = this.root.getStatus()
    this.refresh(tree)
    return { at: now, tree, bridges: [...this.feeds.values()].map(({ path, feed }) => ({ path, snapshot: feed.snapshot(now) })) }
  }

  /** Stops listening to the tree and its bridges. */
  close(): void {
    this.watch.unsubscribe()
    for (const { feed, off } of this.feeds.values()) {
      off()
      feed.close()
    }
    this.feeds.clear()
    this.log.close()
  }

  /** Attaches feeds to the bridges now in the tree and drops those of bridges gone. */
  private refresh(tree: SupervisorStatus): void {
    const now = bridgesOf(tree, tree.id, this.bridgeOf)
    const current = new Set(now.map((b) => b.bridge))
    for (const [bridge, { feed, off }] of this.feeds) {
      if (current.has(bridge)) continue
      off()
      feed.close()
      this.feeds.delete(bridge)
    }
    for (const { path, bridge } of now) {
      if (this.feeds.has(bridge)) continue
      const feed = new DashboardFeed(bridge, this.options)
      const unChange = feed.onChange(() => this.changed())
      const unLog = feed.onLog((entry) => this.append(path, entry))
      this.feeds.set(bridge, { path, feed, off: () => (unChange(), unLog()) })
    }
  }

  private append(path: string, entry: LogEntry): void {
    const tagged: TreeLogEntry = { ...entry, seq: ++this.seq, bridge: path }
    this.log.push(tagged)
  }

  private changed(): void {
    this.log.changed()
  }
}
