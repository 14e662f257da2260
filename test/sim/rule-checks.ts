/**
 * Invariants for the rules of docs/protocol.md that are about *when* a member
 * may act and *whom* it may believe, checked from the outside (what each member
 * received, sent and reported), never from the core's internals:
 *
 * - check-quorum-stepdown: a leader that has heard no quorum of its voters (in
 *   its term) for peerTimeout steps down within one heartbeat (+ timer jitter);
 * - act-within-lease: a leader acts as leader (leader heartbeat, ballot, poll
 *   result) only within electionMin of its previous heartbeat, the time its
 *   followers promised not to elect anybody else (a stalled leader must not
 *   wake up and speak for a group that may have moved on);
 * - vote-outside-lease: a member grants no (pre-)vote to a disruptive candidate
 *   while it heard its leader within electionMin (unless the leader handed over, or the
 *   runtime told it the leader's connection closed and it heard nothing from it since);
 * - follower-drops-silent-leader: a follower that has not heard its leader for
 *   peerTimeout reports no leader;
 * - stepdown-ends-polls: a leader that stops leading ends its open polls in the
 *   same step, with a definite result;
 * - leader-traffic-from-leader: ballots reach the application only from the
 *   member's leader of its current term; results only from the leader that
 *   opened the ballot;
 * - data-channels: `fromLeader` data only from the current leader to its
 *   addressee, `toLeader` data only at a leader;
 * - stale-incarnation-ignored: a message from an older incarnation of a sender than the one
 *   the receiver has on record makes the receiver do nothing for or about that sender (no
 *   event naming it, no reply to it): a message from a previous life is dropped (§2.1);
 * - settings-mismatch-reported: a heartbeat whose minSize differs from the receiver's, or
 *   whose protocol timers are not the group's (times one of TIMER_SCALES: adapted), is
 *   reported (configMismatch) at least once a minute per sender while it lasts, and
 *   matching settings never are.
 */
import type { AppEvent, Output } from '../../agent/core/events.js';
import type { Envelope, MemberId } from '../../agent/core/messages.js';
import { CHECKED_TIMERS, MISMATCH_REPORT_MS } from '../../agent/core/settings-check.js';
import { scaleTimers, TIMER_SCALES } from '../../agent/core/timers.js';
import { quorum, type CheckerHooks, type Fail } from './checker.js';
import type { Instance } from './simulator.js';

interface LeaderTrack {
  term: number;
  /** Last time the leader heard each voter in its term. */
  heard: Map<MemberId, number>;
  /** When it last sent a leader heartbeat (or became leader). */
  lastHeartbeat: number;
  /** Ballots it opened and has not announced a result for. */
  open: Set<string>;
}

interface FollowTrack {
  leader: MemberId;
  term: number;
  /** Last accepted leader heartbeat (or adoption of this leader). */
  contact: number;
}

export interface Before {
  role: string;
  term: number;
  leader: MemberId | null;
}

export class RuleChecks {
  private readonly leaders = new Map<string, LeaderTrack>();
  private readonly follows = new Map<string, FollowTrack>();
  /** The envelope an instance is handling in its current step. */
  private readonly pending = new Map<string, Envelope>();
  /** When each instance last reported (or was found not reporting) a settings mismatch, by sender. */
  private readonly mismatchSeen = new Map<string, number>();
  private readonly period: number;
  /** Connection-closed hints given to each instance (GroupMember.peerClosed): they waive its lease. */
  private readonly hints = new Map<string, { leader: MemberId; at: number }>();

  constructor(
    private readonly hooks: CheckerHooks,
    private readonly fail: Fail,
  ) {
    this.period = Math.max(10, Math.min(100, Math.floor(hooks.timers.heartbeat / 4)));
    const sweep = (): void => {
      this.sweep();
      this.hooks.at(this.hooks.now() + this.period, sweep);
    };
    this.hooks.at(this.period, sweep);
  }

  /** The runtime told `inst` that `member`'s connection closed (see GroupMember.peerClosed). */
  peerClosed(inst: Instance, member: MemberId): void {
    this.hints.set(inst.key, { leader: member, at: this.hooks.now() });
  }

