/**
 * The group protocol core: one deterministic state machine per (group, member).
 *
 * It takes inputs (a received envelope, the passage of time, an API request)
 * with the current {@link Instant} and queues outputs (envelopes to send, hard
 * state to persist, application events) that the runtime drains with
 * {@link GroupMember.takeOutputs}. It never touches sockets, timers or clocks,
 * so the simulator in test/sim can drive thousands of seeded schedules.
 *
 * This file is the member's face: the inputs, their order, the checks every envelope passes,
 * membership and data. The protocols live in their own modules (docs/protocol.md has the whole story):
 * - election.ts: terms, one vote per term (persisted), pre-vote, the lease, amnesia;
 * - leadership.ts: check-quorum, the voter configuration (one change at a time, only on top of
 *   a committed one), hand-over on a graceful leave, majority-loss recovery;
 * - polling.ts: polls decided by the leader as soon as the outcome is certain;
 * - outbox.ts: envelopes, broadcast, silence after leaving; role.ts: the role as a tagged union;
 * - settings-check.ts: heartbeat settings compared with ours (a difference is a configuration error).
 */
import { BadArgumentsError, LeftGroupError, NoLeaderError, NotLeaderError } from './errors.js';
import type { Instant, Output, Role } from './events.js';
import { Election } from './election.js';
import { Leadership } from './leadership.js';
import { MemberState, TERM_CEILING, type MemberCounters, type MemberOptions } from './member-state.js';
import { PROTOCOL_VERSION, type Envelope, type GroupData, type HeartbeatAck, type LeaderHeartbeat, type MemberId, type VoteReply, type VoteRequest, type VoterConfig } from './messages.js';
import { Polling, type PollRequestOptions } from './polling.js';
import { SettingsCheck } from './settings-check.js';
import type { MemberRecord } from './membership.js';
import type { TimerSettings } from './timers.js';

export { TERM_CEILING, type MemberCounters, type MemberOptions, type PollRequestOptions };

export class GroupMember {
  readonly id: MemberId;
  readonly group: string;
  readonly incarnation: number;
  readonly minSize: number;
  readonly counters: MemberCounters;
  private readonly s: MemberState;

  constructor(opts: MemberOptions) {
    if (!Number.isInteger(opts.minSize) || opts.minSize < 1) throw new BadArgumentsError(`minSize must be a whole number >= 1, got ${opts.minSize}`);
    const s = new MemberState(opts);
    s.election = new Election(s);
    s.leadership = new Leadership(s);
    s.polls = new Polling(s);
    s.settings = new SettingsCheck(s);
    this.s = s;
    this.id = s.id;
    this.group = s.group;
    this.incarnation = s.incarnation;
    this.minSize = s.minSize;
    this.counters = s.counters;
  }

  // ---------------------------------------------------------------- queries

  /** This member's own timers: the group's, unless the runtime adapted them (setTimers). */
  get timers(): TimerSettings {
    return this.s.timers;
  }
  /** The timers a peer advertises (undefined until one of its heartbeats is heard). */
  advertisedTimers(member: MemberId): TimerSettings | undefined {
    const t = this.s.advertised.get(member);
    return t ? { ...t } : undefined;
  }

  /** A pre-candidate has not changed its term and still reports as a follower. */
  role(): Role {
    return this.s.publicRole();
  }
  term(): number {
    return this.s.currentTerm;
  }
  leader(): MemberId | null {
    return this.s.leaderId();
  }
  isLeader(): boolean {
    return this.s.isLeader();
  }
  members(): MemberId[] {
    return this.s.table.ids();
  }
  size(): number {
    return this.s.table.size;
  }
  config(): VoterConfig {
    return this.s.voterConfig;
  }
  hasLeft(): boolean {
    return this.s.left;
  }
  /** Each member's record (a copy): incarnation, when last heard (monotonic ms), endpoint. */
  memberRecords(): MemberRecord[] {
    return this.s.table.ids().flatMap((id) => {
      const rec = this.s.table.get(id);
      return rec ? [{ ...rec }] : [];
    });
  }
  /** The endpoint a member advertised (for the runtime's directed sends). */
  endpointOf(member: MemberId): string {
    return this.s.table.get(member)?.endpoint ?? '';
  }

  takeOutputs(): Output[] {
    return this.s.out.take();
  }

  nextDeadline(): number {
    const s = this.s;
    if (!s.started || s.left) return Infinity;
    const books = s.books();
    let next = Math.min(s.heartbeatAt, s.table.nextExpiry(s.peerTimeoutOf), s.polls.nextDeadline(books));
    if (!s.isLeader()) next = Math.min(next, s.electionAt);
    next = Math.min(next, s.election.silentLeaderDeadline());
    if (s.noVoteThrough === Infinity) next = Math.min(next, s.amnesiaUntil);
    if (books && books.leavingDeadline !== null) next = Math.min(next, books.leavingDeadline);
    return next;
  }

