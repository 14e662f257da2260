/**
 * Bench-cluster scenarios: a small format (plain TypeScript data) and a runner
 * that plays one against a {@link Backend}, polls every host's /status every
 * ~100 ms into a {@link Timeline}, checks the expectations, measures the time
 * from each fault to recovery, and writes `<name>.svg`, `<name>.log` and
 * `<name>.json` into a results directory. See docs/bench-cluster.md.
 *
 * Host references (anywhere a host is named):
 *   `h3`         a host by name;
 *   `$leader`    the leader every reachable host agrees on right now;
 *   `$L`         the host saved by an earlier step (`waitForLeader: { save: 'L' }`);
 *   `$L+1`       the host after it in host order (cyclic), `$L-1` before it;
 *   `*`          (partition sides only) every host not named in another side.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentLaunch, Backend, Discovery, LoggedEvent } from './backend.js';
import { short, Timeline, type Measurement, type Role, type Sample } from './timeline.js';
import { judgeLeader, type LeaderVerdict } from '../support/leader.js';

export type HostRef = string;
/** Which hosts a check looks at: host refs, or one side of the current partition. Default: running hosts whose cable is in. */
export type Among = HostRef[] | { side: number };

export interface WaitForLeader {
  /** Give up after this many ms (a failure that ends the scenario). */
  within: number;
  among?: Among;
  /** Leaders that do not count (e.g. `$L`, the one just cut). */
  not?: HostRef[];
  /** Every looked-at host must list this many members. */
  members?: number;
  /** Save the leader (host and term) as `$<save>`. */
  save?: string;
  /** Label of the fault-to-recovery measurement (default: the last fault's text); false: no measurement. */
  measure?: string | false;
}

export interface Expectation {
  /** Hosts with role leader on each side of the current partition (or [all looked-at] without one). */
  leadersPerSide?: number[];
  /** Hosts with role leader among the looked-at hosts. */
  leaders?: number;
  /** Every looked-at host reports the same leader, and that leader (if looked at) has role leader. */
  sameLeaderOnAll?: boolean;
  leaderNot?: HostRef | HostRef[];
  leaderIs?: HostRef;
  /** Every looked-at host is at this term: a number or `$L` (the term saved with L). */
  termIs?: number | string;
  termAbove?: number | string;
  /** Role per host (`down`: not answering; `!leader`: anything but leader). */
  roles?: Record<HostRef, Role | 'down' | `!${Role}`>;
  /** Every looked-at host reports no leader (a minority side, once its follower gave the old leader up). */
  noLeader?: boolean;
  /** Every looked-at host lists this many members. */
  members?: number;
  /** After the rest holds: for this many ms, no looked-at host changes role, term or leader (or stops answering). */
  noFlapWithin?: number;
}

export interface RequestVote {
  from: HostRef;
  kind?: 'majority' | 'consensus';
  topic?: unknown;
  timeoutMs?: number;
  /** Outcome every looked-at host must log (default 'yes'; 'any': just a result). */
  expect?: 'yes' | 'no' | 'timeout' | 'any';
  /** Wait this long for the results (default 6000 ms). */
  within?: number;
  among?: Among;
}

export interface RequestAction {
  from: HostRef;
  /** Action instant: now + inMs on the requester's clock (default 2500). */
  inMs?: number;
  kind?: 'majority' | 'consensus';
  action?: unknown;
  /** Wait this long after the instant for it to fire everywhere (default 4000 ms). */
  within?: number;
  among?: Among;
  /** Hosts whose clock guard must keep them from acting (e.g. a clock far off the group's): they must not fire. */
  notOn?: HostRef[];
}

export type Step =
  | { startHosts: 'all' | HostRef[] }
  | { waitForLeader: WaitForLeader }
  | { kill: { host: HostRef; signal?: NodeJS.Signals } }
  | { cut: { host: HostRef } }
  | { restore: { host: HostRef } }
  | { partition: { sides: HostRef[][] } }
  | { heal: true }
  /** `direction` default 'both' (in and out: on every host that is 1-(1-p)² per path); 'out' on all = p per path. */
  | { loss: { host: HostRef | 'all'; percent: number; direction?: 'both' | 'in' | 'out' } }
  | { delay: { host: HostRef | 'all'; ms: number } }
  | { clockOffset: { host: HostRef; ms: number } }
  | { requestVote: RequestVote }
  | { requestAction: RequestAction }
  | { sleep: number }
  | { expect: Expectation; within?: number; among?: Among; label?: string };