  /** The newest incarnation of each sender each instance has been handed a message from. */
  private readonly newest = new Map<string, Map<MemberId, number>>();

  received(inst: Instance, env: Envelope): void {
    this.pending.set(inst.key, env);
    // A member's records hold incarnations it was handed (GroupMember.receive notes each sender's
    // own; nothing else writes one): a message at least as new as every earlier one from its
    // sender to this instance cannot be older than the record, so only an older one needs the
    // records (a copy of the whole table per call: most of this check's cost).
    let newest = this.newest.get(inst.key);
    if (!newest) this.newest.set(inst.key, (newest = new Map()));
    const seen = newest.get(env.from);
    if (seen === undefined || env.incarnation >= seen) {
      newest.set(env.from, env.incarnation);
      this.stale.delete(inst.key);
      return;
    }
    const records = (inst.member as { memberRecords?: () => { id: MemberId; incarnation: number }[] }).memberRecords?.();
    const rec = records?.find((r) => r.id === env.from);
    if (rec && env.incarnation < rec.incarnation) this.stale.set(inst.key, { env, onRecord: rec.incarnation });
    else this.stale.delete(inst.key);
  }

  /** The envelope an instance is handling, when it comes from an older incarnation than the one on record. */
  private readonly stale = new Map<string, { env: Envelope; onRecord: number }>();

  private checkStale(inst: Instance, outputs: readonly Output[]): void {
    const st = this.stale.get(inst.key);
    if (!st) return;
    this.stale.delete(inst.key);
    const from = st.env.from;
    for (const o of outputs) {
      const names =
        o.type === 'send'
          ? o.envelope.to === from
          : o.type === 'event' && (('member' in o.event && o.event.member === from) || ('from' in o.event && o.event.from === from) || ('requester' in o.event && o.event.requester === from));
      if (names) {
        this.fail('stale-incarnation-ignored', `${inst.id} acted on ${st.env.body.type} from ${from} incarnation ${st.env.incarnation}, older than the incarnation ${st.onRecord} it has on record (${o.type === 'send' ? `sent ${o.envelope.body.type} to it` : `reported ${o.type === 'event' ? o.event.type : ''}`})`);
        return;
      }
    }
  }

  /** The leader of a term, as the checker saw it. */
  leaderOf: (term: number) => MemberId | undefined = () => undefined;

  /** Openers of ballots as the checker saw them sent. */
  openerOf: (ballotId: string) => MemberId | undefined = () => undefined;

