/**
 * The invariants, checked after every step of every member. The checker sees
 * what an omniscient observer sees: every output of every member (sends,
 * persisted hard state, application events) and every member's state after
 * each step. It knows nothing of the core's internals.
 *
 * Here: elections (one leader per term; a leader holds a quorum of persisted
 * votes from the voter set it announces; one vote per member per term,
 * persisted before it is granted; terms never go down, across restarts; a
 * member only follows the leader of its own term), voter configurations (one
 * voter set per position, positions only move forward, one change at a time and
 * only on top of a configuration a quorum acknowledged) and API consistency
 * (membership and leader events match the member's state). Polls are checked in
 * poll-checks.ts, liveness in liveness.ts.
 */
import type { AppEvent, HardState, Output } from '../../agent/core/events.js';
import type { Envelope, MemberId } from '../../agent/core/messages.js';
import type { TimerSettings } from '../../agent/core/timers.js';
import { LivenessCheck, type LivenessStats } from './liveness.js';
import { PollChecks } from './poll-checks.js';
import { RuleChecks } from './rule-checks.js';
import type { Instance } from './simulator.js';

export type Fail = (rule: string, text: string) => void;

export interface Violation {
  seed: number;
  /** Virtual time, ms. */
  t: number;
  rule: string;
  text: string;
}

/** Independent oracle for the quorum rule (not the core's own function). */
export function quorum(voters: number, minSize: number): number {
  return Math.max(Math.floor(voters / 2) + 1, minSize);
}

/** What the checker remembers per member instance (id + incarnation). */
interface InstanceView {
  announcedLeader: MemberId | null;
  joined: Set<MemberId>;
  role: string;
  term: number;
  leader: MemberId | null;
  configTerm: number;
  configVersion: number;
}

export interface CheckerHooks {
  seed: number;
  minSize: number;
  timers: TimerSettings;
  /** How late a timer may fire (ms): deadline checks allow it. */
  slack: number;
  /** Current virtual time. */
  now(): number;
  /** Run `fn` at virtual time `t` (a deadline check). */
  at(t: number, fn: () => void): void;
  /** Instances currently running (started, not crashed, not left). */
  up(): Instance[];
  note(t: number, member: string, text: string): void;
  /** Rules not to report (to look past a known bug); their violations are only counted. */
  ignore?: readonly string[];
  /** Whether `id` is a member the simulation started (not a stranger's invention). */
  known(id: MemberId): boolean;
  /** Since when the network has been quiet (healed, no loss, delays at most `delayMax`); Infinity while it is not. */
  quiet(): { since: number; delayMax: number };
  /** The running instance of a member, if any. */
  running(id: MemberId): Instance | undefined;
}

export class Checker {
  readonly violations: Violation[] = [];
  /** Violations of ignored rules, by rule. */
  readonly ignored = new Map<string, number>();
  readonly stats = { leaders: 0, steps: 0 };
  readonly polls: PollChecks;
  readonly rules: RuleChecks;
  private readonly liveness: LivenessCheck;
  private readonly leaderOfTerm = new Map<number, MemberId>();
  /** Persisted votes: member → term → candidate. */
  private readonly votes = new Map<MemberId, Map<number, MemberId>>();
  private readonly persisted = new Map<MemberId, HardState>();
  private readonly maxTerm = new Map<MemberId, number>();
  private readonly announcedTerms = new Set<string>();
  /** Voter configurations announced by leaders, by "term.version". */
  private readonly configs = new Map<string, { voters: MemberId[]; leader: MemberId }>();
  /** Members that acknowledged a configuration at or after a position, by "term.version" of the ack. */
  private readonly acks = new Map<string, Set<MemberId>>();
  private readonly views = new Map<string, InstanceView>();

  constructor(private readonly hooks: CheckerHooks) {
    const fail: Fail = (rule, text) => this.fail(rule, text);
    this.polls = new PollChecks(hooks, fail);
    this.liveness = new LivenessCheck(hooks, fail);
    this.rules = new RuleChecks(hooks, fail);
    this.rules.openerOf = (id) => this.polls.openerOf(id);
    this.rules.leaderOf = (term) => this.leaderOfTerm.get(term);
  }

  private fail(rule: string, text: string): void {
    if (this.hooks.ignore?.includes(rule)) {
      this.ignored.set(rule, (this.ignored.get(rule) ?? 0) + 1);
      return;
    }
    const v: Violation = { seed: this.hooks.seed, t: this.hooks.now(), rule, text };
    this.violations.push(v);
    this.hooks.note(v.t, '!!!!', `VIOLATION ${rule}: ${text}`);
  }

  private view(inst: Instance): InstanceView {
    let v = this.views.get(inst.key);
    if (!v) {
      v = { announcedLeader: null, joined: new Set(), role: 'follower', term: -1, leader: null, configTerm: 0, configVersion: 0 };
      this.views.set(inst.key, v);
    }
    return v;
  }

  // ------------------------------------------------------------ per step