export interface Scenario {
  /** File-safe id: results are `<name>.svg|log|json`. */
  name: string;
  title?: string;
  hosts: number | string[];
  /** Default `Bench.main`. */
  group?: string;
  /** Default: a majority of the hosts. */
  minSize?: number;
  /** `--timers` (default `lan`). */
  timers?: string;
  discovery?: Discovery;
  autoVote?: 'yes' | 'no' | 'abstain';
  /** Wall-clock offsets (ms) applied when the hosts start. */
  clockOffsets?: Record<string, number>;
  /** Kernel settings of every host (`key=value`), as a board owner sets them; backends that cannot apply them ignore them. */
  hostSysctls?: string[];
  /** Status poll period (default 100 ms). */
  pollMs?: number;
  /** A known failure (product limitation): the test runs it as a tap `todo`, so it is measured but does not fail the suite. */
  knownIssue?: string;
  steps: Step[];
}

export interface Reporter {
  check(ok: boolean, message: string, extra?: Record<string, unknown>): void;
  comment(message: string): void;
}

export interface RunOptions {
  /** Where to write `<name>.svg|log|json` (and `<name>.agents/<host>.log`). Default: no files. */
  resultsDir?: string;
  reporter?: Reporter;
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  /** Set when the scenario could not run here (e.g. mDNS not available). */
  skipped?: string;
  failures: string[];
  measurements: Measurement[];
  files: { svg?: string; log?: string; json?: string };
  timeline: Timeline;
}

/** Ends the scenario (the remaining steps make no sense). */
class Fatal extends Error {
  override name = 'Fatal';
}

export function hostNames(hosts: number | string[]): string[] {
  return typeof hosts === 'number' ? Array.from({ length: hosts }, (_, i) => `h${i + 1}`) : [...hosts];
}

export function describeStep(step: Step): string {
  const [key, value] = Object.entries(step)[0] as [string, unknown];
  if (key === 'sleep') return `sleep ${String(value)} ms`;
  if (key === 'heal') return 'heal';
  if (key === 'startHosts') return `start ${value === 'all' ? 'all hosts' : (value as string[]).join(',')}`;
  return `${key} ${JSON.stringify(value)}`;
}

// ------------------------------------------------------------------ the runner

export class ScenarioRunner {
  readonly timeline: Timeline;
  readonly hosts: string[];
  private readonly group: string;
  private readonly alive = new Set<string>();
  private readonly started = new Set<string>();
  private readonly cutHosts = new Set<string>();
  private readonly offsets = new Map<string, number>();
  private sides: string[][] | null = null;
  private readonly vars = new Map<string, { host: string; term: number }>();
  private lastFault: { t: number; text: string; measured: boolean } | null = null;
  private startedAt: number | null = null;
  private readonly failures: string[] = [];
  private polling = false;
  private pollLoop: Promise<void> | null = null;
  private readonly inflight = new Set<string>();
  private readonly reporter: Reporter;

  constructor(
    private readonly backend: Backend,
    readonly scenario: Scenario,
    private readonly opts: RunOptions = {},
  ) {
    this.hosts = [...backend.hosts];
    const wanted = hostNames(scenario.hosts);
    for (const h of wanted) if (!this.hosts.includes(h)) throw new Error(`scenario ${scenario.name} needs host ${h}; the backend has ${this.hosts.join(', ')}`);
    this.hosts = wanted;
    this.group = scenario.group ?? 'Bench.main';
    this.timeline = new Timeline(this.hosts);
    for (const [h, ms] of Object.entries(scenario.clockOffsets ?? {})) this.offsets.set(h, ms);
    this.reporter = opts.reporter ?? { check: () => undefined, comment: () => undefined };
  }

  async run(): Promise<ScenarioResult> {
    const s = this.scenario;
    const files: ScenarioResult['files'] = {};
    if (s.discovery === 'mdns' && !(await this.backend.supportsMdns())) {
      const reason = 'the agent has no --discovery option yet (mDNS discovery not landed)';
      return { name: s.name, ok: true, skipped: reason, failures: [], measurements: [], files, timeline: this.timeline };
    }
    this.startPolling();
    try {
      for (const step of s.steps) {
        this.timeline.mark('step', describeStep(step));
        await this.step(step);
      }
    } catch (err) {
      const msg = err instanceof Fatal ? err.message : `step failed: ${(err as Error).stack ?? String(err)}`;
      this.fail(msg);
    } finally {
      await this.stopPolling();
      if (this.opts.resultsDir) {
        Object.assign(files, this.writeResults(this.opts.resultsDir));
        await this.dumpAgents(this.opts.resultsDir);
      }
    }
    return { name: s.name, ok: this.failures.length === 0, failures: this.failures, measurements: this.timeline.measurements, files, timeline: this.timeline };
  }

  // ---------------------------------------------------------------- reporting

  private fail(message: string): void {
    this.failures.push(message);
    this.timeline.mark('fail', message.split('\n')[0]!.slice(0, 90));
    this.reporter.check(false, message);
  }

  private check(ok: boolean, message: string, details?: string[]): void {
    if (ok) this.reporter.check(true, message);
    else this.fail(`${message}${details?.length ? `: ${details.join('; ')}` : ''}`);
  }