  // ---------------------------------------------------------------- inputs

  start(now: Instant): void {
    const s = this.s;
    if (s.started || s.left) return;
    s.started = true;
    if (s.noVoteThrough === Infinity) s.persistHardState();
    s.table.heard(s.id, s.incarnation, now.mono);
    s.table.setEndpoint(s.id, s.endpoint);
    s.emit({ type: 'memberJoined', member: s.id });
    s.election.resetElectionTimer(now.mono);
    s.leadership.sendHeartbeat(now);
    s.election.probe();
  }

  tick(now: Instant): void {
    const s = this.s;
    if (!s.started || s.left) return;
    this.beforeInput(now);
    const t = now.mono;
    for (const gone of s.table.expire(t, s.peerTimeoutOf)) {
      s.advertised.delete(gone);
      this.memberGone(gone, 'timeout', now);
    }
    s.polls.prune(t);
    // A follower that has not heard its leader lead for peerTimeout has no leader (the leader's
    // own check-quorum gives up within the same time), whatever else it hears from it.
    s.election.dropSilentLeader(now);
    s.leadership.maybeRecover(now);
    if (s.isLeader()) s.leadership.tick(now);
    else if (t >= s.electionAt) s.election.electionTimeout(now);
    if (s.left) return;
    if (t >= s.heartbeatAt) {
      s.leadership.sendHeartbeat(now);
      s.election.probe();
    }
    s.polls.memberTick(now);
  }

  /**
   * A hint from the runtime: the transport connection to `member` closed (a process that
   * dies has its sockets closed by the kernel at once; silence — power loss, a cut cable —
   * gives no such hint and waits for the timers). Never proof: the connection may have
   * closed for another reason. If `member` is our leader, we campaign after a short delay
   * (a pre-vote, which changes no term unless a majority grants it) instead of the full
   * election timeout, and stop honouring its lease, so we grant such pre-votes too.
   * Members that still hear the leader (no hint of their own, or a message from it since)
   * keep refusing: one member's hint alone cannot depose a live leader, and two leaders
   * never share a term (votes are unchanged). See docs/protocol.md "Connection-closed hint".
   */
  peerClosed(member: MemberId, now: Instant): void {
    const s = this.s;
    if (!s.started || s.left) return;
    this.beforeInput(now);
    s.election.peerClosed(member, now);
  }

  /** Checks every input makes before anything else: the amnesia quarantine, and a leader's stall. */
  private beforeInput(now: Instant): void {
    this.s.election.endQuarantine(now);
    this.s.leadership.checkStall(now);
  }

  /** Leader traffic (ballots, leader→member data) counts only from our leader, in our term. */
  private fromOurLeader(env: Envelope): boolean {
    const s = this.s;
    return env.from === s.leaderId() && env.term === s.currentTerm && !s.isLeader();
  }

  /** A ballot's sender leads our term: our leader, or the one we just gave up on for silence (loss), still in our term. */
  private fromLeaderOfOurTerm(env: Envelope): boolean {
    const s = this.s;
    const ours = env.from === s.leaderId() || (s.leaderId() === null && env.from === s.formerLeader);
    return ours && env.term === s.currentTerm && !s.isLeader();
  }

