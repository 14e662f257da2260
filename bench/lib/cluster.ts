/**
 * Real `cohort agent` processes on loopback for the benchmarks, run from the built
 * dist/ (no tsx start-up cost), driven and observed over HTTP. Unlike LocalCluster
 * (agent/local-cluster.ts) an agent can be restarted in place, so a failover series
 * reuses one cluster. Every process is tracked by PID and killed on stop() or exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentStatus } from '../../agent/runtime/agent.js';
import type { LoggedEvent } from '../../agent/runtime/event-log.js';
import { freePort, sleep } from './stats.js';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DIST_CLI = join(REPO, 'dist/agent/cli.js');

export interface BenchAgent {
  i: number;
  node: string;
  http: string;
  proc: ChildProcess | null;
  alive: boolean;
  args: string[];
}

const all = new Set<BenchCluster>();
process.once('exit', () => { for (const c of all) c.killNow(); });

export async function getJson<T>(url: string, init?: RequestInit, timeoutMs = 3000): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

export class BenchCluster {
  readonly agents: BenchAgent[] = [];
  private readonly stateDir = mkdtempSync(join(tmpdir(), 'cohort-bench-'));

  private constructor(readonly group: string) {
    all.add(this);
  }

  static async start(opts: { members: number; timers: string; minSize?: number; group?: string; autoVote?: 'yes' | 'no' | 'abstain'; prefix?: string; extraArgs?: string[]; nodeArgs?: string[] }): Promise<BenchCluster> {
    const group = opts.group ?? 'Bench.g';
    const c = new BenchCluster(group);
    const n = opts.members;
    const buses = await Promise.all(Array.from({ length: n }, freePort));
    const https = await Promise.all(Array.from({ length: n }, freePort));
    const peers = buses.map((p) => `127.0.0.1:${p}`).join(',');
    for (let i = 0; i < n; i++) {
      const node = `${opts.prefix ?? 'bn'}${i + 1}`;
      const args = [...(opts.nodeArgs ?? []), DIST_CLI, 'agent', '--node', node, '--group', group, '--min-size', String(opts.minSize ?? Math.floor(n / 2) + 1), '--bus-port', String(buses[i]),
        '--peers', peers, '--http', `127.0.0.1:${https[i]}`, '--timers', opts.timers, '--auto-vote', opts.autoVote ?? 'yes', '--state-dir', c.stateDir, '--log-level', 'error', ...(opts.extraArgs ?? [])];
      const a: BenchAgent = { i, node, http: `http://127.0.0.1:${https[i]}`, proc: null, alive: false, args };
      c.agents.push(a);
      c.spawn(a);
    }
    return c;
  }

  private spawn(a: BenchAgent): void {
    const proc = spawn(process.execPath, a.args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_PRETTY_LOGS: '1' } });
    a.proc = proc;
    a.alive = true;
    proc.once('exit', () => { if (a.proc === proc) a.alive = false; });
  }

  /** Start a stopped agent again (same node, ports and state). */
  restart(a: BenchAgent): void {
    if (a.alive) return;
    this.spawn(a);
  }

  live(): BenchAgent[] {
    return this.agents.filter((a) => a.alive);
  }

  pids(): number[] {
    return this.live().map((a) => a.proc!.pid!);
  }

  async status(a: BenchAgent): Promise<AgentStatus | null> {
    try {
      return await getJson<AgentStatus>(`${a.http}/status`);
    } catch {
      return null;
    }
  }

  async events(a: BenchAgent, after = 0): Promise<LoggedEvent[]> {
    return getJson<LoggedEvent[]>(`${a.http}/events?after=${after}`);
  }

  /** Until every agent in `among` (default: the live ones) answers /status; returns ms waited or null. */
  async waitReady(timeoutMs: number, among = this.live()): Promise<number | null> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const st = await Promise.all(among.map((a) => this.status(a)));
      if (st.every((s) => s !== null)) return performance.now() - t0;
      await sleep(20);
    }
    return null;
  }

  /** Until every agent in `among` reports the same leader (not `not`) and, if `members`, that many members. */
  async waitForLeader(timeoutMs: number, opts: { not?: string | null; members?: number; among?: BenchAgent[]; pollMs?: number } = {}): Promise<{ leader: string; term: number; ms: number } | null> {
    const among = opts.among ?? this.live();
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const st = await Promise.all(among.map((a) => this.status(a)));
      const gs = st.map((s) => s?.groups.find((g) => g.group === this.group));
      const leader = gs[0]?.leader ?? null;
      if (leader && leader !== opts.not && gs.every((g) => g?.leader === leader && (opts.members === undefined || g.members.length === opts.members))) {
        return { leader, term: gs[0]!.term, ms: performance.now() - t0 };
      }
      await sleep(opts.pollMs ?? 20);
    }
    return null;
  }

  byMember(member: string): BenchAgent | undefined {
    return this.agents.find((a) => a.node === member.split('/')[0]);
  }

  kill(a: BenchAgent, signal: NodeJS.Signals): void {
    a.proc?.kill(signal);
  }

  /** Wait until `a`'s process has exited. */
  async exited(a: BenchAgent, timeoutMs = 10_000): Promise<void> {
    const p = a.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) { a.alive = false; return; }
    await Promise.race([new Promise((r) => p.once('exit', r)), sleep(timeoutMs)]);
    a.alive = false;
  }

  killNow(): void {
    for (const a of this.agents) if (a.alive) a.proc?.kill('SIGKILL');
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    all.delete(this);
    const live = this.live();
    for (const a of live) a.proc?.kill('SIGKILL');
    await Promise.all(live.map((a) => this.exited(a, 5000)));
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** CPU seconds (user + system) and RSS of a process, from /proc (Linux). */
export function procStat(pid: number): { cpuS: number; rssMiB: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
    return { cpuS: ticks / CLK_TCK, rssMiB: rss };
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100;