  private writeResults(dir: string): ScenarioResult['files'] {
    mkdirSync(dir, { recursive: true });
    const base = join(dir, this.scenario.name);
    const title = `${this.scenario.name}${this.scenario.title ? ` — ${this.scenario.title}` : ''} (${this.backend.kind}, ${this.hosts.length} hosts, timers ${this.scenario.timers ?? 'lan'}, ${this.scenario.discovery ?? 'static'} discovery)`;
    const svg = `${base}.svg`;
    const log = `${base}.log`;
    const json = `${base}.json`;
    writeFileSync(svg, this.timeline.toSvg(title));
    writeFileSync(log, this.timeline.toText(title, { failures: this.failures.length ? this.failures : 'none' }));
    writeFileSync(json, JSON.stringify({ scenario: this.scenario, backend: this.backend.kind, wall0: this.timeline.wall0, failures: this.failures, measurements: this.timeline.measurements, markers: this.timeline.markers, bands: this.timeline.bands, hostMarks: this.timeline.hostMarks, hosts: this.hosts, samples: this.timeline.samples }, null, 1));
    return { svg, log, json };
  }

  /**
   * Each running agent's event log (GET /events: elections, ballots seen, results, actions) and
   * final status, next to its stdout, for reading a failed run afterwards.
   */
  private async dumpAgents(dir: string): Promise<void> {
    const out = join(dir, `${this.scenario.name}.agents`);
    mkdirSync(out, { recursive: true });
    await Promise.all(
      [...this.started].map(async (h) => {
        try {
          const [events, status] = await Promise.all([this.eventsSince(h, 0), this.backend.status(h)]);
          writeFileSync(join(out, `${h}.events.json`), JSON.stringify({ events, status }, null, 1));
        } catch {
          // not answering (killed, cut): nothing to keep
        }
      }),
    );
  }

  // ---------------------------------------------------------------- polling

  private startPolling(): void {
    this.polling = true;
    const period = this.scenario.pollMs ?? 100;
    this.pollLoop = (async () => {
      while (this.polling) {
        const tick = performance.now();
        for (const h of this.started) if (!this.inflight.has(h)) void this.pollOne(h);
        await sleep(Math.max(5, period - (performance.now() - tick)));
      }
    })();
  }

  private async stopPolling(): Promise<void> {
    this.polling = false;
    await this.pollLoop;
    const until = performance.now() + 2000;
    while (this.inflight.size > 0 && performance.now() < until) await sleep(20);
  }

  private async pollOne(host: string): Promise<void> {
    this.inflight.add(host);
    const sent = this.timeline.now();
    try {
      const st = await this.backend.status(host);
      const g = st.groups.find((x) => x.group === this.group && x.component === 'agent') ?? st.groups.find((x) => x.group === this.group);
      this.timeline.add(
        g
          ? { t: this.timeline.now(), sent, host, up: true, role: g.role, term: g.term, leader: g.leader, members: [...g.members] }
          : { t: this.timeline.now(), sent, host, up: true, role: null },
      );
    } catch (err) {
      this.timeline.add({ t: this.timeline.now(), sent, host, up: false, error: (err as Error).message.slice(0, 80) });
    } finally {
      this.inflight.delete(host);
    }
  }

  /** The latest sample of each host, requested at or after `since`; waits up to 1.5 poll periods for fresh ones. */
  private async fresh(hosts: string[], since: number): Promise<Map<string, Sample | undefined>> {
    const limit = performance.now() + 3 * (this.scenario.pollMs ?? 100) + 1600;
    for (;;) {
      const m = new Map(hosts.map((h) => [h, this.timeline.latest(h)] as const));
      const stale = hosts.filter((h) => !m.get(h) || m.get(h)!.sent < since);
      if (stale.length === 0 || performance.now() > limit) {
        for (const h of stale) m.set(h, undefined);
        return m;
      }
      await sleep(20);
    }
  }

  // ---------------------------------------------------------------- host references

  private resolve(ref: HostRef): string {
    if (!ref.startsWith('$')) {
      if (!this.hosts.includes(ref)) throw new Fatal(`unknown host ${ref}`);
      return ref;
    }
    const m = /^\$([A-Za-z_]\w*)([+-]\d+)?$/.exec(ref);
    if (!m) throw new Fatal(`bad host reference ${ref}`);
    let host: string;
    if (m[1] === 'leader' && !this.vars.has('leader')) {
      const l = this.currentLeader();
      if (!l) throw new Fatal('$leader: the reachable hosts do not agree on a leader');
      host = l;
    } else {
      const v = this.vars.get(m[1]!);
      if (!v) throw new Fatal(`${ref}: nothing saved as ${m[1]}`);
      host = v.host;
    }
    if (m[2]) {
      const n = this.hosts.length;
      host = this.hosts[(((this.hosts.indexOf(host) + Number(m[2])) % n) + n) % n]!;
    }
    return host;
  }

  private currentLeader(): string | null {
    const hosts = this.reachable();
    const v = this.agreement(hosts, new Map(hosts.map((h) => [h, this.timeline.latest(h)])));
    return v.leader ? short(v.leader) : null;
  }