  afterStep(inst: Instance, before: Before, outputs: readonly Output[]): void {
    this.checkStale(inst, outputs);
    const env = this.pending.get(inst.key);
    this.pending.delete(inst.key);
    const m = inst.member;
    const role = m.role();
    const term = m.term();
    const leader = m.leader();
    const now = this.hooks.now();
    const t = this.hooks.timers;
    const slack = this.hooks.slack + 1;

    // Leases as they stood before this step (the step's own effects come after).
    const follow = this.follows.get(inst.key);
    // A leader's own lease ends electionMin after its last heartbeat (a stalled one steps down first).
    const led = before.role === 'leader' ? this.leaders.get(inst.key) : undefined;
    const hint = this.hints.get(inst.key);
    const waived = hint !== undefined && follow !== undefined && hint.leader === follow.leader && follow.contact <= hint.at;
    const inLeaseBefore = led !== undefined ? now - led.lastHeartbeat < t.electionMin : before.leader !== null && follow !== undefined && follow.leader === before.leader && now - follow.contact < t.electionMin && !waived;

    let track = this.leaders.get(inst.key);
    if (role === 'leader' && (!track || track.term !== term)) {
      track = { term, heard: new Map(), lastHeartbeat: -Infinity, open: new Set() };
      for (const v of m.config().voters) track.heard.set(v, now);
      this.leaders.set(inst.key, track);
    }
    const wasLeading = before.role === 'leader' ? this.leaders.get(inst.key) : undefined;

    for (const o of outputs) {
      if (o.type !== 'send') continue;
      const b = o.envelope.body;
      if (b.type === 'voteReply' && b.granted && env?.body.type === 'voteRequest' && !env.body.transfer && env.from === o.envelope.to) {
        const disruptive = env.body.preVote || env.body.electionTerm > before.term;
        if (disruptive && inLeaseBefore) {
          this.fail('vote-outside-lease', `${inst.id} granted a ${env.body.preVote ? 'pre-' : ''}vote for term ${env.body.electionTerm} to ${env.from} while in its leader's lease (${before.role === 'leader' ? 'it leads' : `heard ${before.leader} ${now - (follow?.contact ?? 0)} ms ago, electionMin ${t.electionMin}`})`);
        }
      }
      const lt = wasLeading ?? track;
      if (!lt) continue;
      const acting = b.type === 'leaderHeartbeat' || b.type === 'ballot' || (b.type === 'pollResult' && role === 'leader');
      if (acting && now - lt.lastHeartbeat > t.electionMin + slack && lt.lastHeartbeat !== -Infinity) {
        this.fail('act-within-lease', `${inst.id} (leader of term ${lt.term}) sent ${b.type} ${now - lt.lastHeartbeat} ms after its previous heartbeat, past its followers' lease (electionMin ${t.electionMin})`);
      }
      if (b.type === 'leaderHeartbeat') lt.lastHeartbeat = now;
      if (b.type === 'ballot') lt.open.add(b.ballotId);
      if (b.type === 'pollResult') lt.open.delete(b.ballotId);
    }

    if (wasLeading && (role !== 'leader' || term !== wasLeading.term)) {
      if (wasLeading.open.size > 0) {
        this.fail('stepdown-ends-polls', `${inst.id} stopped leading term ${wasLeading.term} with polls still open: ${[...wasLeading.open].join(', ')}`);
      }
      if (role !== 'leader') this.leaders.delete(inst.key);
    }
    if (role === 'leader' && track && env && env.term === term && env.from !== inst.id) track.heard.set(env.from, now);

    // Followers: whom they follow, and when they last heard it lead.
    if (role !== 'leader' && leader !== null) {
      const f = this.follows.get(inst.key);
      if (!f || f.leader !== leader || f.term !== term) this.follows.set(inst.key, { leader, term, contact: now });
      else if (env?.body.type === 'leaderHeartbeat' && env.from === leader && env.term === term) f.contact = now;
    } else {
      this.follows.delete(inst.key);
    }

    for (const o of outputs) if (o.type === 'event') this.onEvent(inst, o.event, env, role, term, leader);
    if (env) this.checkSettings(inst, env, outputs, now);
  }

  private checkSettings(inst: Instance, env: Envelope, outputs: readonly Output[], now: number): void {
    const b = env.body;
    if ((b.type !== 'memberHeartbeat' && b.type !== 'leaderHeartbeat') || env.from === inst.id || inst.member.hasLeft()) return;
    const m = inst.member;
    // The group's timers as configured, or those times an adaptation scale (a member that scaled
    // its own for its stalls says so and is judged by them: docs/protocol.md §6.1).
    const group = this.hooks.timers;
    const scaledGroup = TIMER_SCALES.some((k) => CHECKED_TIMERS.every((n) => b.timers[n] === scaleTimers(group, k)[n]));
    const differs = b.minSize !== m.minSize || !scaledGroup;
    const reported = outputs.some((o) => o.type === 'event' && o.event.type === 'configMismatch' && o.event.member === env.from);
    const key = `${inst.key}\0${env.from}`;
    if (reported && !differs) this.fail('settings-mismatch-reported', `${inst.id} reported a settings mismatch with ${env.from}, whose minSize and timers match its own`);
    if (reported) return void this.mismatchSeen.set(key, now);
    // Only heartbeats the member accepted count (a dropped one leaves its sender unknown).
    if (!differs || !m.members().includes(env.from)) return;
    const last = this.mismatchSeen.get(key);
    if (last === undefined || now - last > MISMATCH_REPORT_MS + this.hooks.slack) {
      const what = [...(b.minSize !== m.minSize ? [`minSize ${b.minSize} (its own ${m.minSize})`] : []), ...CHECKED_TIMERS.filter((k) => b.timers[k] !== group[k]).map((k) => `${k} ${b.timers[k]} (the group's ${group[k]})`)];
      this.fail('settings-mismatch-reported', `${inst.id} accepted a heartbeat from ${env.from} with ${what.join(', ')} and reported nothing${last === undefined ? '' : ` for ${now - last} ms`}`);
      this.mismatchSeen.set(key, now); // report once a minute
    }
  }

