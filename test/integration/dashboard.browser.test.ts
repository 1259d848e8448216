/**
 * The dashboard end to end: a real bridge with real Python workers, the page in Debian's
 * Chromium driven by playwright-core. The page shows 2 workers ready, busy under calls, a killed
 * worker crashed and then replaced, and the restart in the event log; a screenshot is saved to
 * test-artifacts/dashboard.png (and to docs/images/dashboard.png with UPDATE_SCREENSHOT=1).
 *
 * Chromium comes from `apt-get install chromium` (.ci/run does it). Without it the test is
 * skipped locally, and fails in CI, where it must run.
 */
import { existsSync, mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium, type Browser } from "playwright-core"
import { afterAll, describe, expect, it } from "vitest"
import { eventually, startBridge } from "../support/bridge.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"

const CHROMIUM = process.env.SNAKEPIT_CHROMIUM ?? "/usr/bin/chromium"
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const available = existsSync(CHROMIUM)
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium (see .ci/run)`)

let browser: Browser | undefined
afterAll(async () => {
  await browser?.close()
})

describe.skipIf(!available)("dashboard in a browser", () => {
  it("shows 2 workers ready, busy under calls, a killed worker crashed then replaced, and the restart in the log", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, restart: { intensity: 5, periodMs: 5_000 } })
    const { url } = await bridge.serveDashboard({ port: 0 })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    })
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await page.goto(url)
    const rows = page.locator("#workers tbody tr")
    await expect.poll(() => page.locator('#workers tr[data-state="ready"]').count(), { timeout: 10_000 }).toBe(2)
    await expect.poll(() => page.locator("#conn").textContent()).toBe("live")

    // Calls: both workers become busy.
    const calls = [0, 1, 2, 3].map((i) => bridge.executePython(`s${i}`, "echo", "sleep", [1.5, i]).catch((e: unknown) => e))
    await expect.poll(() => page.locator('#workers tr[data-state="busy"]').count(), { timeout: 10_000 }).toBe(2)
    await expect.poll(() => page.locator('.state-diagram .state.occupied[data-state="busy"] .count').textContent()).toBe("×2")

    // Kill one worker: its incarnation shows crashed, and a new ready worker takes its place.
    const victim = bridge.getStatus().workers[0]!
    process.kill(victim.pid!, "SIGKILL")
    await page.locator(`#workers tr[data-pid="${victim.pid}"][data-state="crashed"]`).waitFor({ timeout: 10_000 })
    await page.locator(`#workers tr[data-worker="${victim.id}"][data-state="ready"]:not([data-pid="${victim.pid}"])`).waitFor({ timeout: 15_000 })
    await page.locator(`#log li[data-kind="worker.restarted"]`).filter({ hasText: `worker ${victim.id} restarted` }).waitFor({ timeout: 10_000 })
    await expect.poll(() => page.locator("#log li[data-kind='worker.exited']").first().textContent()).toContain("SIGKILL")
    // The supervision tree names the pool's supervisor and its restart.
    await expect.poll(() => page.locator('#tree [data-supervisor="snakepit.pool"] > .meta').textContent()).toContain("1 total")

    const outcomes = await Promise.all(calls)
    await eventually(() => bridge.getStatus().workers.every((w) => w.state === "ready"), 10_000, "pool recovered")
    await expect.poll(() => page.locator('#workers tr[data-state="ready"]').count()).toBe(2)
    expect(await rows.count()).toBe(3) // two live workers and the crashed incarnation
    // The sessions column shows how sessions spread: after the crash the four sessions call
    // again and sit two and two (the killed worker's two lost their state and were placed afresh).
    for (let i = 0; i < 4; i++) await bridge.executePython(`s${i}`, "echo", "echo", [i])
    const spread = () => Promise.all([0, 1].map((n) => page.locator('#workers tr[data-state="ready"] td').nth(n * 9 + 3).textContent()))
    await expect.poll(spread, { timeout: 10_000 }).toEqual(["2", "2"])
    // The calls panel shows the pool statistics: the calls that ran to an answer, and utilization.
    const ran = String(bridge.getStatus().stats.runTime.count)
    await expect.poll(() => page.locator('#stats tr[data-stat="run"] td').nth(1).textContent()).toBe(ran)
    await expect.poll(() => page.locator("#utilization").textContent()).toMatch(/^\d+\.\d %$/)

    mkdirSync(join(root, "test-artifacts"), { recursive: true })
    await page.screenshot({ path: join(root, "test-artifacts", "dashboard.png"), fullPage: true })
    if (process.env.UPDATE_SCREENSHOT === "1") await page.screenshot({ path: join(root, "docs", "images", "dashboard.png"), fullPage: true })

    // /metrics counts the same story.
    const { samples } = parsePrometheus(await (await fetch(`${new URL(url).origin}/metrics`)).text())
    const failed = outcomes.filter((o) => (o as { _tag?: string })?._tag === "WorkerCrashed").length
    expect(failed).toBeGreaterThanOrEqual(1)
    expect(sampleValue(samples, "snakepit_call_errors_total", { tag: "WorkerCrashed" })).toBe(failed)
    expect(sampleValue(samples, "snakepit_calls_total", { outcome: "ok" })).toBe(8 - failed) // the four calls, then the four after recovery
    expect(sampleValue(samples, "snakepit_worker_restarts_total")).toBe(1)
  })
})