  /**
   * Whether these hosts agree on one leader, by the definition every harness shares
   * (test/support/leader.ts): same leader id and term on all, and the leader, if among
   * them, reports role leader. A host's agent member is `<host>/agent`.
   */
  private agreement(among: string[], view: Map<string, Sample | undefined>): LeaderVerdict {
    return judgeLeader(among.map((h) => {
      const s = view.get(h);
      return { name: h, memberId: `${h}/agent`, role: s?.up ? (s.role ?? null) : 'down', leader: s?.up ? (s.leader ?? null) : null, term: s?.term ?? null };
    }));
  }

  /** Running hosts whose cable is in. */
  private reachable(): string[] {
    return this.hosts.filter((h) => this.alive.has(h) && !this.cutHosts.has(h));
  }

  private among(a: Among | undefined): string[] {
    if (a === undefined) return this.reachable();
    if (Array.isArray(a)) return a.map((r) => this.resolve(r));
    const side = this.sides?.[a.side];
    if (!side) throw new Fatal(`among side ${a.side}: no such side in the current partition`);
    return side.filter((h) => this.alive.has(h) && !this.cutHosts.has(h));
  }

  private fault(kind: 'fault' | 'repair', text: string, hosts?: string[]): void {
    const m = this.timeline.mark(kind, text, hosts);
    this.lastFault = { t: m.t, text, measured: false };
  }

  private launch(host: string): AgentLaunch {
    const s = this.scenario;
    return {
      node: host,
      group: this.group,
      minSize: s.minSize ?? Math.floor(this.hosts.length / 2) + 1,
      timers: s.timers ?? 'lan',
      autoVote: s.autoVote ?? 'yes',
      discovery: s.discovery ?? 'static',
      clockOffsetMs: this.offsets.get(host) ?? 0,
      logLevel: process.env.COHORT_BENCH_LOG_LEVEL ?? 'warn',
      ...(this.opts.resultsDir ? { logFile: join(this.opts.resultsDir, `${s.name}.agents`, `${host}.log`) } : {}),
    };
  }

  // ---------------------------------------------------------------- steps

  private async step(step: Step): Promise<void> {
    if ('startHosts' in step) return this.startHosts(step.startHosts === 'all' ? this.hosts : step.startHosts.map((r) => this.resolve(r)));
    if ('waitForLeader' in step) return this.waitForLeader(step.waitForLeader);
    if ('kill' in step) {
      const h = this.resolve(step.kill.host);
      const sig = step.kill.signal ?? 'SIGKILL';
      this.fault('fault', `${sig} ${h}`, [h]);
      await this.backend.kill(h, sig);
      if (sig !== 'SIGSTOP' && sig !== 'SIGCONT') {
        this.alive.delete(h);
        this.timeline.openBand(h, 'stopped', sig);
      }
      return;
    }
    if ('cut' in step) {
      const h = this.resolve(step.cut.host);
      this.fault('fault', `cut ${h}`, [h]);
      await this.backend.cut(h);
      this.cutHosts.add(h);
      this.timeline.openBand(h, 'cut', 'cable cut');
      return;
    }
    if ('restore' in step) {
      const h = this.resolve(step.restore.host);
      this.fault('repair', `restore ${h}`, [h]);
      await this.backend.restore(h);
      this.cutHosts.delete(h);
      this.timeline.closeBand(h, 'cut');
      return;
    }
    if ('partition' in step) {
      const named = step.partition.sides.map((side) => side.filter((r) => r !== '*').map((r) => this.resolve(r)));
      const rest = this.hosts.filter((h) => !named.some((side) => side.includes(h)));
      const sides = step.partition.sides.map((side, i) => (side.includes('*') ? [...named[i]!, ...rest] : named[i]!));
      const text = `partition ${sides.map((s) => s.join(',')).join(' | ')}`;
      this.fault('fault', text, sides.flat());
      await this.backend.partition(sides);
      this.sides = sides;
      sides.forEach((side, i) => side.forEach((h) => this.timeline.openBand(h, 'partition', `side ${String.fromCharCode(65 + i)}`)));
      return;
    }
    if ('heal' in step) {
      this.fault('repair', 'heal');
      await this.backend.heal();
      for (const h of this.hosts) this.timeline.closeBand(h, 'partition');
      this.sides = null;
      return;
    }
    if ('loss' in step) {
      const hs = step.loss.host === 'all' ? this.hosts : [this.resolve(step.loss.host)];
      const p = step.loss.percent;
      const dir = step.loss.direction ?? 'both';
      const dirText = dir === 'both' ? 'in+out' : dir;
      const where = step.loss.host === 'all' ? 'all' : hs.join(',');
      this.fault(p > 0 ? 'fault' : 'repair', p > 0 ? `loss ${p}% ${dirText} on ${where}` : `loss off on ${where}`, hs);
      await Promise.all(
        hs.map(async (h) => {
          await this.backend.loss(h, p, dir);
          if (p > 0) this.timeline.openBand(h, 'loss', `${p}% loss ${dirText}`);
          else this.timeline.closeBand(h, 'loss');
        }),
      );
      return;
    }
    if ('delay' in step) {
      if (!this.backend.delay) throw new Fatal(`the ${this.backend.kind} backend cannot add delay`);
      const hs = step.delay.host === 'all' ? this.hosts : [this.resolve(step.delay.host)];
      this.fault(step.delay.ms > 0 ? 'fault' : 'repair', `delay ${step.delay.ms} ms on ${hs.join(',')}`, hs);
      for (const h of hs) await this.backend.delay(h, step.delay.ms);
      return;
    }
    if ('clockOffset' in step) {
      const h = this.resolve(step.clockOffset.host);
      this.offsets.set(h, step.clockOffset.ms);
      this.fault('fault', `clock ${h} ${step.clockOffset.ms >= 0 ? '+' : ''}${step.clockOffset.ms} ms`, [h]);
      if (step.clockOffset.ms) this.timeline.openBand(h, 'clock', `clock ${step.clockOffset.ms > 0 ? '+' : ''}${step.clockOffset.ms} ms`);
      else this.timeline.closeBand(h, 'clock');
      if (this.alive.has(h)) {
        // A process's clock offset is fixed at start: restart the agent (graceful) with the new one.
        await this.backend.stopAgent(h);
        this.alive.delete(h);
        await this.startHosts([h]);
      }
      return;
    }
    if ('requestVote' in step) return this.requestVote(step.requestVote);
    if ('requestAction' in step) return this.requestAction(step.requestAction);
    if ('sleep' in step) {
      await sleep(step.sleep);
      return;
    }
    if ('expect' in step) return this.expect(step.expect, step.within ?? 0, step.among, step.label);
    throw new Fatal(`unknown step ${JSON.stringify(step)}`);
  }

