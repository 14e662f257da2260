/**
 * Watches an agent's groups from the outside (its status and event log, sampled), for two
 * readers: `/healthz` (does each joined group have a leader, or is it legitimately waiting?)
 * and the progress lines a person reads in the log ("waiting for peers (0 of 2 reachable:
 * …)", "joined Sensors.north as a/agent", "leader is b/agent", "peer b/agent unreachable
 * since …"). Nothing here is on the protocol's path; a sample costs one status() call.
 */
import type { Logger } from 'pino';
import type { Agent, AgentStatus, GroupStatus } from './runtime/agent.js';
import type { LoggedEvent } from './runtime/event-log.js';

export interface GroupHealth {
  group: string;
  memberId: string;
  /** `leader`/`follower`: a leader is known; `waiting`: fewer members than minSize, so no
   *  election may happen yet; `electing`: enough members, no leader yet, still within the
   *  election bound; `leaderless`: no leader for longer than that bound (unhealthy). */
  state: 'leader' | 'follower' | 'waiting' | 'electing' | 'leaderless';
  healthy: boolean;
  detail: string;
}

export interface Health {
  healthy: boolean;
  node: string;
  /** One line for people and probes' logs. */
  summary: string;
  groups: GroupHealth[];
}

interface Tracked {
  /** Monotonic ms since when this member has known no leader (null: it knows one). */
  leaderlessSince: number | null;
  /** Since when it has had fewer than minSize members (null: enough). */
  waitingSince: number | null;
  leader: string | null;
  lastWaitingLine: number;
  lastWaitingText: string;
}

/** How long a group with enough members may go without a leader before it is unhealthy. */
export function electionBoundMs(g: Pick<GroupStatus, 'timers'>): number {
  // A leader lost is noticed within peerTimeout; a campaign takes up to electionMax, and a
  // split vote or a pre-vote round may need a second one.
  return g.timers.peerTimeout + 2 * g.timers.electionMax + g.timers.heartbeat;
}

export interface GroupWatchOptions {
  /** Where progress lines go; none: no progress lines (health only). */
  log?: Logger;
  /** Static peers (`host:port` of their buses), to say which are not heard from. */
  peers?: string[];
  /** Sampling period, ms (default 500). */
  intervalMs?: number;
  /** Repeat an unchanged "waiting"/"unreachable" line at most this often, ms (default 30 s). */
  repeatMs?: number;
  /** Monotonic clock (tests). */
  now?: () => number;
  /** Wall clock for "since" times (tests). */
  wall?: () => number;
}

export class GroupWatch {
  private readonly tracked = new Map<string, Tracked>(); // key: group \0 memberId
  private timer: NodeJS.Timeout | null = null;
  private lastSeq = 0;
  /** Members gone by timeout and not back: when last heard (wall ms), when last reported. */
  private readonly lost = new Map<string, { group: string; since: number; lastLine: number }>();
  private readonly now: () => number;
  private readonly wall: () => number;
  private readonly repeatMs: number;
  private startedAt: number;
  private saidNoGroups = false;

  constructor(
    private readonly agent: Pick<Agent, 'status' | 'events' | 'node'>,
    private readonly opts: GroupWatchOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.wall = opts.wall ?? (() => Date.now());
    this.repeatMs = opts.repeatMs ?? 30_000;
    this.startedAt = this.now();
  }

  start(): this {
    if (this.timer) return this;
    this.startedAt = this.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.opts.intervalMs ?? 500);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Read the agent once: update the per-group records and write any progress lines. */
  sample(): void {
    const status = this.agent.status();
    const t = this.now();
    const seen = new Set<string>();
    for (const g of status.groups) {
      const key = `${g.group}\0${g.memberId}`;
      seen.add(key);
      let tr = this.tracked.get(key);
      if (!tr) {
        tr = { leaderlessSince: g.leader ? null : t, waitingSince: g.members.length < g.minSize ? t : null, leader: null, lastWaitingLine: -Infinity, lastWaitingText: '' };
        this.tracked.set(key, tr);
        this.say({ group: g.group, member: g.memberId }, `joined ${g.group} as ${g.memberId} (minSize ${g.minSize})`);
      }
      if (g.leader) tr.leaderlessSince = null;
      else tr.leaderlessSince ??= t;
      if (g.members.length < g.minSize) tr.waitingSince ??= t;
      else tr.waitingSince = null;
      if (g.leader !== tr.leader) {
        if (g.leader) this.say({ group: g.group, leader: g.leader, term: g.term }, `${g.group}: leader is ${g.leader === g.memberId ? `${g.leader} (this member)` : g.leader}, term ${g.term}`);
        else if (tr.leader) this.say({ group: g.group, was: tr.leader }, `${g.group}: no leader (was ${tr.leader}); ${g.members.length < g.minSize ? 'waiting for peers' : 'electing'}`);
        tr.leader = g.leader;
      }
      this.waitingLine(status, g, tr, t);
    }
    for (const key of [...this.tracked.keys()]) if (!seen.has(key)) this.tracked.delete(key);
    if (status.groups.length === 0 && !this.saidNoGroups && t - this.startedAt >= 0) {
      this.saidNoGroups = true;
      this.say({}, 'this agent has joined no groups: it serves status only; join one with --group or a components entry in the config');
    } else if (status.groups.length > 0) this.saidNoGroups = false;
    this.followEvents(status, t);
  }