  receive(env: Envelope, now: Instant): void {
    const s = this.s;
    if (!s.started || s.left) return;
    if (env.version !== PROTOCOL_VERSION || env.group !== s.group) return void s.counters.misrouted++;
    if (env.from === s.id) return; // our own broadcast looped back by the bus
    if (env.to !== '' && env.to !== s.id) return void s.counters.misrouted++;
    if (this.isAbsurd(env)) return void s.counters.absurd++;
    this.beforeInput(now);
    s.maxSeenTerm = Math.max(s.maxSeenTerm, env.term, env.body.type === 'voteRequest' ? env.body.electionTerm : 0);
    if (env.body.type === 'timeoutNow') return s.election.onTimeoutNow(env, now);
    if (!this.noteSender(env, now)) return;

    const body = env.body;
    if (body.type === 'memberHeartbeat' || body.type === 'leaderHeartbeat') {
      s.advertised.set(env.from, body.timers);
      s.settings.heard(env.from, body.timers, body.minSize, now);
    }
    if (body.type === 'voteRequest') return s.election.onVoteRequest(env as Envelope<VoteRequest>, now);
    if (env.term > s.currentTerm && s.election.isTermBearing(body)) {
      s.election.becomeFollower(env.term, body.type === 'leaderHeartbeat' ? env.from : null, now);
    }
    switch (body.type) {
      case 'memberHeartbeat':
        s.table.setEndpoint(env.from, body.endpoint);
        return;
      case 'voteReply':
        return s.election.onVoteReply(env as Envelope<VoteReply>, now);
      case 'leaderHeartbeat':
        return s.election.onLeaderHeartbeat(env as Envelope<LeaderHeartbeat>, now);
      case 'heartbeatAck':
        return s.leadership.onHeartbeatAck(env as Envelope<HeartbeatAck>, now);
      case 'leave':
        return this.memberGone(env.from, 'left', now, env.incarnation);
      case 'data':
        return this.onData(env as Envelope<GroupData>, now);
      case 'pollRequest':
        if (!s.isLeader()) return void s.counters.misrouted++;
        return s.polls.openPoll(body, env.from, now);
      case 'ballot':
        // Only the leader of our term opens ballots: not a leader we left behind. A member that has
        // just given up on a silent leader (loss) still takes a ballot from the leader of its term.
        if (!this.fromLeaderOfOurTerm(env)) return void s.counters.notFromLeader++;
        return s.polls.onBallot(body, env.from, now);
      case 'memberVote':
        return s.polls.countVote(body, env.from, now);
      case 'pollResult':
        return s.polls.onPollResult(body, env.from, now, this.fromLeaderOfOurTerm(env));
    }
  }

  // ---------------------------------------------------------------- API requests

  /** Every API request: refused once left; otherwise first the checks every input makes. */
  private beforeRequest(now: Instant): void {
    if (this.s.left) throw new LeftGroupError(this.s.group);
    if (this.s.started) this.beforeInput(now);
  }

  send(payload: Uint8Array, now: Instant): void {
    const s = this.s;
    this.beforeRequest(now);
    s.out.broadcast({ type: 'data', channel: 'group', payload, sentAt: now.wall });
    if (s.deliverToSelf) s.emit({ type: 'message', from: s.id, payload, sentAt: now.wall, receivedAt: now.wall });
  }

  sendToLeader(payload: Uint8Array, now: Instant): void {
    const s = this.s;
    this.beforeRequest(now);
    const leader = s.leaderId();
    if (leader === null) throw new NoLeaderError(s.group);
    if (leader === s.id) {
      s.emit({ type: 'messageToLeader', from: s.id, payload, sentAt: now.wall, receivedAt: now.wall });
      return;
    }
    s.out.sendTo(leader, { type: 'data', channel: 'toLeader', payload, sentAt: now.wall });
  }

  sendToMember(payload: Uint8Array, to: MemberId, now: Instant): void {
    const s = this.s;
    this.beforeRequest(now);
    if (!s.isLeader()) throw new NotLeaderError(s.group, s.leaderId());
    if (to === s.id) {
      s.emit({ type: 'messageFromLeader', from: s.id, payload, sentAt: now.wall, receivedAt: now.wall });
      return;
    }
    if (!s.table.has(to)) throw new BadArgumentsError(`member ${to} is not in group ${s.group}`);
    s.out.sendTo(to, { type: 'data', channel: 'fromLeader', payload, sentAt: now.wall });
  }

  /** Ask the leader to open a poll. Returns the ballot id (results arrive as a voteResult event). */
  requestPoll(req: PollRequestOptions, now: Instant): string {
    this.beforeRequest(now);
    return this.s.polls.request(req, now);
  }

  /**
   * Vote on a ballot this member saw. Returns false when the vote no longer matters (already
   * voted or decided). A 'no' may carry a reason every member sees in the result.
   */
  vote(ballotId: string, yes: boolean, now: Instant, reason?: string): boolean {
    this.beforeRequest(now);
    return this.s.polls.vote(ballotId, yes, now, reason);
  }

  /**
   * New timers for this member (the runtime's adaptation to its own stalls and load). They
   * go out at once in a heartbeat: peers judge this member by them from then on.
   */
  setTimers(timers: TimerSettings, now: Instant): void {
    const s = this.s;
    if (s.left) throw new LeftGroupError(s.group);
    if (s.started) {
      // First judge the time that passed by the timers it passed under: a leader waking from a
      // stall must check the lease its followers granted (the old electionMin) before a longer
      // one is adopted, or a scale-up on waking would excuse the very stall that caused it.
      this.beforeInput(now);
      if (s.left) return;
    }
    s.timers = { ...timers };
    if (!s.started) return;
    if (!s.isLeader()) s.election.resetElectionTimer(now.mono, s.leaderTimers());
    s.leadership.sendHeartbeat(now);
  }