  private async startHosts(hosts: string[]): Promise<void> {
    const todo = hosts.filter((h) => !this.alive.has(h));
    for (const h of todo) {
      const off = this.offsets.get(h);
      if (off && !this.timeline.bands.some((b) => b.host === h && b.kind === 'clock' && b.to === null)) this.timeline.openBand(h, 'clock', `clock ${off > 0 ? '+' : ''}${off} ms`);
    }
    const t = performance.now();
    const results = await Promise.allSettled(
      todo.map(async (h) => {
        await this.backend.startAgent(h, this.launch(h));
        this.alive.add(h);
        this.started.add(h);
        this.timeline.closeBand(h, 'stopped');
      }),
    );
    const bad = results.flatMap((r, i) => (r.status === 'rejected' ? [`${todo[i]}: ${(r.reason as Error).message}`] : []));
    if (bad.length) throw new Fatal(`could not start agents: ${bad.join('\n')}`);
    this.timeline.mark('step', `agents serving on ${todo.join(',')} (${Math.round(performance.now() - t)} ms)`);
    // The first start is what formation is measured from; a restart is a repair (rejoin measured from here).
    if (this.startedAt === null) this.startedAt = this.timeline.now();
    else this.fault('repair', `started ${todo.join(',')}`, todo);
  }

  private async waitForLeader(w: WaitForLeader): Promise<void> {
    const since = this.timeline.now();
    const deadline = performance.now() + w.within;
    let last: string[] = [];
    for (;;) {
      const among = this.among(w.among);
      const view = await this.fresh(among, since);
      const not = new Set((w.not ?? []).map((r) => this.resolve(r)));
      const problems: string[] = [];
      for (const h of among) {
        const s = view.get(h);
        if (!s?.up) problems.push(`${h} not answering`);
        else if (!s.role) problems.push(`${h} not in the group`);
        else if (w.members !== undefined && (s.members ?? []).length !== w.members) problems.push(`${h} lists ${(s.members ?? []).length} members`);
      }
      const verdict = this.agreement(among, view);
      const leaderId = verdict.leader;
      const leader = leaderId ? short(leaderId) : null;
      if (verdict.problems) problems.push(...verdict.problems);
      else if (leader && not.has(leader)) problems.push(`leader is still ${leader}`);
      if (problems.length === 0 && leader) {
        const detected = Math.max(...among.map((h) => view.get(h)!.t));
        const term = verdict.term ?? 0;
        if (w.save) this.vars.set(w.save, { host: leader, term });
        this.reporter.check(true, `leader ${leader} (term ${term}) known to ${among.join(',')}`);
        this.recordRecovery(w, this.agreedSince(among, leaderId!, term, w.members, detected), leader, term);
        return;
      }
      last = problems;
      if (performance.now() > deadline) throw new Fatal(`no common leader within ${w.within} ms among ${among.join(',')}: ${last.join('; ')}`);
      await sleep(Math.min(50, this.scenario.pollMs ?? 100));
    }
  }

