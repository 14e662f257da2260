/**
 * Votes and actions, 5 members on loopback, every member voting yes as soon as asked:
 * - request → result at every member (p50/p99 of the per-ballot maximum, and of all
 *   member results), majority and consensus, across processes (5 agent processes) and
 *   in-process (5 agents in one process);
 * - action firing spread: the instants (CLOCK_MONOTONIC) at which the 5 members fire one
 *   agreed action, max − min, and each member's own firing error.
 * Usage: npx tsx bench/votes.ts [--trials 30]
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent } from '../agent/runtime/agent.js';
import type { Group } from '../agent/api/group.js';
import { StaticDiscovery } from '../discovery/static.js';
import { BroadcastSet } from './broadcast.js';
import { freePort, sleep, summarize, type Summary } from './lib/stats.js';

export interface VoteSeries {
  where: 'processes' | 'in-process';
  kind: 'majority' | 'consensus';
  /** ms from request to the result at the last member, per ballot. */
  allMembers: Summary;
  /** ms from request to the result, every member of every ballot. */
  perMember: Summary;
  timeouts: number;
}

export interface ActionSeries {
  spreadMs: Summary;
  errorMs: Summary;
  missed: number;
}

export async function votesAcrossProcesses(trials: number, log: (s: string) => void = () => {}): Promise<{ votes: VoteSeries[]; actions: ActionSeries }> {
  const set = await BroadcastSet.start('cohort', 5);
  try {
    const votes: VoteSeries[] = [];
    const acc = { majority: { all: [] as number[], per: [] as number[], to: 0 }, consensus: { all: [] as number[], per: [] as number[], to: 0 } };
    for (let i = 0; i < trials + 2; i++) {
      for (const kind of ['majority', 'consensus'] as const) {
        const r = await set.ballot({ vote: kind }, i % 5, 150);
        if (i < 2) continue; // warm-up
        const ms = r.resultUs.map((x) => x / 1000);
        if (ms.some((x) => !Number.isFinite(x))) acc[kind].to++;
        else { acc[kind].all.push(Math.max(...ms)); acc[kind].per.push(...ms); }
      }
    }
    for (const kind of ['majority', 'consensus'] as const) {
      votes.push({ where: 'processes', kind, allMembers: summarize(acc[kind].all), perMember: summarize(acc[kind].per), timeouts: acc[kind].to });
      log(`  votes across processes, ${kind}: at all 5 p50 ${acc[kind].all.length ? summarize(acc[kind].all).p50.toFixed(2) : '–'} ms`);
    }
    const spread: number[] = [];
    const err: number[] = [];
    let missed = 0;
    for (let i = 0; i < Math.max(5, Math.floor(trials / 3)); i++) {
      const r = await set.ballot({ actionDelayMs: 300 }, i % 5, 300);
      if (r.spreadUs === null) missed++;
      else spread.push(r.spreadUs / 1000);
      err.push(...r.errorMs);
    }
    log(`  action firing spread p50 ${summarize(spread).p50.toFixed(2)} ms`);
    return { votes, actions: { spreadMs: summarize(spread), errorMs: summarize(err.map(Math.abs)), missed } };
  } finally {
    await set.stop();
  }
}

export async function votesInProcess(trials: number, log: (s: string) => void = () => {}): Promise<VoteSeries[]> {
  const n = 5;
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const peers = ports.map((p) => `127.0.0.1:${p}`);
  const agents = ports.map((p, i) => new Agent({ node: `vp${i}`, busPort: p, discovery: new StaticDiscovery(peers), probeMs: 0 }));
  const results = new Map<string, number[]>();
  try {
    await Promise.all(agents.map((a) => a.start()));
    const groups: Group[] = agents.map((a) => a.join('bench', 'Bench', 'votes', { minSize: 3 }));
    for (const g of groups) {
      g.on('voteRequest', (e) => { if (e.canVote) g.vote(e.ballotId, true); });
      g.on('voteResult', (e) => { let r = results.get(e.ballotId); if (!r) results.set(e.ballotId, (r = [])); r.push(performance.now()); });
    }
    for (let i = 0; i < 3000 && !groups.every((g) => g.hasLeader() && g.members().length === n); i++) await sleep(10);
    const out: VoteSeries[] = [];
    const acc = { majority: { all: [] as number[], per: [] as number[], to: 0 }, consensus: { all: [] as number[], per: [] as number[], to: 0 } };
    for (let i = 0; i < trials + 2; i++) {
      for (const kind of ['majority', 'consensus'] as const) {
        const g = groups[i % n]!;
        const t0 = performance.now();
        const id = g.requestVote(new Uint8Array([0xc1]), { kind });
        await sleep(100);
        if (i < 2) continue;
        const r = results.get(id) ?? [];
        if (r.length < n) acc[kind].to++;
        else { acc[kind].all.push(Math.max(...r) - t0); acc[kind].per.push(...r.map((x) => x - t0)); }
      }
    }
    for (const kind of ['majority', 'consensus'] as const) {
      out.push({ where: 'in-process', kind, allMembers: summarize(acc[kind].all), perMember: summarize(acc[kind].per), timeouts: acc[kind].to });
      log(`  votes in-process, ${kind}: at all 5 p50 ${summarize(acc[kind].all).p50.toFixed(2)} ms`);
    }
    return out;
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { trials: { type: 'string', default: '30' } } });
  const t = Number(values.trials);
  const log = (s: string) => console.log(s);
  console.log(JSON.stringify(await votesInProcess(t, log), null, 1));
  console.log(JSON.stringify(await votesAcrossProcesses(t, log), null, 1));
}
