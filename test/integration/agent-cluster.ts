/**
 * A cluster of real `cohort agent` processes on loopback, for the agents-*
 * integration tests: each agent is `node --import tsx agent/cli.ts agent ...`
 * with static peers (every bus of the cluster), its own bus and HTTP ports, and
 * the per-agent options of {@link AgentSpec}. The tests drive and observe the
 * agents only through their HTTP face (GET /status, GET /events, POST /groups/...).
 *
 * Every process the cluster starts is tracked by PID and killed with SIGKILL by
 * {@link AgentCluster.close} (registered with t.teardown by {@link startCluster}),
 * on process exit, and on SIGINT/SIGTERM/SIGHUP of the test process, so a failing
 * or timed-out test never leaves agents behind. Nothing is ever killed by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '../../agent/free-port.js';
import type { AgentStatus, GroupStatus } from '../../agent/runtime/agent.js';
import type { LoggedEvent } from '../../agent/runtime/event-log.js';

export type { AgentStatus, GroupStatus, LoggedEvent };

import { httpGetOk, httpJson, httpPostOk, type HttpReply, type HttpTarget } from '../support/http.js';
import { CLI, REPO_ROOT } from '../support/repo.js';
import { atExit } from '../support/cleanup.js';
import { commonLeader } from '../support/leader.js';
import { waitFor } from '../support/wait.js';

export { CLI, FIXTURES, REPO_ROOT } from '../support/repo.js';
export { waitFor } from '../support/wait.js';
export type { HttpReply } from '../support/http.js';
const HOST = '127.0.0.1';

export interface AgentSpec {
  /** Node name (default `n<i+1>`). */
  node?: string;
  /** `--group` values (repeatable). Default `['G.a']`. With components, the components join them. */
  groups?: string[];
  /** `--min-size` (default 2). */
  minSize?: number;
  /** `--timers` preset or spec (default `lan`). */
  timers?: string;
  /** `--auto-vote` (default: none, i.e. the agent's own default, abstain). */
  autoVote?: 'yes' | 'no' | 'abstain';
  /** `--component` module paths (absolute, or relative to the repo root). */
  components?: string[];
  /** `--state-dir`: a path, or true for a fresh temporary directory (kept across restarts). */
  stateDir?: string | true;
  /** A config object written to a temporary JSON (= YAML) file and passed with `--config`; flags override it. */
  config?: Record<string, unknown>;
  /** More command-line arguments, appended last. */
  extraArgs?: string[];
  /** More environment variables for the process. */
  env?: Record<string, string>;
  /** `--log-level` (default warn). */
  logLevel?: string;
  /** Do not start this agent with the cluster; start it later with {@link AgentCluster.start}. */
  deferStart?: boolean;
  /** Run `command ...args agent ...` instead of the source tree's CLI through tsx, e.g. an
   *  installed bundle's `cohort`, or its Node.js under an emulator (test/arm). */
  launch?: { command: string; args: string[] };
  /** The agent's HTTP token file: every request of the cluster sends it as a bearer token. */
  httpTokenFile?: string;
}

export interface ClusterOptions {
  /** Defaults applied to every agent (each spec overrides). */
  defaults?: AgentSpec;
  /** Bus endpoints (`host:port`) added to every agent's --peers, e.g. a raw test publisher. */
  extraPeers?: string[];
  /** How long to wait for an agent's HTTP server (default 20 s: tsx startup on a loaded 2-core box). */
  readyTimeoutMs?: number;
  /** List the cluster's own peers as `node@host:port` (secure mode needs it). */
  namedPeers?: boolean;
}

export interface AgentProcess {
  index: number;
  node: string;
  busPort: number;
  directPort: number;
  httpPort: number;
  url: string;
  spec: AgentSpec;
  args: string[];
  proc: ChildProcess | null;
  alive: boolean;
  /** How many times it was started. */
  starts: number;
  /** The last lines of its stdout/stderr (pino JSON), for failure messages. */
  output: string[];
  /** Lines and bytes it wrote to stdout/stderr since the cluster was made (all starts). */
  outputLines?: number;
  outputBytes?: number;
}

