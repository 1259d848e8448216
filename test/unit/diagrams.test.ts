/**
 * The diagrams in docs/diagrams are generated from the machines themselves; this test fails
 * when a committed diagram no longer matches its machine (run with UPDATE_DIAGRAMS=1 to rewrite).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { createMachine } from "xstate"
import { toMermaid } from "../../src/inspect/mermaid.js"
import { supervisorMachine } from "../../src/supervisor/machine.js"
import { workerMachine } from "../../src/worker/machine.js"

const docs = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "diagrams")

const page = (title: string, about: string, mermaid: string) =>
  `# ${title}\n\n${about}\n\nGenerated from the machine by \`test/unit/diagrams.test.ts\`; do not edit by hand.\n\n\`\`\`mermaid\n${mermaid}\n\`\`\`\n`

const check = (file: string, content: string) => {
  const path = join(docs, file)
  if (process.env.UPDATE_DIAGRAMS === "1" || !existsSync(path)) writeFileSync(path, content)
  expect(readFileSync(path, "utf8"), `${file} is stale: run UPDATE_DIAGRAMS=1 npx vitest run test/unit/diagrams.test.ts`).toBe(content)
}

describe("diagrams", () => {
  it("docs/diagrams/worker.md matches workerMachine", () => {
    const mermaid = toMermaid(workerMachine)
    // Every state and every event of the machine appears in the diagram.
    for (const state of ["starting", "ready", "busy", "idle", "stopping", "crashed", "stopped"]) expect(mermaid).toContain(state)
    for (const label of ["READY", "STARTUP_FAILED", "LOAD [loaded]", "LOAD [!loaded]", "after idleTimeout", "FAULT", "EXITED [cleanExit]", "snakepit.shutdown"]) {
      expect(mermaid).toContain(label)
    }
    check("worker.md", page("Worker machine", "One Python worker process (`workerMachine`, `src/worker/machine.ts`).", mermaid))
  })

  it("docs/diagrams/supervisor.md matches supervisorMachine", () => {
    const mermaid = toMermaid(supervisorMachine)
    for (const state of ["executing", "running", "startingChild", "stoppingChild", "stoppingAll", "backingOff", "stopped"]) expect(mermaid).toContain(state)
    for (const label of ["child.exited", "child.started", "child.startFailed", "after shutdownTimeout", "after backoff", "snakepit.shutdown"]) expect(mermaid).toContain(label)
    check(
      "supervisor.md",
      page("Supervisor machine", "A supervisor with OTP semantics (`supervisorMachine`, `src/supervisor/machine.ts`); the rules are in [../supervision.md](../supervision.md).", mermaid),
    )
  })

  it("toMermaid draws nested states, always transitions and numeric delays", () => {
    const m = createMachine({
      id: "m",
      initial: "a",
      states: {
        a: { after: { 500: "b" } },
        b: { initial: "x", states: { x: { on: { GO: "y" } }, y: { always: "#m.c" } } },
        c: { type: "final" },
      },
    })
    const text = toMermaid(m)
    expect(text).toContain("a --> b : after 500ms")
    expect(text).toContain("state b {")
    expect(text).toContain("b_x --> b_y : GO")
    expect(text).toContain("b_y --> c : always")
    expect(text).toContain("c --> [*]")
  })
})
