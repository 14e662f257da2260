/**
 * A group of real `cohort agent` processes on loopback, driven over their HTTP
 * face. Used by `cohort demo` and the failover benchmark. Every process is
 * tracked by PID and killed on stop() or when this process exits. All agents share
 * one temporary state directory (records are per node, so they never collide),
 * removed on stop() unless the caller gave its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import type { AgentStatus } from './runtime/agent.js';
import type { LoggedEvent } from './runtime/event-log.js';

export interface LocalAgent {
  node: string;
  http: string;
  bus: number;
  proc: ChildProcess;
  alive: boolean;
  lastSeq: number;
}

export interface LocalClusterOptions {
  members: number;
  group: string;
  minSize: number;
  /** `--timers` spec. */
  timers: string;
  /** `--auto-vote` answer for agent i (0-based). */
  autoVote?: (i: number) => 'yes' | 'no' | 'abstain';
  /** The cohort CLI entry (default: the running script, with this process's node flags). */
  cli?: string[];
  nodePrefix?: string;
  /** `--state-dir` for every agent (default: a fresh temporary directory, removed on stop). */
  stateDir?: string;
}

export { freePort } from './free-port.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

export class LocalCluster {
  readonly agents: LocalAgent[] = [];
  /** The agents' state directory. */
  readonly stateDir: string;
  private readonly ownStateDir: boolean;
  private readonly killAll = () => {
    for (const a of this.agents) if (a.alive) a.proc.kill('SIGKILL');
    this.removeState();
  };

  private constructor(readonly opts: LocalClusterOptions) {
    this.ownStateDir = opts.stateDir === undefined;
    this.stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'cohort-state-'));
  }

  private removeState(): void {
    if (this.ownStateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }

  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const c = new LocalCluster(opts);
    const n = opts.members;
    const buses = await Promise.all(Array.from({ length: n }, freePort));
    const https = await Promise.all(Array.from({ length: n }, freePort));
    const peers = buses.map((p) => `127.0.0.1:${p}`).join(',');
    const cli = opts.cli ?? [...process.execArgv, process.argv[1]!];
    process.once('exit', c.killAll);
    for (let i = 0; i < n; i++) {
      const node = `${opts.nodePrefix ?? 'demo'}-${i + 1}`;
      const args = [...cli, 'agent', '--node', node, '--group', opts.group, '--min-size', String(opts.minSize), '--bus-port', String(buses[i]),
        '--peers', peers, '--http', `127.0.0.1:${https[i]}`, '--timers', opts.timers, '--auto-vote', opts.autoVote?.(i) ?? 'yes', '--state-dir', c.stateDir, '--log-level', 'warn'];
      const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_PRETTY_LOGS: '1' } });
      const a: LocalAgent = { node, http: `http://127.0.0.1:${https[i]}`, bus: buses[i]!, proc, alive: true, lastSeq: 0 };
      proc.once('exit', () => (a.alive = false));
      c.agents.push(a);
    }
    return c;
  }

  live(): LocalAgent[] {
    return this.agents.filter((a) => a.alive);
  }

  async statuses(): Promise<AgentStatus[]> {
    const out = await Promise.allSettled(this.live().map((a) => getJson<AgentStatus>(`${a.http}/status`)));
    return out.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** Wait until every live agent reports the same leader (not `not`); with `fullMembership`, also that all see each other. */
  async waitForCommonLeader(timeoutMs: number, not: string | null = null, fullMembership = true): Promise<{ leader: string; term: number; ms: number } | null> {
    const start = performance.now();
    while (performance.now() - start < timeoutMs) {
      const st = await this.statuses();
      const groups = st.map((s) => s.groups.find((g) => g.group === this.opts.group));
      const leader = groups[0]?.leader ?? null;
      if (st.length === this.live().length && leader && leader !== not && groups.every((g) => g?.leader === leader && (!fullMembership || g.members.length === st.length))) {
        return { leader, term: groups[0]!.term, ms: Math.round(performance.now() - start) };
      }
      await sleep(10);
    }
    return null;
  }

  async newEvents(a: LocalAgent): Promise<LoggedEvent[]> {
    const evs = await getJson<LoggedEvent[]>(`${a.http}/events?after=${a.lastSeq}`);
    if (evs.length) a.lastSeq = evs[evs.length - 1]!.seq;
    return evs;
  }

  /** Collect the first event of `type` matching `pred` from every live agent (until timeout). */
  async awaitOnAll(type: string, pred: (e: LoggedEvent) => boolean, timeoutMs: number): Promise<Map<string, LoggedEvent>> {
    const found = new Map<string, LoggedEvent>();
    const start = performance.now();
    const live = this.live();
    while (found.size < live.length && performance.now() - start < timeoutMs) {
      for (const a of live) {
        if (found.has(a.node)) continue;
        const hit = (await this.newEvents(a)).find((e) => e.type === type && pred(e));
        if (hit) found.set(a.node, hit);
      }
      if (found.size < live.length) await sleep(25);
    }
    return found;
  }

  post<T>(a: LocalAgent, verb: string, body: unknown): Promise<T> {
    return getJson<T>(`${a.http}/groups/${this.opts.group}/${verb}`, { method: 'POST', body: JSON.stringify(body) });
  }

  byMember(memberId: string): LocalAgent | undefined {
    return this.agents.find((a) => a.node === memberId.split('/')[0]);
  }

  kill(a: LocalAgent, signal: NodeJS.Signals): void {
    a.proc.kill(signal);
    if (signal === 'SIGKILL') a.alive = false;
  }

  /** SIGTERM everyone (they leave their groups), then wait for the processes to exit. */
  async stop(): Promise<void> {
    for (const a of this.live()) a.proc.kill('SIGTERM');
    await Promise.all(this.agents.map((a) => (a.alive ? new Promise((r) => a.proc.once('exit', r)) : null)));
    process.off('exit', this.killAll);
    this.removeState();
  }
}
