/**
 * Failover with real agent processes on loopback (5 by default), one cluster per preset,
 * the victim restarted between trials:
 * - SIGKILL: a crash. The kernel closes the dead process's connections, which the
 *   survivors take as a hint (GroupMember.peerClosed) and elect at once;
 * - SIGSTOP: silence (a powered-off board, a cut cable: no connection closes), all that
 *   the election timers can see; the process is SIGKILLed afterwards;
 * - SIGTERM: a graceful leave (the leader hands over).
 * Time: from the signal to the last survivor's `leaderElected` for the new leader, read
 * from every survivor's /events (wall clock, one machine), so status polling adds nothing.
 * Usage: npx tsx bench/failover.ts [--members 5] [--trials 5] [--timers riaps] [--signals SIGSTOP] [--cli FILE]
 * (needs `npm run build`: agents run from dist/).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BenchCluster, type BenchAgent } from './lib/cluster.js';
import { sleep, summarize, type Summary } from './lib/stats.js';
import { TIMER_PRESETS } from '../agent/core/timers.js';

export type FailSignal = 'SIGKILL' | 'SIGSTOP' | 'SIGTERM';

export interface FailoverSeries {
  timers: string;
  members: number;
  signal: FailSignal;
  ms: number[];
  failed: number;
  summary: Summary;
}

function heartbeatOf(timers: string): number {
  const preset = TIMER_PRESETS[timers as keyof typeof TIMER_PRESETS];
  if (preset) return preset.heartbeat;
  const m = /heartbeat=(\d+)/.exec(timers);
  return m ? Number(m[1]) : 1000;
}

async function lastSeq(c: BenchCluster, a: BenchAgent): Promise<number> {
  const evs = await c.events(a).catch(() => []);
  return evs.length ? evs[evs.length - 1]!.seq : 0;
}

/** One trial on a formed cluster: returns ms from the signal to agreement, or null. */
export async function failoverTrial(c: BenchCluster, signal: FailSignal, n: number, heartbeat: number): Promise<number | null> {
  const formed = await c.waitForLeader(60_000, { members: n, among: c.agents });
  if (!formed) return null;
  // Land anywhere in a heartbeat period.
  await sleep(200 + Math.random() * heartbeat);
  const victim = c.byMember(formed.leader)!;
  const survivors = c.agents.filter((a) => a !== victim);
  const seqs = new Map(await Promise.all(survivors.map(async (a) => [a, await lastSeq(c, a)] as const)));
  const at = Date.now();
  c.kill(victim, signal);
  const after = await c.waitForLeader(30_000, { not: formed.leader, among: survivors, pollMs: 50 });
  let ms: number | null = null;
  if (after) {
    const times: number[] = [];
    for (const a of survivors) {
      const evs = await c.events(a, seqs.get(a)).catch(() => []);
      const e = evs.find((x) => x.type === 'leaderElected' && x.leader === after.leader);
      if (e) times.push(e.at - at);
    }
    ms = times.length === survivors.length ? Math.max(...times) : null;
  }
  if (signal !== 'SIGKILL') c.kill(victim, 'SIGKILL');
  await c.exited(victim);
  c.restart(victim);
  return ms;
}

export async function failoverSeries(opts: { timers: string; members: number; signals: FailSignal[]; trials: number; cli?: string; log?: (s: string) => void }): Promise<FailoverSeries[]> {
  const log = opts.log ?? (() => {});
  const c = await BenchCluster.start({ members: opts.members, timers: opts.timers, prefix: 'fo', ...(opts.cli ? { cli: opts.cli } : {}), ...(opts.log ? { log: opts.log } : {}) });
  const hb = heartbeatOf(opts.timers);
  const out = new Map<FailSignal, { ms: number[]; failed: number }>(opts.signals.map((s) => [s, { ms: [], failed: 0 }]));
  try {
    // Interleaved: each round tries every signal once.
    for (let i = 0; i < opts.trials; i++) {
      for (const signal of opts.signals) {
        const ms = await failoverTrial(c, signal, opts.members, hb);
        const r = out.get(signal)!;
        if (ms === null) r.failed++;
        else r.ms.push(ms);
        log(`  failover ${opts.timers} ${signal} trial ${i + 1}: ${ms === null ? 'no agreement' : `${Math.round(ms)} ms`}`);
      }
    }
  } finally {
    await c.stop();
  }
  return opts.signals.map((signal) => ({ timers: opts.timers, members: opts.members, signal, ...out.get(signal)!, summary: summarize(out.get(signal)!.ms) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { members: { type: 'string', default: '5' }, trials: { type: 'string', default: '5' }, timers: { type: 'string', default: 'riaps' }, signals: { type: 'string', default: 'SIGKILL,SIGSTOP,SIGTERM' }, cli: { type: 'string' } } });
  const series = await failoverSeries({ timers: values.timers!, members: Number(values.members), trials: Number(values.trials), signals: values.signals!.split(',') as FailSignal[], ...(values.cli ? { cli: values.cli } : {}), log: (s) => console.log(s) });
  for (const s of series) console.log(`${s.signal} ${s.timers} ${s.members} agents: p50 ${Math.round(s.summary.p50)} ms, p99 ${Math.round(s.summary.p99)} ms, max ${Math.round(s.summary.max)} ms (n=${s.summary.n}, ${s.failed} failed)`);
}
