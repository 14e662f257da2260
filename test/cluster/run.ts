/**
 * Run shipped bench-cluster scenarios by hand on the netns backend (root):
 *
 *   node --import tsx test/cluster/run.ts                  # list them
 *   node --import tsx test/cluster/run.ts leader-cut loss-20 [--timers riaps] [--repeat 3] [--results DIR]
 *
 * Prints each check, the recovery times, and where the SVG/log went.
 */
import { join } from 'node:path';
import { REPO_ROOT } from './backend.js';
import { netnsUnavailableReason } from './netns.js';
import { NetnsBackend } from './netns-backend.js';
import { hostNames, runScenario } from './scenario.js';
import { formation, lossAll, shippedScenarios } from './scenarios.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const timers = opt('--timers');
const repeat = Number(opt('--repeat') ?? 1);
const prefix = opt('--prefix');
const results = opt('--results') ?? join(REPO_ROOT, 'test/cluster/results');
const all = [...shippedScenarios(false), formation('mdns'), lossAll(10, 'both'), lossAll(20, 'both', 'riaps')];
if (argv.length === 0) {
  for (const s of all) console.log(`${s.name.padEnd(18)} ${s.title ?? ''}`);
  process.exit(0);
}
const reason = netnsUnavailableReason();
if (reason) {
  console.error(`cannot run: ${reason}`);
  process.exit(2);
}
let failed = 0;
for (const name of argv) {
  const base = all.find((s) => s.name === name);
  if (!base) {
    console.error(`no scenario ${name}`);
    process.exit(2);
  }
  for (let r = 0; r < repeat; r++) {
    const scenario = { ...base, ...(timers ? { timers, name: `${base.name}-${timers}` } : {}) };
    if (repeat > 1) scenario.name = `${scenario.name}-${r + 1}`;
    const backend = await NetnsBackend.create({ hosts: hostNames(scenario.hosts), ...(prefix ? { prefix: `${prefix}${String(r).padStart(2, '0')}` } : {}), ...(scenario.hostSysctls ? { sysctls: scenario.hostSysctls } : {}) });
    try {
      console.log(`== ${scenario.name} (${backend.cluster.prefix})`);
      const res = await runScenario(backend, scenario, {
        resultsDir: results,
        reporter: { check: (ok, m) => console.log(`${ok ? 'ok    ' : 'NOT OK'} ${m}`), comment: (m) => console.log(`#      ${m}`) },
      });
      if (res.skipped) console.log(`skipped: ${res.skipped}`);
      if (!res.ok) failed++;
      console.log(`   ${res.ok ? 'passed' : 'FAILED'}; ${res.files.svg ?? ''}`);
    } finally {
      await backend.close();
    }
  }
}
process.exit(failed ? 1 : 0);
