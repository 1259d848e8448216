/**
 * The second pass of CI (`npm run test:forkserver`): the integration and property suites and the
 * examples again, with every worker forked from a fork server template (`SNAKEPIT_SPAWN_MODE`,
 * set by the npm script). Left out are the files where the spawn mode cannot change what is
 * tested, so the pass spends its minutes where it can find something:
 * - files that choose the spawn mode of every bridge themselves (they run both modes already);
 * - the remote-pool suites about NATS itself (TLS permissions, impersonation, per-app caps,
 *   outages, partitions, clusters, hostile peers, wire versions): their agents' bridges are the
 *   local bridge tested here; `remote.test.ts`, `remoteDrain.test.ts` and `remoteBurst.test.ts`
 *   stay, so agents with forked workers are still run;
 * - the agent CLI's flag checks (parsing, and pool sizes counted from the agent's status).
 * The docs' examples, the dashboard in a browser (its tree shows the template) and the Python
 * matrix's slice (here the only run of its numpy and scikit-learn checks with forked workers)
 * stay.
 */
import { configDefaults, defineConfig } from "vitest/config"
import base from "./vitest.config.js"

// Spread, not mergeConfig: that would join the two include lists into every test file.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/integration/**/*.test.ts", "test/property/**/*.test.ts", "examples/**/*.test.ts"],
    exclude: [
      ...configDefaults.exclude,
      // Every bridge in these names its spawn mode.
      "test/integration/forkserver*.test.ts",
      "test/integration/forkedChild.test.ts",
      // NATS behaviour, not the agent's workers.
      "test/integration/remoteRoles.test.ts",
      "test/integration/remoteImpersonation.test.ts",
      "test/integration/remoteAgentPermissions.test.ts",
      "test/integration/remoteScopeCaps.test.ts",
      "test/integration/remoteOutages.test.ts",
      "test/integration/remotePartition.test.ts",
      "test/integration/remoteCluster.test.ts",
      "test/integration/remoteHostilePeers.test.ts",
      "test/integration/remoteVersions.test.ts",
      // Flags and counts.
      "test/integration/cliAgentLimits.test.ts",
    ],
  },
})
