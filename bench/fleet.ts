/**
 * Whole-fleet figures with real agent processes (from dist/) on loopback:
 * - formation: spawn → every agent answers /status (process start-up) → one agreed leader
 *   with full membership;
 * - idle cost per agent (CPU % of one core, RSS) against a bare Node process started
 *   alongside (the floor any Node agent pays), and spurious elections while idle;
 * - at 5, 25, 50 members: formation, idle CPU, and heartbeat traffic (messages/s per
 *   agent from the transport counters; bytes from the encoded heartbeat sizes).
 * Usage: npx tsx bench/fleet.ts [--sizes 5,25,50] [--window 20] [--timers riaps] [--cli dist/agent/cli.js]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeEnvelope } from '../proto/codec.js';
import { PROTOCOL_VERSION } from '../agent/core/messages.js';
import { TIMER_PRESETS } from '../agent/core/timers.js';
import type { AgentStatus } from '../agent/runtime/agent.js';
import { BenchCluster, procStat } from './lib/cluster.js';
import { median, sleep } from './lib/stats.js';

export interface FleetRun {
  members: number;
  timers: string;
  /** Spawn → all answer /status (ms). */
  startupMs: number | null;
  /** All answering → agreed leader with full membership (ms). */
  formationMs: number | null;
  idle?: {
    windowS: number;
    cpuPctPerAgent: { median: number; max: number };
    rssMiBPerAgent: { median: number; max: number };
    /** RSS split: anonymous (the agent's own heap and stacks) and file-backed (shared code pages). */
    rssSplitMiBPerAgent?: { anon: number; file: number };
    bareNode: { cpuPct: number; rssMiB: number };
    /** Term changes seen while idle (should be 0). */
    termChanges: number;
    /** Messages per second per agent, sent and received (bus and direct). */
    msgsPerSecPerAgent: { out: number; in: number };
    /** Estimated heartbeat bytes per second per agent (envelope sizes × counts, without ZMTP/TCP overhead). */
    bytesPerSecPerAgentOut: number;
  };
}

const groupOf = (s: AgentStatus | null, g: string) => s?.groups.find((x) => x.group === g);

function heartbeatBytes(members: number): { member: number; leader: number } {
  const timers = TIMER_PRESETS.riaps;
  const ids = Array.from({ length: members }, (_, i) => `fl${i + 1}/agent`);
  const base = { version: PROTOCOL_VERSION, group: 'Bench.g', from: ids[0]!, incarnation: 3, term: 7, to: '' };
  const member = encodeEnvelope({ ...base, body: { type: 'memberHeartbeat', timers, minSize: 3, sentAt: Date.now(), leader: ids[1]!, endpoint: 'tcp://127.0.0.1:40000' } }).length;
  const leader = encodeEnvelope({ ...base, body: { type: 'leaderHeartbeat', config: { term: 7, version: 3, voters: ids }, committedVersion: 3, endpoint: 'tcp://127.0.0.1:40000', timers, minSize: 3, sentAt: Date.now() } }).length;
  return { member, leader };
}