  /**
   * When the agreement that was just detected began: for each host, the first sample of its
   * final unbroken run of samples showing it (same leader and term; role leader on the leader itself;
   * the member count if asked); the latest of those. A step that starts late (a slow fault
   * command over ssh) thus does not inflate the measurement; resolution is the poll period.
   */
  private agreedSince(among: string[], leaderId: string, term: number, members: number | undefined, detected: number): number {
    const leaderHost = short(leaderId);
    let since = 0;
    for (const h of among) {
      const lane = this.timeline.lane(h).filter((s) => s.t <= detected);
      let first = detected;
      for (let i = lane.length - 1; i >= 0; i--) {
        const s = lane[i]!;
        const ok = s.up && s.leader === leaderId && s.term === term && (h !== leaderHost || s.role === 'leader') && (members === undefined || (s.members ?? []).length === members);
        if (!ok) break;
        first = s.t;
      }
      since = Math.max(since, first);
    }
    return since;
  }

  private recordRecovery(w: WaitForLeader, when: number, leader: string, term: number): void {
    if (w.measure === false) return;
    let from: number | null = null;
    let label = w.measure ?? '';
    if (this.lastFault && !this.lastFault.measured) {
      from = this.lastFault.t;
      label ||= `${this.lastFault.text} → leader known to all`;
      this.lastFault.measured = true;
    } else if (this.startedAt !== null && !this.timeline.measurements.length) {
      from = this.startedAt;
      label ||= 'formation (all agents serving → leader known to all)';
    }
    if (from === null) return;
    const m = this.timeline.measure(label, from, when);
    this.timeline.markers.push({ t: when, kind: 'measure', text: `recovered: ${m.ms} ms (${leader}, t${term})` });
    this.reporter.comment(`recovery: ${label}: ${m.ms} ms (leader ${leader}, term ${term})`);
  }

  private evaluate(e: Expectation, among: string[], view: Map<string, Sample | undefined>): string[] {
    const problems: string[] = [];
    const roleOf = (h: string) => {
      const s = view.get(h);
      return s?.up ? (s.role ?? null) : 'down';
    };
    for (const h of among) if (!view.get(h)?.up) problems.push(`${h} not answering`);
    const verdict = this.agreement(among, view);
    const common = verdict.leader ? short(verdict.leader) : null;
    if (e.leadersPerSide) {
      const sides = this.sides ? this.sides.map((side) => side.filter((h) => among.includes(h))) : [among];
      const counts = sides.map((side) => side.filter((h) => roleOf(h) === 'leader').length);
      if (counts.length !== e.leadersPerSide.length || counts.some((c, i) => c !== e.leadersPerSide![i])) {
        problems.push(`leaders per side ${JSON.stringify(counts)} (sides ${sides.map((s) => s.join(',')).join(' | ')}), expected ${JSON.stringify(e.leadersPerSide)}`);
      }
    }
    if (e.noLeader) {
      const following = among.filter((h) => (view.get(h)?.leader ?? null) !== null);
      if (following.length) problems.push(`hosts still reporting a leader: ${following.map((h) => `${h}→${short(view.get(h)?.leader)}`).join(' ')}`);
    }
    if (e.leaders !== undefined) {
      const n = among.filter((h) => roleOf(h) === 'leader').length;
      if (n !== e.leaders) problems.push(`${n} hosts with role leader, expected ${e.leaders}`);
    }
    if (e.sameLeaderOnAll) {
      if (verdict.problems) problems.push(`no common leader: ${verdict.problems.join('; ')}`);
    }
    for (const r of e.leaderNot === undefined ? [] : Array.isArray(e.leaderNot) ? e.leaderNot : [e.leaderNot]) {
      const h = this.resolve(r);
      if (!common || common === h) problems.push(`leader is ${common ?? '(none common)'}, must not be ${h}`);
    }
    if (e.leaderIs !== undefined) {
      const h = this.resolve(e.leaderIs);
      if (common !== h) problems.push(`leader is ${common ?? '(none common)'}, expected ${h}`);
    }
    const termValue = (v: number | string) => (typeof v === 'number' ? v : this.vars.get(v.replace(/^\$/, ''))?.term ?? NaN);
    if (e.termIs !== undefined) {
      const want = termValue(e.termIs);
      const off = among.filter((h) => view.get(h)?.term !== want);
      if (off.length) problems.push(`term ${off.map((h) => `${h}:${view.get(h)?.term}`).join(' ')}, expected ${want}`);
    }
    if (e.termAbove !== undefined) {
      const floor = termValue(e.termAbove);
      const off = among.filter((h) => !((view.get(h)?.term ?? -1) > floor));
      if (off.length) problems.push(`term ${off.map((h) => `${h}:${view.get(h)?.term}`).join(' ')}, expected > ${floor}`);
    }
    for (const [ref, role] of Object.entries(e.roles ?? {})) {
      const h = this.resolve(ref);
      const actual = roleOf(h);
      const ok = role.startsWith('!') ? actual !== role.slice(1) : actual === role;
      if (!ok) problems.push(`${h} has role ${actual}, expected ${role}`);
    }
    if (e.members !== undefined) {
      const off = among.filter((h) => (view.get(h)?.members ?? []).length !== e.members);
      if (off.length) problems.push(`members: ${off.map((h) => `${h} lists ${(view.get(h)?.members ?? []).length}`).join(', ')} (expected ${e.members})`);
    }
    return problems;
  }

