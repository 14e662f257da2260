/**
 * etcd side by side: a 3-member etcd cluster on loopback (Debian's etcd 3.4, started and
 * stopped here) against 3 Cohort agents with the same timers, the leader killed the same
 * way (SIGKILL, and SIGSTOP for silence), interleaved. Time: from the signal to the last
 * survivor's log line (etcd) or event (Cohort) naming the new leader.
 *
 * Timer mapping: etcd --heartbeat-interval 100 --election-timeout 1000 (etcd draws each
 * election timeout from [1000, 2000) ms) ⇔ Cohort heartbeat 100, electionMin 1000,
 * electionMax 2000, peerTimeout 2500 (must exceed electionMax; etcd has no counterpart:
 * its membership is static). etcd 3.4 runs without pre-vote by default (Cohort always
 * pre-votes).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchCluster } from './lib/cluster.js';
import { failoverTrial, type FailSignal } from './failover.js';
import { freePort, sleep, summarize, type Summary } from './lib/stats.js';

export const ETCD_TIMERS = { heartbeat: 100, election: 1000 };
export const COHORT_ETCD_TIMERS = 'heartbeat=100,electionMin=1000,electionMax=2000,peerTimeout=2500,consensusTimeout=1500';

export function etcdAvailable(): string | null {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'etcd not installed (apt-get install etcd-server etcd-client)';
  const c = spawnSync('etcdctl', ['version'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  if (c.error || c.status !== 0) return 'etcdctl not installed (apt-get install etcd-client)';
  return null;
}

interface EtcdMember {
  name: string;
  client: string;
  peer: string;
  dir: string;
  proc: ChildProcess | null;
  /** Times (epoch ms) at which this member logged "elected leader <id>", with the id. */
  elected: Array<{ at: number; leader: string }>;
  id: string;
}

class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), 'cohort-etcd-'));
  private initialCluster = '';

  static async start(n = 3): Promise<EtcdCluster> {
    const c = new EtcdCluster();
    for (let i = 0; i < n; i++) {
      const [cp, pp] = [await freePort(), await freePort()];
      c.members.push({ name: `e${i + 1}`, client: `http://127.0.0.1:${cp}`, peer: `http://127.0.0.1:${pp}`, dir: join(c.root, `e${i + 1}`), proc: null, elected: [], id: '' });
    }
    c.initialCluster = c.members.map((m) => `${m.name}=${m.peer}`).join(',');
    for (const m of c.members) c.spawn(m, 'new');
    return c;
  }

  private spawn(m: EtcdMember, state: 'new' | 'existing'): void {
    const args = ['--name', m.name, '--data-dir', m.dir, '--listen-peer-urls', m.peer, '--initial-advertise-peer-urls', m.peer, '--listen-client-urls', m.client,
      '--advertise-client-urls', m.client, '--initial-cluster', this.initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', 'cohort-bench',
      '--heartbeat-interval', String(ETCD_TIMERS.heartbeat), '--election-timeout', String(ETCD_TIMERS.election), '--logger', 'zap', '--log-outputs', 'stderr'];
    const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    m.proc = proc;
    let buf = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes('elected leader')) continue;
        try {
          const j = JSON.parse(line) as { ts: string | number; msg: string };
          const at = typeof j.ts === 'number' ? j.ts * 1000 : Date.parse(j.ts);
          const who = /elected leader ([0-9a-f]+) at term/.exec(j.msg)?.[1] ?? '';
          m.elected.push({ at, leader: who });
        } catch {
          // not JSON: ignore
        }
      }
    });
    proc.once('exit', () => { if (m.proc === proc) m.proc = null; });
  }

  restart(m: EtcdMember): void {
    if (!m.proc) this.spawn(m, 'existing');
  }

  /** The leader's member id as every live member reports it, or null. */
  async leader(among = this.members.filter((m) => m.proc)): Promise<{ leader: string; byMember: Map<string, string> } | null> {
    const r = spawnSync('etcdctl', ['--endpoints', among.map((m) => m.client).join(','), 'endpoint', 'status', '-w', 'json', '--command-timeout=1s'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    try {
      // Member ids are 64-bit: keep them exact (as strings) rather than rounded doubles.
      const st = JSON.parse(r.stdout.replace(/:(\d{15,})/g, ':"$1"')) as Array<{ Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }>;
      if (st.length !== among.length) return null;
      const hex = (v: number | string) => BigInt(v).toString(16);
      const byMember = new Map<string, string>();
      for (const s of st) {
        const m = among.find((x) => x.client === s.Endpoint);
        if (m) { m.id = hex(s.Status.header.member_id); byMember.set(m.name, hex(s.Status.leader)); }
      }
      const leaders = new Set(byMember.values());
      const [leader] = [...leaders];
      return leaders.size === 1 && leader && leader !== '0' ? { leader, byMember } : null;
    } catch {
      return null;
    }
  }

  async waitLeader(timeoutMs: number, opts: { not?: string; among?: EtcdMember[] } = {}): Promise<string | null> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const l = await this.leader(opts.among);
      if (l && l.leader !== opts.not) return l.leader;
      await sleep(100);
    }
    return null;
  }

  async trial(signal: 'SIGKILL' | 'SIGSTOP'): Promise<number | null> {
    const old = await this.waitLeader(30_000);
    if (!old) return null;
    await sleep(200 + Math.random() * ETCD_TIMERS.heartbeat);
    const victim = this.members.find((m) => m.id === old)!;
    const survivors = this.members.filter((m) => m !== victim);
    for (const m of survivors) m.elected = [];
    const at = Date.now();
    victim.proc!.kill(signal);
    const now = await this.waitLeader(30_000, { not: old, among: survivors });
    let ms: number | null = null;
    if (now) {
      await sleep(200); // log lines may trail the status
      const times = survivors.map((m) => m.elected.find((e) => e.leader === now)?.at);
      ms = times.every((x) => x !== undefined) ? Math.max(...(times as number[])) - at : null;
    }
    const p = victim.proc;
    if (p) {
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    }
    victim.proc = null;
    this.restart(victim);
    return ms;
  }

  async stop(): Promise<void> {
    const procs = this.members.map((m) => m.proc).filter((p): p is ChildProcess => p !== null);
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)))));
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface EtcdComparison {
  signal: 'SIGKILL' | 'SIGSTOP';
  etcd: Summary;
  cohort: Summary;
  ratio: number;
  etcdMs: number[];
  cohortMs: number[];
}