  /** After `inst` handled one input: its drained outputs, then its state. */
  afterStep(inst: Instance, outputs: readonly Output[]): void {
    this.stats.steps++;
    const m = inst.member;
    const view = this.view(inst);
    this.rules.afterStep(inst, { role: view.role, term: view.term, leader: view.leader }, outputs);
    const role = m.role();
    const term = m.term();
    if (role === 'leader') {
      const known = this.leaderOfTerm.get(term);
      if (known === undefined) {
        this.leaderOfTerm.set(term, inst.id);
        this.stats.leaders++;
      } else if (known !== inst.id) {
        this.fail('one-leader-per-term', `${inst.id} and ${known} are both leaders of term ${term}`);
      }
    }
    const prevMax = this.maxTerm.get(inst.id) ?? 0;
    if (term < prevMax) this.fail('term-monotonic', `${inst.id} went from term ${prevMax} back to term ${term}`);
    else this.maxTerm.set(inst.id, term);

    for (const out of outputs) {
      if (out.type === 'persist') this.onPersist(inst, out.state);
      else if (out.type === 'send') this.onSend(inst, out.envelope);
      else this.onEvent(inst, view, out.event);
    }

    const leader = m.leader();
    if (leader !== null) {
      const actual = this.leaderOfTerm.get(term);
      if (actual !== leader) {
        this.fail('follow-current-leader', `${inst.id} (term ${term}) follows ${leader}, but the leader of term ${term} is ${actual ?? 'nobody'}`);
      }
    }
    if (view.announcedLeader !== leader) {
      this.fail('leader-events-match-state', `${inst.id} reports leader ${leader ?? 'none'} but its events announced ${view.announcedLeader ?? 'none'}`);
      view.announcedLeader = leader;
    }
    if (m.size() !== view.joined.size) {
      this.fail('member-events-match-state', `${inst.id} has ${m.size()} members [${m.members().join(',')}] but its events say [${[...view.joined].sort().join(',')}]`);
      view.joined = new Set(m.members());
    }
    const cfg = m.config();
    // Going back to version 0 is the majority-loss recovery (docs/protocol.md §4.5): a fresh bootstrap.
    if (cfg.version !== 0 && (cfg.term < view.configTerm || (cfg.term === view.configTerm && cfg.version < view.configVersion))) {
      this.fail('config-monotonic', `${inst.id}'s voter configuration went back from ${view.configTerm}.${view.configVersion} to ${cfg.term}.${cfg.version}`);
    }
    view.configTerm = cfg.term;
    view.configVersion = cfg.version;
    if (this.liveness.active) this.liveness.afterStep(inst, term, leader, outputs);
    view.role = role;
    view.term = term;
    view.leader = leader;
  }

  /** Whether the member's visible state changed in its last step (for the trace). */
  changed(inst: Instance): boolean {
    const v = this.views.get(inst.key);
    return !v || v.role !== inst.member.role() || v.term !== inst.member.term() || v.leader !== inst.member.leader();
  }

  private onPersist(inst: Instance, state: HardState): void {
    const prev = this.persisted.get(inst.id);
    if (prev && state.term < prev.term) this.fail('term-monotonic', `${inst.id} persisted term ${state.term} after term ${prev.term}`);
    this.persisted.set(inst.id, { ...state });
    if (state.votedFor === null) return;
    let byTerm = this.votes.get(inst.id);
    if (!byTerm) this.votes.set(inst.id, (byTerm = new Map()));
    const before = byTerm.get(state.term);
    if (before !== undefined && before !== state.votedFor) {
      this.fail('one-vote-per-term', `${inst.id} voted for ${before} and then for ${state.votedFor} in term ${state.term}`);
    }
    byTerm.set(state.term, state.votedFor);
  }

  private onSend(inst: Instance, env: Envelope): void {
    const b = env.body;
    switch (b.type) {
      case 'voteReply': {
        if (b.preVote || !b.granted) return;
        const hs = this.persisted.get(inst.id);
        if (!hs || hs.term !== b.electionTerm || hs.votedFor !== env.to) {
          this.fail('vote-persisted-before-granted', `${inst.id} granted its term-${b.electionTerm} vote to ${env.to} but its persisted state is ${hs ? `term ${hs.term} votedFor ${hs.votedFor}` : 'none'}`);
        }
        return;
      }
      case 'heartbeatAck':
        if (b.accepted) {
          const key = `${b.configTerm}.${b.configVersion}`;
          let set = this.acks.get(key);
          if (!set) this.acks.set(key, (set = new Set()));
          set.add(inst.id);
        }
        return;
      case 'leaderHeartbeat': {
        this.onConfig(env.from, env.term, b.config.term, b.config.version, b.config.voters);
        const key = `${env.term}:${env.from}`;
        if (this.announcedTerms.has(key)) return;
        this.announcedTerms.add(key);
        const voters = b.config.voters;
        let granted = 0;
        for (const v of voters) if (this.votes.get(v)?.get(env.term) === env.from) granted++;
        const need = quorum(voters.length, this.hooks.minSize);
        if (granted < need) {
          this.fail('leader-has-quorum', `${env.from} leads term ${env.term} with voters [${voters.join(',')}] but only ${granted} of them persisted a vote for it (quorum ${need})`);
        }
        return;
      }
      case 'ballot':
      case 'memberVote':
      case 'pollResult':
        this.polls.onSend(inst, env);
        return;
    }
  }

