/**
 * Leak check for the whole suite: every Python process a test spawns inherits SNAKEPIT_TEST_RUN,
 * so after the last test we look through /proc for any process still carrying this run's marker.
 * A leak fails the run, even when every test passed.
 */
import { randomUUID } from "node:crypto"
import { findProcessesWithEnv } from "./support/processes.js"

export default function setup() {
  // One marker for the run: each vitest project runs this setup, and all share one process.
  const marker = (process.env.SNAKEPIT_TEST_RUN ??= randomUUID())
  return async function teardown() {
    // Give SIGKILLed children a moment to be reaped by their parents.
    const deadline = Date.now() + 3_000
    let left = findProcessesWithEnv("SNAKEPIT_TEST_RUN", marker)
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
      left = findProcessesWithEnv("SNAKEPIT_TEST_RUN", marker)
    }
    if (left.length > 0) {
      for (const p of left) {
        try { process.kill(p.pid, "SIGKILL") } catch { /* already gone */ }
      }
      throw new Error(`leaked processes after the test run:\n${left.map((p) => `${p.pid} ${p.cmdline}`).join("\n")}`)
    }
  }
}