export async function fleetRun(opts: { members: number; timers: string; idleWindowS?: number; cli?: string; log?: (s: string) => void }): Promise<FleetRun> {
  const log = opts.log ?? (() => {});
  const c = await BenchCluster.start({ members: opts.members, timers: opts.timers, prefix: 'fl', minSize: Math.min(3, opts.members), ...(opts.cli ? { cli: opts.cli } : {}), log });
  const bare = opts.idleWindowS ? spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' }) : null;
  try {
    const startupMs = c.startupMs; // null: not every agent answered within the start timeout
    const tReady = performance.now();
    const formed = startupMs === null ? null : await c.waitForLeader(opts.members > 30 ? 300_000 : 180_000, { members: opts.members, among: c.agents, pollMs: 50 });
    const formationMs = formed ? performance.now() - tReady : null;
    log(`  fleet ${opts.members} × ${opts.timers}: start-up ${startupMs === null ? '–' : Math.round(startupMs)} ms, formation ${formationMs === null ? '–' : Math.round(formationMs)} ms`);
    const run: FleetRun = { members: opts.members, timers: opts.timers, startupMs, formationMs };
    if (!opts.idleWindowS || !formed) return run;
    await sleep(3000); // let start-up work (JIT, first connections) settle
    const pids = c.agents.map((a) => a.proc!.pid!);
    const st0 = await Promise.all(c.agents.map((a) => c.status(a)));
    const p0 = pids.map(procStat);
    const b0 = procStat(bare!.pid!);
    const w0 = performance.now();
    await sleep(opts.idleWindowS * 1000);
    const secs = (performance.now() - w0) / 1000;
    const p1 = pids.map(procStat);
    const b1 = procStat(bare!.pid!);
    const st1 = await Promise.all(c.agents.map((a) => c.status(a)));
    const cpu = pids.map((_, i) => (p0[i] && p1[i] ? ((p1[i]!.cpuS - p0[i]!.cpuS) / secs) * 100 : NaN)).filter(Number.isFinite);
    const rss = p1.map((p) => p?.rssMiB ?? NaN).filter(Number.isFinite);
    const rssAnon = p1.map((p) => p?.rssAnonMiB ?? NaN).filter(Number.isFinite);
    const rssFile = p1.map((p) => p?.rssFileMiB ?? NaN).filter(Number.isFinite);
    const terms0 = st0.map((s) => groupOf(s, c.group)?.term ?? -1);
    const terms1 = st1.map((s) => groupOf(s, c.group)?.term ?? -1);
    const termChanges = Math.max(0, ...terms1.map((t, i) => t - terms0[i]!));
    const sum = (s: AgentStatus | null, k: 'busOut' | 'busIn' | 'directOut' | 'directIn') => s?.transport[k] ?? 0;
    const out = st1.map((s, i) => sum(s, 'busOut') + sum(s, 'directOut') - sum(st0[i]!, 'busOut') - sum(st0[i]!, 'directOut'));
    const inn = st1.map((s, i) => sum(s, 'busIn') + sum(s, 'directIn') - sum(st0[i]!, 'busIn') - sum(st0[i]!, 'directIn'));
    const hb = heartbeatBytes(opts.members);
    // Per agent and second: one member heartbeat each; the leader's heartbeats; acks (≈ member size).
    const perHb = TIMER_PRESETS[opts.timers as keyof typeof TIMER_PRESETS]?.heartbeat ?? 1000;
    const bytesOut = ((hb.member + hb.member) * 1000) / perHb + (hb.leader * 1000) / perHb / opts.members;
    run.idle = {
      windowS: secs,
      cpuPctPerAgent: { median: median(cpu), max: Math.max(...cpu) },
      rssMiBPerAgent: { median: median(rss), max: Math.max(...rss) },
      rssSplitMiBPerAgent: { anon: median(rssAnon), file: median(rssFile) },
      bareNode: { cpuPct: b0 && b1 ? ((b1.cpuS - b0.cpuS) / secs) * 100 : NaN, rssMiB: b1?.rssMiB ?? NaN },
      termChanges,
      msgsPerSecPerAgent: { out: median(out) / secs, in: median(inn) / secs },
      bytesPerSecPerAgentOut: bytesOut,
    };
    log(`  idle ${opts.members} × ${opts.timers} over ${Math.round(secs)} s: CPU ${median(cpu).toFixed(2)} % per agent (bare node ${run.idle.bareNode.cpuPct.toFixed(2)} %), RSS ${median(rss).toFixed(1)} MiB (anon ${median(rssAnon).toFixed(1)}, file ${median(rssFile).toFixed(1)}; bare node ${run.idle.bareNode.rssMiB.toFixed(1)}), term changes ${termChanges}, msgs/s out ${run.idle.msgsPerSecPerAgent.out.toFixed(1)} in ${run.idle.msgsPerSecPerAgent.in.toFixed(1)}`);
    return run;
  } finally {
    bare?.kill('SIGKILL');
    await c.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10' }, window: { type: 'string', default: '20' }, timers: { type: 'string', default: 'riaps' }, cli: { type: 'string' } } });
  for (const n of values.sizes!.split(',').map(Number)) {
    const r = await fleetRun({ members: n, timers: values.timers!, idleWindowS: Number(values.window), ...(values.cli ? { cli: values.cli } : {}), log: (s) => console.log(s) });
    console.log(JSON.stringify(r));
  }
}
