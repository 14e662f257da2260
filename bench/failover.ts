/**
 * Failover after a leader crash (SIGKILL) and after a graceful leave (SIGTERM:
 * the leader hands over), with real agent processes on loopback.
 * Usage: npm run bench:failover -- [--members 5] [--trials 5] [--timers riaps]
 * Time is from the signal to every survivor reporting the same new leader.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../agent/local-cluster.js';

const { values } = parseArgs({ options: { members: { type: 'string', default: '5' }, trials: { type: 'string', default: '5' }, timers: { type: 'string', default: 'riaps' } } });
const members = Number(values.members);
const trials = Number(values.trials);
const cli = ['--import', 'tsx', fileURLToPath(new URL('../agent/cli.ts', import.meta.url))];

async function trial(signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
  const cluster = await LocalCluster.start({ members, group: 'Bench.failover', minSize: Math.floor(members / 2) + 1, timers: values.timers!, cli, nodePrefix: 'b' });
  try {
    const formed = await cluster.waitForCommonLeader(30_000);
    if (!formed) return null;
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000)); // land anywhere in a heartbeat period
    const victim = cluster.byMember(formed.leader)!;
    cluster.kill(victim, signal);
    if (signal === 'SIGTERM') victim.alive = false; // it is leaving; do not wait for it
    const after = await cluster.waitForCommonLeader(30_000, formed.leader, false);
    return after?.ms ?? null;
  } finally {
    await cluster.stop();
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]} ms, min ${s[0]} ms, max ${s[s.length - 1]} ms (n=${s.length})`;
};
for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  const times: number[] = [];
  for (let i = 0; i < trials; i++) {
    const t = await trial(signal);
    if (t !== null) times.push(t);
    process.stdout.write(`${signal} trial ${i + 1}: ${t ?? 'no new leader'} ms\n`);
  }
  process.stdout.write(`failover after ${signal === 'SIGKILL' ? 'SIGKILL (crash)' : 'SIGTERM (graceful leave)'}, ${members} agents, timers ${values.timers}: ${stats(times)}\n`);
}
