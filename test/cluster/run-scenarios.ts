/**
 * Shared runner of the netns scenario files (cluster.test.ts, field.test.ts): 5 or 6 network
 * namespaces on a bridge, one `cohort agent` each. Needs root, `ip` and `nft` (skipped with the
 * reason otherwise). Timelines go to test/cluster/results/<scenario>.svg|log|json; recovery
 * times are printed as `# recovery: ...` comments.
 */
import t from 'tap';
import { join } from 'node:path';
import { REPO_ROOT } from './backend.js';
import { closeAllClusters, libfaketimePath, netnsUnavailableReason } from './netns.js';
import { agentHelp, NetnsBackend } from './netns-backend.js';
import { hostNames, runScenario, type Scenario } from './scenario.js';
import { helpListsDiscovery } from './backend.js';

const RESULTS_DIR = process.env.COHORT_BENCH_RESULTS ?? join(REPO_ROOT, 'test/cluster/results');

// A scenario file must finish well inside tap's per-file limit (package.json: 300 s); also
// applies when the file is run directly with node (tap's default there is 30 s).
t.setTimeout(290_000);

const unavailable = netnsUnavailableReason();
const mdns = unavailable ? false : helpListsDiscovery(await agentHelp());
if (!unavailable && !mdns) t.comment('mDNS scenarios not run: `cohort agent --help` lists no --discovery option yet (static peers used)');

// Without libfaketime the clock-offset steps are dropped (the rest of those scenarios still runs).
const faketime = libfaketimePath() !== null;
if (!unavailable && !faketime) t.comment('clock-offset steps not run: libfaketime missing (apt-get install faketime)');
const withoutClockOffsets = (s: Scenario): Scenario => (faketime ? s : { ...s, steps: s.steps.filter((step) => !('clockOffset' in step)) });

/** Runs each scenario as a tap subtest on a fresh netns cluster (skipped with the reason where netns is unavailable). */
export function runScenarios(scenarios: (mdns: boolean) => Scenario[]): void {
  const summary: string[] = [];

  for (const scenario of scenarios(mdns).map(withoutClockOffsets)) {
    // A scenario with a known product limitation runs, but its checks are tap todos: measured and
    // reported (timeline, comments), not failing the suite. (A todo *subtest* would not run at all.)
    const todo = scenario.knownIssue ? { todo: scenario.knownIssue } : {};
    t.test(scenario.name, { skip: unavailable ?? false }, async (t) => {
      const backend = await NetnsBackend.create({ hosts: hostNames(scenario.hosts), ...(scenario.hostSysctls ? { sysctls: scenario.hostSysctls } : {}) });
      t.teardown(() => backend.close());
      t.comment(`${scenario.title ?? ''} [namespaces ${backend.cluster.prefix}*, 10.77.${backend.cluster.subnet}.0/24]`);
      const result = await runScenario(backend, scenario, {
        resultsDir: RESULTS_DIR,
        reporter: { check: (ok, message) => t.ok(ok, message, todo), comment: (m) => t.comment(m) },
      });
      if (result.skipped) {
        t.skip(result.skipped, () => undefined);
        return;
      }
      for (const m of result.measurements) summary.push(`${scenario.name}: ${m.label}: ${m.ms} ms`);
      t.comment(`timeline: ${result.files.svg} (log: ${result.files.log})`);
      if (scenario.knownIssue) t.comment(`known issue: ${scenario.knownIssue}; this run ${result.ok ? 'passed anyway' : `failed ${result.failures.length} checks`}`);
      t.ok(result.ok, `scenario ${scenario.name} passed`, result.ok ? todo : { ...todo, failures: result.failures });
    });
  }

  t.teardown(async () => {
    await closeAllClusters();
    if (summary.length) {
      // One block of all measured recovery times, for whoever reads the log.
      console.log(`# recovery times (fault -> new leader known to all reachable hosts; ~100 ms poll resolution):\n${summary.map((s) => `#   ${s}`).join('\n')}`);
    }
  });
}