export async function etcdBench(opts: { trials: number; signals: Array<'SIGKILL' | 'SIGSTOP'>; log?: (s: string) => void }): Promise<{ skipped: string } | { results: EtcdComparison[]; etcdIdle?: { cpuPct: number; rssMiB: number } }> {
  const log = opts.log ?? (() => {});
  const why = etcdAvailable();
  if (why) {
    log(`  etcd comparison skipped: ${why}`);
    return { skipped: why };
  }
  const etcd = await EtcdCluster.start(3);
  const cohort = await BenchCluster.start({ members: 3, timers: COHORT_ETCD_TIMERS, prefix: 'ec' });
  const rec = new Map(opts.signals.map((s) => [s, { etcd: [] as number[], cohort: [] as number[] }]));
  try {
    if (!(await etcd.waitLeader(60_000))) throw new Error('etcd cluster did not elect a leader');
    for (let i = 0; i < opts.trials; i++) {
      for (const signal of opts.signals) {
        const order = i % 2 === 0 ? ['etcd', 'cohort'] as const : ['cohort', 'etcd'] as const;
        for (const who of order) {
          const ms = who === 'etcd' ? await etcd.trial(signal) : await failoverTrial(cohort, signal as FailSignal, 3, 100);
          if (ms !== null) rec.get(signal)![who].push(ms);
          log(`  etcd-vs-cohort ${signal} trial ${i + 1} ${who}: ${ms === null ? 'no agreement' : `${Math.round(ms)} ms`}`);
        }
      }
    }
  } finally {
    await Promise.all([etcd.stop(), cohort.stop()]);
  }
  return {
    results: opts.signals.map((signal) => {
      const r = rec.get(signal)!;
      const e = summarize(r.etcd);
      const c = summarize(r.cohort);
      return { signal, etcd: e, cohort: c, ratio: c.p50 / e.p50, etcdMs: r.etcd, cohortMs: r.cohort };
    }),
  };
}

/** An idle etcd member of a 3-member cluster: CPU % of a core and RSS, over `ms`. */
export async function etcdIdle(ms: number, procStat: (pid: number) => { cpuS: number; rssMiB: number } | null): Promise<{ cpuPct: number; rssMiB: number } | null> {
  if (etcdAvailable()) return null;
  const etcd = await EtcdCluster.start(3);
  try {
    if (!(await etcd.waitLeader(60_000))) return null;
    await sleep(3000);
    const pids = etcd.members.map((m) => m.proc!.pid!);
    const a = pids.map(procStat);
    await sleep(ms);
    const b = pids.map(procStat);
    const cpu = pids.map((_, i) => ((b[i]!.cpuS - a[i]!.cpuS) / (ms / 1000)) * 100);
    return { cpuPct: cpu.reduce((x, y) => x + y, 0) / cpu.length, rssMiB: b.reduce((x, s) => x + s!.rssMiB, 0) / b.length };
  } finally {
    await etcd.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { trials: { type: 'string', default: '3' } } });
  const r = await etcdBench({ trials: Number(values.trials), signals: ['SIGKILL', 'SIGSTOP'], log: (s) => console.log(s) });
  console.log(JSON.stringify(r, (k, v) => (k.endsWith('Ms') ? undefined : v), 1));
}