  private onEvent(inst: Instance, e: AppEvent, env: Envelope | undefined, role: string, term: number, leader: MemberId | null): void {
    const fromNet = env !== undefined;
    switch (e.type) {
      case 'voteRequest':
        if (fromNet && env.body.type === 'ballot' && (env.term !== term || this.leaderOf(term) !== env.from || (leader !== null && leader !== env.from))) {
          this.fail('leader-traffic-from-leader', `${inst.id} (term ${term}, leader ${leader ?? 'none'}) showed ballot ${e.ballotId} from ${env.from} (term ${env.term})`);
        }
        return;
      case 'voteResult':
        if (fromNet && env.body.type === 'pollResult') {
          const opener = this.openerOf(e.ballotId);
          if (opener !== undefined && env.from !== opener) this.fail('leader-traffic-from-leader', `${inst.id} took the result of ${e.ballotId} from ${env.from}, but ${opener} opened it`);
          if (opener === undefined) this.fail('leader-traffic-from-leader', `${inst.id} took a result for ${e.ballotId}, which no leader opened, from ${env.from}`);
        }
        return;
      case 'messageFromLeader':
        if (e.from === inst.id) return;
        if (!fromNet || env.body.type !== 'data' || env.to !== inst.id || env.from !== leader || env.term !== term) {
          this.fail('data-channels', `${inst.id} (term ${term}, leader ${leader ?? 'none'}) delivered messageFromLeader from ${e.from}${env ? ` (envelope term ${env.term}, to '${env.to}')` : ''}`);
        }
        return;
      case 'messageToLeader':
        if (role !== 'leader') this.fail('data-channels', `${inst.id} delivered messageToLeader from ${e.from} while ${role}`);
        return;
      default:
        return;
    }
  }

  /** Timed rules, every `period` ms of virtual time. */
  private sweep(): void {
    const now = this.hooks.now();
    const t = this.hooks.timers;
    const slack = this.hooks.slack + this.period + 2;
    for (const inst of this.hooks.up()) {
      if (inst.pausedUntil > now) continue;
      const awake = inst.lastPauseEnd;
      const m = inst.member;
      const track = this.leaders.get(inst.key);
      if (track && m.role() === 'leader') {
        const voters = m.config().voters;
        const times: number[] = [];
        for (const v of voters) {
          if (!track.heard.has(v)) track.heard.set(v, now); // a voter just added counts as heard
          times.push(v === inst.id ? Infinity : (track.heard.get(v) as number));
        }
        times.sort((a, b) => b - a);
        const q = quorum(voters.length, this.hooks.minSize);
        // Quorum contact lasts until the q-th most recent voter's contact is peerTimeout old.
        const qth = times[q - 1] ?? -Infinity;
        const lostAt = qth + t.peerTimeout;
        if (now > Math.max(lostAt, awake) + t.heartbeat + slack) {
          this.fail('check-quorum-stepdown', `${inst.id} still leads term ${track.term} ${now - lostAt} ms after it lost contact with a quorum of [${voters.join(',')}] (peerTimeout ${t.peerTimeout}, heartbeat ${t.heartbeat})`);
          track.heard.clear(); // report once
          for (const v of voters) track.heard.set(v, now);
        }
      }
      const f = this.follows.get(inst.key);
      if (f && m.role() !== 'leader' && m.leader() === f.leader && now > Math.max(f.contact, awake) + t.peerTimeout + slack) {
        this.fail('follower-drops-silent-leader', `${inst.id} still follows ${f.leader} (term ${f.term}) ${now - f.contact} ms after its last leader heartbeat (peerTimeout ${t.peerTimeout})`);
        f.contact = now; // report once
      }
    }
  }
}
