import { configDefaults, defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Three test files at a time on two cores: the suite waits on Python, NATS and timers for much
    // of its run (17-54 % of two cores sat idle with two files at a time), and two took the Node 20
    // run past ten minutes. The tests hold beside two CPU hogs, which load the cores more.
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        // Pure logic: one module graph per worker, not per file. Loading effect, xstate and the
        // library again for each of 80 files took 80 s of a 79 s run on two workers; shared,
        // 13 s. Each file leaves no state behind (fake timers are restored after each test).
        // A support module that registers hooks when first imported (bridge.ts, worker.ts) does
        // so for one file only here: unit tests start no bridge or worker of those helpers.
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], isolate: false },
      },
      {
        extends: true,
        // Real processes, signals and sockets: each file in a fresh worker.
        test: { name: "processes", include: ["test/**/*.test.ts", "examples/**/*.test.ts"], exclude: [...configDefaults.exclude, "test/unit/**"] },
      },
    ],
  },
})