  private async expect(e: Expectation, within: number, amongSpec: Among | undefined, label?: string): Promise<void> {
    const since = this.timeline.now();
    const deadline = performance.now() + within;
    const what = label ?? `expect ${JSON.stringify({ ...e, noFlapWithin: undefined })}`;
    let problems: string[] = [];
    let among: string[] = [];
    let view = new Map<string, Sample | undefined>();
    for (;;) {
      among = this.among(amongSpec);
      // `roles` may name hosts outside `among` (e.g. a cut host): look at them too.
      const extra = Object.keys(e.roles ?? {}).map((r) => this.resolve(r));
      view = await this.fresh([...new Set([...among, ...extra])], since);
      problems = this.evaluate(e, among, view);
      if (problems.length === 0 || performance.now() > deadline) break;
      await sleep(Math.min(50, this.scenario.pollMs ?? 100));
    }
    this.check(problems.length === 0, `${what} on ${among.join(',')}`, problems);
    if (problems.length || !e.noFlapWithin) return;
    // No flapping: nothing changes on the looked-at hosts for noFlapWithin ms.
    const baseline = new Map(among.map((h) => [h, view.get(h)!] as const));
    const from = this.timeline.now();
    await sleep(e.noFlapWithin);
    const flaps: string[] = [];
    for (const s of this.timeline.samples) {
      if (s.sent < from || !baseline.has(s.host)) continue;
      const b = baseline.get(s.host)!;
      if (!s.up) flaps.push(`${s.host} stopped answering at +${(s.t / 1000).toFixed(2)}s`);
      else if (s.role !== b.role || s.term !== b.term || s.leader !== b.leader) {
        flaps.push(`${s.host} ${b.role}/t${b.term}/${short(b.leader)} → ${s.role}/t${s.term}/${short(s.leader)} at +${(s.t / 1000).toFixed(2)}s`);
      }
    }
    const unique = [...new Set(flaps.map((f) => f.replace(/ at .*/, '')))].map((f) => flaps.find((x) => x.startsWith(f))!);
    this.check(unique.length === 0, `no flapping for ${e.noFlapWithin} ms on ${among.join(',')}`, unique.slice(0, 6));
  }

  private async eventsSince(host: string, after: number): Promise<LoggedEvent[]> {
    return this.backend.get<LoggedEvent[]>(host, `/events?after=${after}`);
  }

  private async cursors(hosts: string[]): Promise<Map<string, number>> {
    const m = new Map<string, number>();
    await Promise.all(
      hosts.map(async (h) => {
        try {
          const evs = await this.eventsSince(h, 0);
          m.set(h, evs.length ? evs[evs.length - 1]!.seq : 0);
        } catch {
          m.set(h, 0);
        }
      }),
    );
    return m;
  }

  /** Wait for an event (matching `pred`) on every host; returns what was found per host. */
  private async awaitOnAll(hosts: string[], cursors: Map<string, number>, pred: (e: LoggedEvent) => boolean, timeoutMs: number): Promise<Map<string, LoggedEvent>> {
    const found = new Map<string, LoggedEvent>();
    const deadline = performance.now() + timeoutMs;
    while (found.size < hosts.length && performance.now() < deadline) {
      await Promise.all(
        hosts
          .filter((h) => !found.has(h))
          .map(async (h) => {
            try {
              const evs = await this.eventsSince(h, cursors.get(h) ?? 0);
              if (evs.length) cursors.set(h, evs[evs.length - 1]!.seq);
              const hit = evs.find(pred);
              if (hit) found.set(h, hit);
            } catch {
              // not answering right now
            }
          }),
      );
      if (found.size < hosts.length) await sleep(100);
    }
    return found;
  }