export interface CommonLeader {
  leader: string;
  term: number;
  /** ms from the call until agreement was seen. */
  ms: number;
  statuses: AgentStatus[];
}

export interface LeaderQuery {
  /** Agents to look at (default: every live agent). */
  among?: number[];
  /** Leaders (member ids) that do not count, e.g. the one just killed. */
  exclude?: string[];
  /** Require every looked-at agent to list this many members (default: no check). */
  members?: number;
  /** Require a term strictly greater than this. */
  termAbove?: number;
  timeoutMs?: number;
}

// ------------------------------------------------------------ process bookkeeping

/** Every child started by any cluster in this process, by PID: killed if the test process goes away. */
const liveChildren = new Set<ChildProcess>();

function killAllChildren(): void {
  for (const c of liveChildren) {
    try {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
}

// ------------------------------------------------------------ small utilities

export { freePort, freePorts } from '../../agent/free-port.js';

export function groupOf(status: AgentStatus, group: string, component = 'agent'): GroupStatus | undefined {
  return status.groups.find((g) => g.group === group && g.component === component) ?? (component === 'agent' ? undefined : status.groups.find((g) => g.group === group));
}

// ------------------------------------------------------------ the cluster

export class AgentCluster {
  readonly agents: AgentProcess[] = [];
  private readonly tmpDirs: string[] = [];
  private closed = false;
  private readonly lineWatchers = new Map<number, Array<(line: string) => void>>();

  private constructor(private readonly opts: ClusterOptions) {}

  /** Allocate ports for every agent and start those not deferred. */
  static async create(specs: AgentSpec[], opts: ClusterOptions = {}): Promise<AgentCluster> {
    atExit(killAllChildren);
    const c = new AgentCluster(opts);
    const ports = await freePorts(specs.length * 3);
    const nameOf = (i: number) => ({ ...opts.defaults, ...specs[i] }).node ?? `n${i + 1}`;
    const peers = [...specs.map((_, i) => `${opts.namedPeers ? `${nameOf(i)}@` : ''}${HOST}:${ports[3 * i]}`), ...(opts.extraPeers ?? [])].join(',');
    specs.forEach((s, i) => {
      const spec: AgentSpec = { ...opts.defaults, ...s, env: { ...opts.defaults?.env, ...s.env } };
      const node = spec.node ?? `n${i + 1}`;
      const [busPort, directPort, httpPort] = [ports[3 * i]!, ports[3 * i + 1]!, ports[3 * i + 2]!];
      c.agents.push({ index: i, node, busPort, directPort, httpPort, url: `http://${HOST}:${httpPort}`, spec, args: c.argsFor(spec, node, busPort, directPort, httpPort, peers), proc: null, alive: false, starts: 0, output: [] });
    });
    try {
      await Promise.all(c.agents.filter((a) => !a.spec.deferStart).map((a) => c.start(a.index)));
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private readonly stateDirs = new Map<string, string>();
  /** One temporary state directory per node, kept across its restarts. */
  private stateDirOf(node: string): string {
    let d = this.stateDirs.get(node);
    if (!d) this.stateDirs.set(node, (d = this.tmp(`state-${node}`)));
    return d;
  }

  private tmp(prefix: string): string {
    const d = mkdtempSync(join(tmpdir(), `cohort-${prefix}-`));
    this.tmpDirs.push(d);
    return d;
  }

  private argsFor(spec: AgentSpec, node: string, busPort: number, directPort: number, httpPort: number, peers: string): string[] {
    const args = [...(spec.launch ? spec.launch.args : ['--import', 'tsx', CLI]), 'agent', '--node', node, '--listen', HOST, '--bus-port', String(busPort), '--direct-port', String(directPort), '--peers', peers, '--http', `${HOST}:${httpPort}`];
    if (spec.config) {
      const file = join(this.tmp('config'), `${node}.yaml`);
      writeFileSync(file, JSON.stringify(spec.config, null, 2));
      args.push('--config', file);
    }
    for (const g of spec.groups ?? ['G.a']) args.push('--group', g);
    args.push('--min-size', String(spec.minSize ?? 2));
    args.push('--timers', spec.timers ?? 'lan');
    if (spec.autoVote) args.push('--auto-vote', spec.autoVote);
    for (const c of spec.components ?? []) args.push('--component', resolve(REPO_ROOT, c));
    // Never the machine's default state directory: each node of the cluster gets its own temporary one.
    args.push('--state-dir', typeof spec.stateDir === 'string' ? spec.stateDir : this.stateDirOf(node));
    args.push('--log-level', spec.logLevel ?? 'warn');
    args.push(...(spec.extraArgs ?? []));
    return args;
  }

  agent(i: number): AgentProcess {
    const a = this.agents[i];
    if (!a) throw new Error(`no agent #${i}`);
    return a;
  }

  /** `<node>/<component>` of agent i. */
  memberId(i: number, component = 'agent'): string {
    return `${this.agent(i).node}/${component}`;
  }

  /** Index of the agent whose node hosts `memberId`. */
  indexOf(memberId: string): number {
    const node = memberId.split('/')[0];
    const i = this.agents.findIndex((a) => a.node === node);
    if (i < 0) throw new Error(`no agent hosts ${memberId}`);
    return i;
  }

  live(): number[] {
    return this.agents.filter((a) => a.alive).map((a) => a.index);
  }

  /** Start (or start again) agent i with its original arguments (same node name and ports); resolves when its HTTP server answers. */
  async start(i: number): Promise<void> {
    if (this.closed) throw new Error('cluster closed');
    const a = this.agent(i);
    if (a.alive) throw new Error(`agent ${a.node} is already running`);
    const proc = spawn(a.spec.launch?.command ?? process.execPath, a.args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_PRETTY_LOGS: '1', ...a.spec.env },
    });
    liveChildren.add(proc);
    a.proc = proc;
    a.alive = true;
    a.starts++;
    const keep = (chunk: Buffer) => {
      a.outputBytes = (a.outputBytes ?? 0) + chunk.length;
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        a.output.push(line);
        a.outputLines = (a.outputLines ?? 0) + 1;
        for (const fn of this.lineWatchers.get(i) ?? []) fn(line);
      }
      if (a.output.length > 200) a.output.splice(0, a.output.length - 200);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let exited: string | null = null;
    proc.once('exit', (code, signal) => {
      liveChildren.delete(proc);
      if (a.proc === proc) a.alive = false;
      exited = `exit code ${code}, signal ${signal}`;
    });
    const timeout = this.opts.readyTimeoutMs ?? 20_000;
    const start = performance.now();
    for (;;) {
      if (exited) throw new Error(`agent ${a.node} exited while starting (${exited}):\n${a.output.slice(-20).join('\n')}`);
      try {
        if ((await httpJson(this.http(a.index), undefined, 'GET', '/status', undefined, 1000)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (performance.now() - start > timeout) throw new Error(`agent ${a.node} did not serve /status within ${timeout} ms:\n${a.output.slice(-20).join('\n')}`);
      await sleep(50);
    }
  }

  /**
   * Send a signal to agent i by its PID and wait for it to exit (SIGKILL = crash,
   * SIGTERM = graceful stop: it leaves its groups, a leader hands over).
   */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const a = this.agent(i);
    const proc = a.proc;
    if (!proc || !a.alive || proc.exitCode !== null || proc.signalCode !== null) throw new Error(`agent ${a.node} is not running`);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, sig) => res({ code, signal: sig })));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
      a.alive = false;
    }
  }

  /** Send any signal to agent i by its PID without waiting (e.g. SIGSTOP / SIGCONT to freeze and resume it). */
  signal(i: number, signal: NodeJS.Signals): void {
    const a = this.agent(i);
    if (!a.proc || !a.alive) throw new Error(`agent ${a.node} is not running`);
    a.proc.kill(signal);
  }

  /** Kill agent i if running (SIGKILL unless told), then start it again: same node name, same bus and HTTP ports. */
  async restart(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.agent(i).alive) await this.kill(i, signal);
    await this.start(i);
  }

  // -------------------------------------------------------------- HTTP

  /** Where agent i serves HTTP (with its bearer token, if it has one). */
  private http(i: number): HttpTarget {
    return { host: HOST, port: this.agent(i).httpPort, headers: this.auth(i) };
  }

  /** The bearer-token header for agent i, if it has a token file (read each time: the agent creates it). */
  auth(i: number): Record<string, string> {
    const file = this.agent(i).spec.httpTokenFile;
    if (!file) return {};
    try {
      return { authorization: `Bearer ${readFileSync(file, 'utf8').trim()}` };
    } catch {
      return {};
    }
  }

  /** GET whatever the status; the body parsed if JSON (/status, /events), else text (/metrics). */
  getReply<T = string>(i: number, path: string): Promise<HttpReply<T>> {
    return httpJson<T>(this.http(i), undefined, 'GET', path, undefined, 3000);
  }

  async get<T>(i: number, path: string): Promise<T> {
    return httpGetOk<T>(this.http(i), undefined, path, 3000, this.agent(i).node);
  }

  status(i: number): Promise<AgentStatus> {
    return this.get<AgentStatus>(i, '/status');
  }

  /** Events logged by agent i with seq > after (oldest first). */
  events(i: number, after = 0): Promise<LoggedEvent[]> {
    return this.get<LoggedEvent[]>(i, `/events?after=${after}`);
  }

  /** Wait until every agent in `among` logged an event of `type` for `ballotId`; returns them by agent index. */
  async onAll(type: string, ballotId: string, timeoutMs: number, among = this.live(), intervalMs?: number): Promise<Map<number, LoggedEvent>> {
    const found = new Map<number, LoggedEvent>();
    await waitFor(
      async () => {
        for (const i of among) {
          if (found.has(i)) continue;
          const e = (await this.events(i)).find((x) => x.type === type && x.ballotId === ballotId);
          if (e) found.set(i, e);
        }
        return found.size === among.length;
      },
      timeoutMs,
      () => `${type} for ${ballotId} on every agent (got ${found.size}/${among.length})`,
      intervalMs === undefined ? {} : { intervalMs },
    );
    return found;
  }

  /** Highest event seq agent i has logged so far (use as `after` to see only what comes next). */
  async lastSeq(i: number): Promise<number> {
    const evs = await this.events(i);
    return evs.length ? evs[evs.length - 1]!.seq : 0;
  }

  /** POST a JSON body; never throws for an HTTP error status (tests check it). */
  post<T = Record<string, unknown>>(i: number, path: string, body: unknown = {}): Promise<HttpReply<T>> {
    return httpJson<T>(this.http(i), undefined, 'POST', path, body, 5000);
  }

  /** POST that must succeed (2xx); returns the body. */
  postOk<T = Record<string, unknown>>(i: number, path: string, body: unknown = {}): Promise<T> {
    return httpPostOk<T>(this.http(i), undefined, path, body, 5000, this.agent(i).node);
  }

  // -------------------------------------------------------------- waiting

  waitFor<T>(probe: () => T | Promise<T>, timeoutMs: number, what?: string): Promise<Exclude<T, undefined | null | false>> {
    return waitFor(probe, timeoutMs, what);
  }

  /** Statuses of the given agents (default: all live); throws if one does not answer. */
  async statuses(among: number[] = this.live()): Promise<AgentStatus[]> {
    return Promise.all(among.map((i) => this.status(i)));
  }

  /**
   * Wait until the looked-at agents agree on one leader for `group` (for their
   * member of `component`), in the sense of test/support/leader.ts (same leader id
   * and term everywhere, and the leader reports itself leader), a leader not in
   * `exclude`. Returns the leader, its term and the time taken.
   */
  async waitForCommonLeader(group: string, q: LeaderQuery = {}, component = 'agent'): Promise<CommonLeader> {
    const start = performance.now();
    let last = '';
    try {
      return await waitFor(
        async () => {
          const among = q.among ?? this.live();
          const statuses = await this.statuses(among);
          const gs = statuses.map((s) => groupOf(s, group, component));
          last = JSON.stringify(gs.map((g, k) => ({ node: statuses[k]!.node, role: g?.role, leader: g?.leader, term: g?.term, members: g?.members })));
          const agreed = commonLeader(gs.map((g, k) => ({ name: statuses[k]!.node, memberId: g?.memberId, role: g?.role, leader: g?.leader, term: g?.term })));
          if (!agreed || q.exclude?.includes(agreed.leader)) return null;
          if (q.members !== undefined && !gs.every((g) => g!.members.length === q.members)) return null;
          if (q.termAbove !== undefined && agreed.term <= q.termAbove) return null;
          return { ...agreed, ms: Math.round(performance.now() - start), statuses };
        },
        q.timeoutMs ?? 15_000,
        `a common leader of ${group}`,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: ${last}`);
    }
  }

  /**
   * Wait until agent i has logged an event matching `pred` (after seq `after`); returns it.
   */
  async waitForEvent(i: number, pred: (e: LoggedEvent) => boolean, timeoutMs: number, after = 0, what = 'an event'): Promise<LoggedEvent> {
    return waitFor(async () => (await this.events(i, after)).find(pred), timeoutMs, `${what} on ${this.agent(i).node}`);
  }

  /** Log lines of agent i (pino JSON) at level error (50) or above, from its last 200 lines. */
  loggedErrors(i: number): string[] {
    return this.agent(i).output.filter((line) => {
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 50;
      } catch {
        return false;
      }
    });
  }

  /** Call `fn` with every log line agent i writes from now on (all of them, not just the last 200). Returns an unsubscribe. */
  onLine(i: number, fn: (line: string) => void): () => void {
    const list = this.lineWatchers.get(i) ?? [];
    list.push(fn);
    this.lineWatchers.set(i, list);
    return () => {
      const k = list.indexOf(fn);
      if (k >= 0) list.splice(k, 1);
    };
  }

  /** Resident set size of agent i in bytes (Linux /proc), or null if unknown. */
  rss(i: number): number | null {
    const pid = this.agent(i).proc?.pid;
    if (pid === undefined) return null;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** The tail of agent i's log output (for diagnostics). */
  output(i: number, lines = 30): string {
    return this.agent(i).output.slice(-lines).join('\n');
  }

  /** SIGKILL every process this cluster started (by PID) and wait for them; remove temp dirs. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.agents.map(async (a) => {
        const p = a.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((res) => p.once('exit', () => res()));
        try {
          p.kill('SIGKILL');
        } catch {
          // gone
        }
        await Promise.race([exited, sleep(5000)]);
        a.alive = false;
      }),
    );
    for (const d of this.tmpDirs) rmSync(d, { recursive: true, force: true });
  }
}

/** What startCluster needs from a tap test. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

/** Create a cluster whose processes are killed when the test `t` ends, pass or fail. */
export async function startCluster(t: TeardownHost, specs: AgentSpec[] | number, opts: ClusterOptions = {}): Promise<AgentCluster> {
  const list = typeof specs === 'number' ? Array.from({ length: specs }, () => ({})) : specs;
  const c = await AgentCluster.create(list, opts);
  t.teardown(() => c.close());
  return c;
}
