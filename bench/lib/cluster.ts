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
import { freePorts } from '../../agent/free-port.js';
import { sleep } from './stats.js';

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

export interface ClusterOptions {
  members: number;
  timers: string;
  minSize?: number;
  group?: string;
  autoVote?: 'yes' | 'no' | 'abstain';
  prefix?: string;
  extraArgs?: string[];
  nodeArgs?: string[];
  /** The CLI the agents run (default dist/agent/cli.js). */
  cli?: string;
  /** Starts tried when a port is taken (default 4). */
  attempts?: number;
  readyTimeoutMs?: number;
  log?: (s: string) => void;
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

  /**
   * Spawn the agents and wait until every one answers /status. An agent that exits at
   * start-up because a port was taken after it was picked ("already in use") makes the
   * whole cluster start again on other ports (the peer lists name every bus port), up to
   * `attempts` times, so a lost port costs a retry, not an empty benchmark row. Any other
   * start-up failure is left to the caller (waitReady times out; startupMs stays null).
   */
  static async start(opts: ClusterOptions): Promise<BenchCluster> {
    const attempts = opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      const c = new BenchCluster(opts.group ?? 'Bench.g');
      c.spawnAll(opts, await freePorts(2 * opts.members));
      const outcome = await c.settle(opts.readyTimeoutMs ?? 120_000);
      if (outcome !== 'port-taken' || attempt >= attempts) return c;
      opts.log?.(`  a port was taken before an agent bound it: starting the cluster again on other ports (attempt ${attempt + 1})`);
      await c.stop();
    }
  }

  /** Spawn → every agent answering /status (ms), of the start that was kept; null if it never got there. */
  startupMs: number | null = null;
  private spawnedAt = 0;
  private portTaken = false;

  private spawnAll(opts: ClusterOptions, ports: number[]): void {
    const n = opts.members;
    const buses = ports.slice(0, n);
    const https = ports.slice(n);
    const peers = buses.map((p) => `127.0.0.1:${p}`).join(',');
    this.spawnedAt = performance.now();
    for (let i = 0; i < n; i++) {
      const node = `${opts.prefix ?? 'bn'}${i + 1}`;
      const args = [...(opts.nodeArgs ?? []), opts.cli ?? DIST_CLI, 'agent', '--node', node, '--group', this.group, '--min-size', String(opts.minSize ?? Math.floor(n / 2) + 1), '--bus-port', String(buses[i]),
        '--peers', peers, '--http', `127.0.0.1:${https[i]}`, '--timers', opts.timers, '--auto-vote', opts.autoVote ?? 'yes', '--state-dir', this.stateDir, '--log-level', 'error', ...(opts.extraArgs ?? [])];
      const a: BenchAgent = { i, node, http: `http://127.0.0.1:${https[i]}`, proc: null, alive: false, args };
      this.agents.push(a);
      this.spawn(a);
    }
  }

  /** Until all answer /status ('ready'), one could not bind its port ('port-taken'), or the timeout. */
  private async settle(timeoutMs: number): Promise<'ready' | 'port-taken' | 'timeout'> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      if (this.portTaken) return 'port-taken';
      const st = await Promise.all(this.agents.map((a) => this.status(a)));
      if (st.every((s) => s !== null)) {
        this.startupMs = performance.now() - this.spawnedAt;
        return 'ready';
      }
      await sleep(20);
    }
    return this.portTaken ? 'port-taken' : 'timeout';
  }

  private spawn(a: BenchAgent): void {
    const proc = spawn(process.execPath, a.args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_PRETTY_LOGS: '1' } });
    a.proc = proc;
    a.alive = true;
    // The agents' stderr still reaches ours; a line about a taken port is noted.
    proc.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      if (/already in use/.test(d.toString())) this.portTaken = true;
    });
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

/**
 * CPU seconds (user + system) and RSS of a process, from /proc (Linux). RSS split as the
 * kernel counts it: anonymous (heaps, stacks: this process's own) and file-backed (the
 * node binary's and libraries' code pages, which every Node process on the machine shares).
 */
export function procStat(pid: number): { cpuS: number; rssMiB: number; rssAnonMiB: number; rssFileMiB: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
    return { cpuS: ticks / CLK_TCK, rssMiB: kib('VmRSS'), rssAnonMiB: kib('RssAnon'), rssFileMiB: kib('RssFile') };
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100;