  /**
   * The runtime's judgement of this member's health: `true` while it is in poor health and a
   * healthier voter is alive. A yielding member lets the others campaign first: its election
   * timeout waits one more round of its own timers, and a connection-closed hint does not
   * hurry it (docs/protocol.md §4.6). Nothing else changes: it still votes, and campaigns
   * at once when a leader hands over to it.
   */
  setCampaignYield(yielding: boolean): void {
    const s = this.s;
    if (s.yieldCampaign === yielding) return;
    s.yieldCampaign = yielding;
    s.campaignDeferred = false;
  }

  /** Whether this member yields its candidacy (setCampaignYield). */
  yieldsCampaign(): boolean {
    return this.s.yieldCampaign;
  }

  /**
   * Leader only: hand leadership to `target` (a live voter), which campaigns at once, as on a
   * graceful leave but staying in the group (a leader in poor health steps aside).
   * Returns false when this member does not lead or `target` is no live voter.
   */
  handOver(target: MemberId, now: Instant): boolean {
    const s = this.s;
    if (s.left) throw new LeftGroupError(s.group);
    if (s.started) this.beforeInput(now);
    const books = s.books();
    if (!books || target === s.id || !s.voterConfig.voters.includes(target)) return false;
    if (now.mono - (books.lastActive.get(target) ?? -Infinity) > s.peerTimeoutOf(target)) return false;
    s.out.sendTo(target, { type: 'timeoutNow' });
    return true;
  }

  /** Leave gracefully. A leader first hands the group over. Emits a 'left' event when done. */
  leave(now: Instant): void {
    const s = this.s;
    if (s.left) return;
    if (!s.started) {
      s.out.silence();
      s.emit({ type: 'left' });
      return;
    }
    if (s.leadership.startLeaving(now)) return;
    s.leadership.finishLeaving(now);
  }

  // ---------------------------------------------------------------- membership

  /** Account for the sender; false if the message is from a stale incarnation and must be dropped. */
  private noteSender(env: Envelope, now: Instant): boolean {
    const s = this.s;
    const result = s.table.heard(env.from, env.incarnation, now.mono);
    if (result === 'stale') {
      s.counters.staleDropped++;
      return false;
    }
    if (result === 'joined') {
      if (env.body.type === 'leave') {
        s.table.depart(env.from, env.incarnation, now.mono);
        return false;
      }
      s.emit({ type: 'memberJoined', member: env.from });
      s.books()?.departed.delete(env.from); // it came back
    }
    if (result === 'restarted' && s.leaderId() === env.from && !s.isLeader()) {
      // A restarted leader has lost its leadership with its memory.
      s.election.loseLeader(now);
    }
    // Only a voter in our term counts toward check-quorum: one that follows a newer leader does not.
    const books = s.books();
    if (books && env.term === s.currentTerm && s.voterConfig.voters.includes(env.from)) books.lastActive.set(env.from, now.mono);
    return true;
  }

  private memberGone(member: MemberId, reason: 'left' | 'timeout', now: Instant, incarnation?: number): void {
    const s = this.s;
    const removed = reason === 'left' ? s.table.depart(member, incarnation ?? 0, now.mono) : true;
    s.settings.forget(member);
    if (removed) s.emit({ type: 'memberLeft', member, reason });
    if (member === s.leaderId() && !s.isLeader()) s.election.loseLeader(now);
    const books = s.books();
    if (books) {
      if (reason === 'left') books.departed.add(member);
      s.leadership.manageConfig(now);
    }
  }

  // ---------------------------------------------------------------- data

  private onData(env: Envelope<GroupData>, now: Instant): void {
    const s = this.s;
    const d = env.body;
    const base = { from: env.from, payload: d.payload, sentAt: d.sentAt, receivedAt: now.wall };
    if (d.channel === 'group') s.emit({ type: 'message', ...base });
    else if (d.channel === 'fromLeader') {
      if (!this.fromOurLeader(env)) return void s.counters.notFromLeader++;
      s.emit({ type: 'messageFromLeader', ...base });
    } else if (s.isLeader()) s.emit({ type: 'messageToLeader', ...base });
    else s.counters.misrouted++;
  }

  /** Values no member can hold: a term beyond the ceiling, a configuration newer than its sender's term. */
  private isAbsurd(env: Envelope): boolean {
    if (env.term > TERM_CEILING) return true;
    const b = env.body;
    if (b.type === 'voteRequest') return b.electionTerm > TERM_CEILING || b.configTerm > b.electionTerm;
    if (b.type === 'leaderHeartbeat') return b.config.term > env.term;
    if (b.type === 'voteReply') return b.electionTerm > TERM_CEILING;
    return false;
  }
}