  private async requestVote(v: RequestVote): Promise<void> {
    const from = this.resolve(v.from);
    const among = this.among(v.among);
    const cursors = await this.cursors(among);
    const kind = v.kind ?? 'majority';
    const t0 = performance.now();
    this.timeline.mark('app', `${kind} vote from ${from}`);
    const r = await this.backend.post<{ ballotId?: string; message?: string }>(from, `/groups/${this.group}/vote`, { topic: v.topic ?? `bench ${kind} vote`, kind, ...(v.timeoutMs ? { timeoutMs: v.timeoutMs } : {}) });
    if (r.status !== 200 || !r.body.ballotId) throw new Fatal(`vote request on ${from} refused: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    const ballotId = r.body.ballotId;
    const results = await this.awaitOnAll(among, cursors, (e) => e.type === 'voteResult' && e.ballotId === ballotId, v.within ?? 6000);
    const ms = Math.round(performance.now() - t0);
    const expected = v.expect ?? 'yes';
    const outcomes = among.map((h) => `${h}:${String(results.get(h)?.outcome ?? 'none')}`);
    const ok = results.size === among.length && (expected === 'any' || [...results.values()].every((e) => e.outcome === expected));
    for (const [h, e] of results) this.timeline.hostMark(h, 'result', e.at, `${kind} vote ${String(e.outcome)}`, { outcome: String(e.outcome), offsetMs: this.offsets.get(h) ?? 0 });
    const tally = [...results.values()][0]?.tally as { yes?: number; no?: number; voters?: number } | undefined;
    this.check(ok, `${kind} vote from ${from}: result on ${results.size}/${among.length} hosts in ${ms} ms, expected '${expected}'`, ok ? undefined : outcomes);
    this.reporter.comment(`vote ${ballotId.slice(0, 8)}: ${outcomes.join(' ')}; tally yes ${tally?.yes} no ${tally?.no} of ${tally?.voters}; ${ms} ms`);
    this.timeline.mark('app', `vote result on ${results.size}/${among.length} (${ms} ms)`);
  }

  private async requestAction(a: RequestAction): Promise<void> {
    const from = this.resolve(a.from);
    const among = this.among(a.among);
    const cursors = await this.cursors(among);
    const kind = a.kind ?? 'majority';
    this.timeline.mark('app', `action vote from ${from}`);
    const r = await this.backend.post<{ ballotId?: string; when?: number }>(from, `/groups/${this.group}/action`, { action: a.action ?? 'bench action', inMs: a.inMs ?? 2500, kind });
    if (r.status !== 200 || !r.body.ballotId || typeof r.body.when !== 'number') throw new Fatal(`action request on ${from} refused: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    const { ballotId, when } = r.body as { ballotId: string; when: number };
    const guarded = new Set((a.notOn ?? []).map((r) => this.resolve(r)));
    const expected = among.filter((h) => !guarded.has(h));
    const skipCursors = new Map([...guarded].map((h) => [h, cursors.get(h) ?? 0] as const));
    const fired = await this.awaitOnAll(expected, cursors, (e) => e.type === 'action' && e.ballotId === ballotId, (a.inMs ?? 2500) + (a.within ?? 4000));
    this.timeline.markers.push({ t: this.timeline.now() - Math.max(0, Date.now() - when), kind: 'app', text: `action fired on ${fired.size}/${expected.length}` });
    this.check(fired.size === expected.length, `action from ${from} fired on ${fired.size}/${expected.length} hosts${guarded.size ? ` (not expected on ${[...guarded].join(',')})` : ''}`, expected.filter((h) => !fired.has(h)).map((h) => `${h} did not fire`));
    for (const h of guarded) {
      const evs = await this.eventsSince(h, skipCursors.get(h) ?? 0).catch(() => [] as LoggedEvent[]);
      const acted = evs.some((e) => e.type === 'action' && e.ballotId === ballotId);
      const why = evs.find((e) => e.type === 'actionSkipped' && e.ballotId === ballotId) ?? evs.find((e) => e.type === 'voteResult' && e.ballotId === ballotId);
      this.check(!acted, `${h} (clock off the group's) did not act`, acted ? [`${h} fired`] : []);
      if (why) this.reporter.comment(`${h}: ${why.type} ${JSON.stringify(Object.fromEntries(Object.entries(why).filter(([k]) => !['seq', 'at', 'group', 'member', 'type', 'ballotId'].includes(k))))}`);
    }
    // firedAt is each host's own wall clock: take the clock offsets back out to compare real instants.
    for (const [h, e] of fired) this.timeline.hostMark(h, 'action', e.firedAt as number, `action fired (${(e.errorMs as number).toFixed(2)} ms late on its clock)`, { offsetMs: this.offsets.get(h) ?? 0 });
    const real = [...fired.entries()].map(([h, e]) => ({ h, at: (e.firedAt as number) - (this.offsets.get(h) ?? 0), err: e.errorMs as number }));
    if (real.length) {
      const spread = Math.max(...real.map((x) => x.at)) - Math.min(...real.map((x) => x.at));
      this.reporter.comment(`action ${ballotId.slice(0, 8)} at ${new Date(when).toISOString()}: real spread ${spread.toFixed(1)} ms; per host (real − when): ${real.map((x) => `${x.h} ${(x.at - when).toFixed(1)}`).join(', ')}; own errorMs: ${real.map((x) => `${x.h} ${x.err.toFixed(2)}`).join(', ')}`);
    }
  }
}

export function runScenario(backend: Backend, scenario: Scenario, opts: RunOptions = {}): Promise<ScenarioResult> {
  return new ScenarioRunner(backend, scenario, opts).run();
}
