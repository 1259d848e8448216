/**
 * The second pass of CI (`npm run test:forkserver`): the integration and property suites and the
 * examples again, with every worker forked from a fork server template (`SNAKEPIT_SPAWN_MODE`,
 * set by the npm script). Left out are the files where the spawn mode cannot change what is
 * tested, so the pass spends its minutes where it can find something:
 * - files that choose the spawn mode of every bridge themselves (they run both modes already);
 * - the remote-pool suites about NATS and the client (TLS permissions, impersonation, per-app
 *   caps, allowlists, shared agents, outages, partitions, clusters, hostile peers, wire versions,
 *   the remote pool's own behaviour): their agents' bridges are the local bridge tested here;
 *   `remoteDrain.test.ts` and `remoteBurst.test.ts` stay, so agents with forked workers are
 *   still run;
 * - the host's placement of calls (which worker, when: `stalledCalls`, `scheduling`), which
 *   reads load reports a forked worker sends alike;
 * - the agent CLI's flag checks (parsing, and pool sizes counted from the agent's status) and
 *   what the CLI prints (control characters);
 * - the docs' examples: they test that the docs are true, and run the same bridge again;
 * - the properties over fake workers, which spawn nothing.
 * The dashboard in a browser (its tree shows the template) and the Python matrix's slice (here
 * the only run of its numpy and scikit-learn checks with forked workers) stay.
 */
import { configDefaults, defineConfig } from "vitest/config"
import base from "./vitest.config.js"

// Spread, not mergeConfig: that would join the two include lists into every test file.
// The base's projects split unit tests (none here) from the rest: this pass is one project.
const { projects: _unitAndProcesses, ...shared } = base.test!

export default defineConfig({
  ...base,
  test: {
    ...shared,
    include: ["test/integration/**/*.test.ts", "test/property/**/*.test.ts", "examples/**/*.test.ts"],
    exclude: [
      ...configDefaults.exclude,
      // Every bridge in these names its spawn mode.
      "test/integration/forkserver*.test.ts",
      "test/integration/forkedChild.test.ts",
      "test/integration/outputFlood.test.ts",
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
      "test/integration/agentStart.test.ts",
      "test/integration/remoteListing.test.ts",
      "test/integration/remote.test.ts",
      "test/integration/remoteSharedAgent.test.ts",
      "test/integration/agentAccess.test.ts",
      // Placement: host-side choices over load reports.
      "test/integration/stalledCalls.test.ts",
      "test/integration/scheduling.test.ts",
      // Flags, counts and what the CLI prints.
      "test/integration/cliAgentLimits.test.ts",
      "test/integration/cliControlCharacters.test.ts",
      // The docs' examples.
      "test/integration/docExamples.test.ts",
      // Properties over fake workers, which spawn nothing (hostile.prop.test.ts runs its real half).
      "test/property/!(hostile.prop).test.ts",
    ],
  },
})