  private waitingLine(status: AgentStatus, g: GroupStatus, tr: Tracked, t: number): void {
    if (tr.waitingSince === null) {
      tr.lastWaitingText = '';
      return;
    }
    // Not at the very first sample: a member hears its peers within about a heartbeat.
    if (t - tr.waitingSince < Math.min(2000, g.timers.heartbeat * 2)) return;
    const text = `${g.group}: waiting for peers (${this.reachability(status)}); ${g.members.length} of the ${g.minSize} members needed to elect a leader`;
    if (text === tr.lastWaitingText && t - tr.lastWaitingLine < this.repeatMs) return;
    tr.lastWaitingText = text;
    tr.lastWaitingLine = t;
    this.say({ group: g.group, members: g.members.length, minSize: g.minSize }, text);
  }

  /** "0 of 2 reachable: 127.0.0.1:7002, 127.0.0.1:7003 not heard from", or for mDNS the nodes heard. */
  private reachability(status: AgentStatus): string {
    const heard = new Set<string>();
    for (const g of status.groups) for (const m of g.members) if (!m.startsWith(`${status.node}/`)) heard.add(m.split('/')[0]!);
    const names = [...heard].sort();
    const peers = (this.opts.peers ?? []).filter((p) => `tcp://${p}` !== status.endpoints.bus);
    if (peers.length === 0) return names.length ? `heard ${names.join(', ')}; none configured, found by discovery` : 'none found yet';
    const reachable = Math.min(peers.length, names.length);
    if (reachable === 0) return `0 of ${peers.length} reachable: ${peers.join(', ')} not heard from`;
    return `${reachable} of ${peers.length} reachable: heard ${names.join(', ')}; listed ${peers.join(', ')}`;
  }

  /** Members that timed out ("unreachable since"), and their return. */
  private followEvents(status: AgentStatus, t: number): void {
    const fresh: LoggedEvent[] = this.agent.events.since(this.lastSeq);
    if (fresh.length) this.lastSeq = fresh[fresh.length - 1]!.seq;
    for (const e of fresh) {
      const subject = typeof e.subject === 'string' ? e.subject : null;
      if (!subject) continue;
      const key = `${e.group}\0${subject}`;
      if (e.type === 'memberLeft' && e.reason === 'timeout' && !this.lost.has(key) && this.lost.size < 256) {
        const g = status.groups.find((x) => x.group === e.group);
        this.lost.set(key, { group: e.group, since: e.at - (g?.timers.peerTimeout ?? 0), lastLine: t });
        this.say({ group: e.group, peer: subject }, `${e.group}: peer ${subject} unreachable since ${clock(e.at - (g?.timers.peerTimeout ?? 0))} (not heard for ${g?.timers.peerTimeout ?? '?'} ms)`);
      } else if (e.type === 'memberJoined' && this.lost.has(key)) {
        const was = this.lost.get(key)!;
        this.lost.delete(key);
        this.say({ group: e.group, peer: subject }, `${e.group}: peer ${subject} is back (unreachable for ${Math.round((e.at - was.since) / 1000)} s)`);
      } else if (e.type === 'memberLeft' && e.reason === 'left') this.lost.delete(key);
    }
    for (const [key, l] of this.lost) {
      if (t - l.lastLine < this.repeatMs) continue;
      l.lastLine = t;
      this.say({ group: l.group, peer: key.split('\0')[1] }, `${l.group}: peer ${key.split('\0')[1]} unreachable since ${clock(l.since)} (${Math.round((this.wall() - l.since) / 1000)} s)`);
    }
  }

  private say(fields: Record<string, unknown>, line: string): void {
    this.opts.log?.info({ part: 'progress', ...fields }, line);
  }

  /** Healthy = the agent runs and every group it joined has a leader or is legitimately waiting. */
  health(): Health {
    const status = this.agent.status();
    const t = this.now();
    const groups = status.groups.map((g): GroupHealth => {
      const tr = this.tracked.get(`${g.group}\0${g.memberId}`);
      const base = { group: g.group, memberId: g.memberId };
      if (g.leader) {
        return { ...base, state: g.leader === g.memberId ? 'leader' : 'follower', healthy: true, detail: `leader ${g.leader}, term ${g.term}, ${g.members.length} members` };
      }
      if (g.members.length < g.minSize) {
        return { ...base, state: 'waiting', healthy: true, detail: `waiting for peers: ${g.members.length} of the ${g.minSize} members needed to elect` };
      }
      const since = tr?.leaderlessSince ?? t;
      const bound = electionBoundMs(g);
      const ms = Math.round(t - since);
      if (ms <= bound) return { ...base, state: 'electing', healthy: true, detail: `electing: no leader for ${ms} ms (allowed ${bound} ms), ${g.members.length} members` };
      return { ...base, state: 'leaderless', healthy: false, detail: `no leader for ${ms} ms although ${g.members.length} members are present (minSize ${g.minSize}); more than the ${bound} ms an election may take` };
    });
    const clashes = status.clashes.filter((c) => c.outcome !== 'kept');
    const bad = groups.filter((g) => !g.healthy);
    const healthy = bad.length === 0 && clashes.length === 0;
    let summary: string;
    if (groups.length === 0 && clashes.length === 0) summary = 'running; no groups joined';
    else if (healthy) summary = `running; ${groups.map((g) => `${g.group} ${g.state}`).join(', ')}`;
    else summary = [...bad.map((g) => `${g.group}: ${g.detail}`), ...clashes.map((c) => `${c.group}: node id clash (${c.memberId} ${c.outcome})`)].join('; ');
    return { healthy, node: status.node, summary, groups };
  }
}

function clock(wallMs: number): string {
  return new Date(wallMs).toISOString().slice(11, 19);
}