  /**
   * Membership changes (Raft's single-server rule, without a log): a configuration
   * position names one voter set; a leader's successive configurations in its term
   * differ by one voter, and it proposes the next only once a quorum of the
   * previous one has acknowledged it (or something newer).
   */
  private onConfig(leader: MemberId, term: number, cTerm: number, version: number, voters: MemberId[]): void {
    const key = `${cTerm}.${version}`;
    const known = this.configs.get(key);
    if (known) {
      if (known.voters.join(',') !== voters.join(',')) {
        this.fail('config-unique', `configuration ${key} is [${voters.join(',')}] from ${leader} but [${known.voters.join(',')}] from ${known.leader}`);
      }
      return;
    }
    this.configs.set(key, { voters: [...voters], leader });
    const strangers = voters.filter((v) => !this.hooks.known(v));
    if (strangers.length) this.fail('voters-are-members', `${leader} made [${strangers.join(',')}] voters of ${key}, but no such member ever ran`);
    if (cTerm !== term) return;
    const prev = this.configs.get(`${cTerm}.${version - 1}`);
    if (!prev || prev.leader !== leader) return; // the first configuration of this leader's term
    const added = voters.filter((v) => !prev.voters.includes(v));
    const removed = prev.voters.filter((v) => !voters.includes(v));
    if (added.length + removed.length > 1) {
      this.fail('config-one-change', `${leader} went from [${prev.voters.join(',')}] to [${voters.join(',')}] in one step (${key})`);
    }
    const acked = new Set<MemberId>([leader]);
    for (const [pos, who] of this.acks) {
      const [t, v] = pos.split('.').map(Number) as [number, number];
      if (t > cTerm || (t === cTerm && v >= version - 1)) for (const m of who) acked.add(m);
    }
    const have = prev.voters.filter((v) => acked.has(v)).length;
    const need = quorum(prev.voters.length, this.hooks.minSize);
    if (have < need) {
      this.fail('config-change-after-commit', `${leader} proposed ${key} [${voters.join(',')}] before ${cTerm}.${version - 1} [${prev.voters.join(',')}] was acknowledged by a quorum (${have} of ${need})`);
    }
  }

  private onEvent(inst: Instance, view: InstanceView, e: AppEvent): void {
    const who = inst.id;
    switch (e.type) {
      case 'memberJoined':
        if (view.joined.has(e.member)) this.fail('member-events', `${who} got memberJoined(${e.member}) twice without memberLeft`);
        view.joined.add(e.member);
        return;
      case 'memberLeft':
        if (!view.joined.delete(e.member)) this.fail('member-events', `${who} got memberLeft(${e.member}) for a non-member`);
        return;
      case 'leaderElected':
        if (view.announcedLeader !== null) this.fail('leader-events', `${who} got leaderElected(${e.leader}) while ${view.announcedLeader} was still its leader`);
        if (this.leaderOfTerm.get(e.term) !== e.leader) {
          this.fail('leader-events', `${who} got leaderElected(${e.leader}, term ${e.term}) but the leader of term ${e.term} is ${this.leaderOfTerm.get(e.term) ?? 'nobody'}`);
        }
        view.announcedLeader = e.leader;
        return;
      case 'leaderExited':
        if (view.announcedLeader !== e.leader) this.fail('leader-events', `${who} got leaderExited(${e.leader}) but its leader was ${view.announcedLeader ?? 'none'}`);
        view.announcedLeader = null;
        return;
      case 'voteRequest':
      case 'voteResult':
      case 'actionScheduled':
        this.polls.onEvent(inst, e);
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------ API calls made by the simulator

  /** A message reached `inst` (before it handles it). */
  received(inst: Instance, env: Envelope): void {
    this.liveness.received(inst, env);
    this.rules.received(inst, env);
  }

  /** A member restarted without its hard state (lost, damaged, reset): its term starts over. Its old votes still count. */
  amnesiacRestart(id: MemberId): void {
    this.maxTerm.delete(id);
    this.persisted.delete(id);
  }

  /** A call into the core threw something it should not have. */
  unexpectedError(inst: Instance, what: string, err: unknown): void {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.fail('core-threw', `${inst.id} ${what} threw ${text}`);
  }

  simulatorFault(rule: string, text: string): void {
    this.fail(rule, text);
  }

  // ------------------------------------------------------------ liveness

  beginStable(bound: number): void {
    this.liveness.begin(bound);
  }

  livenessStats(): LivenessStats | null {
    return this.liveness.stats();
  }

  /** The leader all up members agree on in the stable phase, once established. */
  stableLeader(): MemberId | null {
    return this.liveness.leader();
  }
}
