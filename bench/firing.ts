/**
 * Precise firing: how close to the agreed instant each of 5 agents (separate processes,
 * one host, one kernel clock) fires an action, idle and with both cores loaded.
 * Usage: npm run bench:firing -- [--members 5] [--actions 20] [--lead 600]
 *
 * Per phase: |errorMs| (fired − when, each member's wall clock at firing) p50/p99 over all
 * members and actions, and the spread per action (last − first member's firedAt), p50/p99.
 * Baseline in the same run: a plain setTimeout(when − Date.now()) in this process for
 * every action, whose |error| p99 the table divides by.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../agent/local-cluster.js';

const { values } = parseArgs({ options: { members: { type: 'string', default: '5' }, actions: { type: 'string', default: '20' }, lead: { type: 'string', default: '600' } } });
const members = Number(values.members);
const actions = Number(values.actions);
const leadMs = Number(values.lead);
const cli = ['--import', 'tsx', fileURLToPath(new URL('../agent/cli.ts', import.meta.url))];

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};
const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');

/** Busy child processes, one per core, killed by PID. */
function loadCpus(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}

async function phase(cluster: LocalCluster, name: string): Promise<Record<string, string | number>> {
  const errors: number[] = [];
  const spreads: number[] = [];
  const baseline: number[] = [];
  let missing = 0;
  const agents = cluster.agents;
  for (let i = 0; i < actions; i++) {
    for (const a of agents) await cluster.newEvents(a);
    const asker = agents[i % agents.length]!;
    const { ballotId, when } = await cluster.post<{ ballotId: string; when: number }>(asker, 'action', { action: `bench ${i}`, inMs: leadMs, kind: 'majority', timeoutMs: Math.floor(leadMs / 2) });
    setTimeout(() => baseline.push(Math.abs(Date.now() - when)), when - Date.now());
    const fired = await cluster.awaitOnAll('action', (e) => e.ballotId === ballotId, when - Date.now() + 3000);
    missing += agents.length - fired.size;
    const at: number[] = [];
    for (const e of fired.values()) {
      errors.push(Math.abs(e.errorMs as number));
      at.push(e.firedAt as number);
    }
    if (at.length > 1) spreads.push(Math.max(...at) - Math.min(...at));
  }
  return {
    phase: name,
    'fired': `${errors.length}/${actions * agents.length}`,
    '|error| p50 ms': f(pct(errors, 50)),
    '|error| p99 ms': f(pct(errors, 99)),
    'spread p50 ms': f(pct(spreads, 50)),
    'spread p99 ms': f(pct(spreads, 99)),
    'setTimeout |error| p99 ms': f(pct(baseline, 99)),
    'p99 vs setTimeout': f(pct(baseline, 99) / Math.max(0.01, pct(errors, 99))),
    missing,
  };
}

const cluster = await LocalCluster.start({ members, group: 'Bench.firing', minSize: Math.floor(members / 2) + 1, timers: 'lan', autoVote: () => 'yes', cli, nodePrefix: 'f' });
const busy: ChildProcess[] = [];
try {
  const formed = await cluster.waitForCommonLeader(30_000);
  if (!formed) throw new Error('the group did not form');
  const rows = [await phase(cluster, 'idle')];
  busy.push(...loadCpus(2));
  await new Promise((r) => setTimeout(r, 500));
  rows.push(await phase(cluster, 'loaded (2 busy processes)'));
  console.table(rows);
} finally {
  for (const p of busy) if (p.pid) process.kill(p.pid, 'SIGKILL');
  await cluster.stop();
}
