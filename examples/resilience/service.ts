/**
 * A user's service: it scores documents with Python and must answer every request, whatever
 * the Python workers do. (The example a resilience property is written for.)
 */
import type { PythonBridge } from "../../src/index.js"

export class ScoringService {
  constructor(private readonly bridge: PythonBridge) {}

  /** Attempts per request: a request whose worker crashed is retried on another one. */
  static readonly attempts = 3

  /** Scores one document, retrying when its worker crashed under it. */
  async score(userId: string, doc: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.bridge.executePython(userId, "snakepit_bridge.examples.resilience", "echo", [doc])) as number
      } catch (error) {
        if ((error as { _tag?: string })._tag !== "WorkerCrashed" || attempt === ScoringService.attempts) throw error
      }
    }
  }
}
