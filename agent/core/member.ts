/**
 * The group protocol core: one deterministic state machine per (group, member).
 *
 * It takes inputs (a received envelope, the passage of time, an API request)
 * with the current {@link Instant} and queues outputs (envelopes to send, hard
 * state to persist, application events) that the runtime drains with
 * {@link GroupMember.takeOutputs}. It never touches sockets, timers or clocks,
 * so the simulator in test/sim can drive thousands of seeded schedules.
 *
 * Protocol summary (docs/protocol.md has the whole story):
 * - membership by heartbeats; a member counts itself;
 * - Raft elections without a log: monotonic terms, one vote per term (persisted),
 *   pre-vote, check-quorum, leader lease, leadership transfer on a graceful leave;
 * - the leader owns the voter configuration and changes it one member at a time,
 *   only once the previous configuration is committed by a quorum;
 * - polls decided by the leader as soon as the outcome is certain.
 */
import { BadArgumentsError, LeftGroupError, NoLeaderError, NotLeaderError } from './errors.js';
import type { AppEvent, HardState, Instant, Output, Random, Role } from './events.js';
import { MAX_COUNTER, MAX_EPOCH_MS, MAX_POLL_TIMEOUT_MS } from './limits.js';
import { MemberTable } from './membership.js';
import {
  PROTOCOL_VERSION,
  type Ballot,
  type Body,
  type Envelope,
  type GroupData,
  type LeaderHeartbeat,
  type MemberId,
  type MemberVote,
  type PollKind,
  type PollRequest,
  type PollResult,
  type PollSpec,
  type PollSubject,
  type VoteReply,
  type VoteRequest,
  type VoterConfig,
} from './messages.js';
import { BallotBook, Poll, type BallotEntry } from './polls.js';
import { EMPTY_CONFIG, comparePosition, hasQuorum, isBootstrap } from './quorum.js';
import type { TimerSettings } from './timers.js';

export interface MemberOptions {
  group: string;
  id: MemberId;
  /** Grows with every (re)start of this member. */
  incarnation: number;
  /** Least number of members that may elect a leader (RIAPS groupMinSize). */
  minSize: number;
  timers: TimerSettings;
  random: Random;
  /** Last persisted hard state, when restarting. */
  hardState?: HardState;
  /** This member's directed-message endpoint, advertised in heartbeats. */
  endpoint?: string;
  /** Deliver this member's own group messages to itself (RIAPS does). Default true. */
  deliverToSelf?: boolean;
  /**
   * The member starts without a vote record it should have had (lost, damaged or reset, or
   * no durable store at all): it may have voted in some recent term before, so it grants no
   * vote until it is safe (docs/protocol.md §4.4).
   */
  amnesiac?: boolean;
}

/**
 * The highest term a member adopts. The wire carries terms up to 2^48 (proto/codec.ts); staying
 * 2^24 elections below that keeps every increment encodable, so no frame, however absurd, can
 * push a group to a term it cannot leave.
 */
export const TERM_CEILING = MAX_COUNTER - 2 ** 24;

export interface PollRequestOptions {
  topic: Uint8Array;
  kind: PollKind;
  subject: PollSubject;
  /** Action instant, wall-clock epoch ms (subject 'action'). */
  when?: number;
  /** Poll timeout in ms; default timers.consensusTimeout. */
  timeoutMs?: number;
}

/** Counters the runtime exports as metrics. */
export interface MemberCounters {
  elections: number;
  leaderChanges: number;
  staleDropped: number;
  misrouted: number;
  /** Leader traffic (ballots, results, leader data) from a member that is not our leader of this term. */
  notFromLeader: number;
  /** Envelopes with values no member can hold (a term beyond TERM_CEILING). */
  absurd: number;
  /** Times a leader found it had stalled past its lease and stepped down before acting. */
  stalls: number;
  ignoredVotes: number;
  pollsOpened: number;
  pollResults: Record<'yes' | 'no' | 'timeout', number>;
}

type Campaign = { phase: 'pre' | 'real'; term: number; voters: MemberId[]; proposed: MemberId[]; grants: Set<MemberId>; transfer: boolean };

interface LeaderState {
  /** Last time each voter was heard from (check-quorum, removal of dead voters). */
  lastActive: Map<MemberId, number>;
  /** Configuration position each member last acknowledged. */
  acked: Map<MemberId, { term: number; version: number }>;
  committedVersion: number;
  /** Members that said goodbye and must leave the configuration. */
  departed: Set<MemberId>;
  polls: Map<string, Poll>;
  /** Set while the leader leaves gracefully: when to give up waiting for its own removal. */
  leavingDeadline: number | null;
}

export class GroupMember {
  readonly id: MemberId;
  readonly group: string;
  readonly incarnation: number;
  readonly minSize: number;
  readonly timers: TimerSettings;
  private readonly random: Random;
  private readonly endpoint: string;
  private readonly deliverToSelf: boolean;

  private outputs: Output[] = [];
  private readonly table: MemberTable;
  private readonly ballots = new BallotBook();

  private currentTerm: number;
  private votedFor: MemberId | null;
  private state: Role = 'follower';
  private leaderId: MemberId | null = null;
  /** The last leader this member lost (accepts its hand-over). */
  private formerLeader: MemberId | null = null;
  private leaderContact = -Infinity;
  private voterConfig: VoterConfig = EMPTY_CONFIG;
  private campaign: Campaign | null = null;
  private leaderState: LeaderState | null = null;

  private started = false;
  private left = false;
  /** Amnesia (see MemberOptions.amnesiac): no votes before this monotonic time (Infinity until armed)... */
  private amnesiaUntil = Infinity;
  /** ...and none for a term up to this one (Infinity while the quarantine lasts). */
  private noVoteThrough = -1;
  /** Highest term seen on any accepted envelope (an amnesiac's floor). */
  private maxSeenTerm = 0;
  /** When this member, as leader, last sent a leader heartbeat: its followers' lease runs from there. */
  private lastLeaderHeartbeat = -Infinity;
  /** Since when this member has known no leader (majority-loss recovery), or null. */
  private leaderlessSince: number | null = null;
  /** Results this member announced as leader, to repeat and to answer members that missed them. */
  private readonly announced = new Map<string, { result: PollResult; repeats: number; until: number }>();
  private heartbeatAt = Infinity;
  private electionAt = Infinity;
  /**
   * The runtime saw our leader's connection close (see peerClosed), at this monotonic time,
   * and we have heard nothing from it since; null otherwise. It waives our leader lease.
   */
  private leaderClosed: { leader: MemberId; at: number } | null = null;
  private ballotSeq = 0;
  readonly counters: MemberCounters = {
    elections: 0,
    leaderChanges: 0,
    staleDropped: 0,
    misrouted: 0,
    notFromLeader: 0,
    absurd: 0,
    stalls: 0,
    ignoredVotes: 0,
    pollsOpened: 0,
    pollResults: { yes: 0, no: 0, timeout: 0 },
  };

  constructor(opts: MemberOptions) {
    if (!Number.isInteger(opts.minSize) || opts.minSize < 1) throw new BadArgumentsError(`minSize must be a whole number >= 1, got ${opts.minSize}`);
    this.id = opts.id;
    this.group = opts.group;
    this.incarnation = opts.incarnation;
    this.minSize = opts.minSize;
    this.timers = { ...opts.timers };
    this.random = opts.random;
    this.endpoint = opts.endpoint ?? '';
    this.deliverToSelf = opts.deliverToSelf ?? true;
    this.currentTerm = opts.hardState?.term ?? 0;
    this.votedFor = opts.hardState?.votedFor ?? null;
    this.table = new MemberTable(this.id);
    // Amnesia is itself durable: a member that crashes in quarantine is still amnesiac after.
    if (opts.amnesiac || opts.hardState?.quarantined) this.noVoteThrough = Infinity;
    else if (Number.isSafeInteger(opts.hardState?.voteFloor)) this.noVoteThrough = opts.hardState?.voteFloor as number;
  }

  // ---------------------------------------------------------------- queries

  /** A pre-candidate has not changed its term and still reports as a follower. */
  role(): Role {
    return this.state === 'candidate' && this.campaign?.phase === 'pre' ? 'follower' : this.state;
  }
  term(): number {
    return this.currentTerm;
  }
  leader(): MemberId | null {
    return this.leaderId;
  }
  isLeader(): boolean {
    return this.state === 'leader';
  }
  members(): MemberId[] {
    return this.table.ids();
  }
  size(): number {
    return this.table.size;
  }
  config(): VoterConfig {
    return this.voterConfig;
  }
  hasLeft(): boolean {
    return this.left;
  }
  /** The endpoint a member advertised (for the runtime's directed sends). */
  endpointOf(member: MemberId): string {
    return this.table.get(member)?.endpoint ?? '';
  }

  takeOutputs(): Output[] {
    const out = this.outputs;
    this.outputs = [];
    return out;
  }

  nextDeadline(): number {
    if (!this.started || this.left) return Infinity;
    let next = Math.min(this.heartbeatAt, this.table.nextExpiry(this.timers.peerTimeout), this.ballots.nextDeadline());
    if (this.state !== 'leader') next = Math.min(next, this.electionAt);
    next = Math.min(next, this.silentLeaderDeadline());
    if (this.noVoteThrough === Infinity) next = Math.min(next, this.amnesiaUntil);
    const ls = this.leaderState;
    if (ls) {
      for (const p of ls.polls.values()) next = Math.min(next, p.deadline, p.rebroadcastAt);
      if (ls.leavingDeadline !== null) next = Math.min(next, ls.leavingDeadline);
    }
    return next;
  }

  // ---------------------------------------------------------------- inputs

  start(now: Instant): void {
    if (this.started || this.left) return;
    this.started = true;
    if (this.noVoteThrough === Infinity) this.persistHardState();
    this.table.heard(this.id, this.incarnation, now.mono);
    this.table.setEndpoint(this.id, this.endpoint);
    this.emit({ type: 'memberJoined', member: this.id });
    this.resetElectionTimer(now.mono);
    this.sendHeartbeat(now);
  }

  tick(now: Instant): void {
    if (!this.started || this.left) return;
    this.beforeInput(now);
    const t = now.mono;
    for (const gone of this.table.expire(t, this.timers.peerTimeout)) this.memberGone(gone, 'timeout', now);
    this.ballots.prune(t);
    for (const [id, a] of this.announced) if (t >= a.until) this.announced.delete(id);
    // A follower that has not heard its leader lead for peerTimeout has no leader (the leader's
    // own check-quorum gives up within the same time), whatever else it hears from it.
    this.dropSilentLeader(now);
    this.maybeRecover(now);
    if (this.state === 'leader') this.leaderTick(now);
    else if (t >= this.electionAt) this.electionTimeout(now);
    if (this.left) return;
    if (t >= this.heartbeatAt) this.sendHeartbeat(now);
    for (const entry of this.ballots.dueForResend(t)) this.resendVote(entry, now);
    for (const entry of this.ballots.overdue(t)) {
      this.deliverResult(entry.spec, 'timeout', { yes: 0, no: 0, voters: 0 }, 'no result from the leader by the deadline', now);
    }
  }

  /** When a follower gives up on a leader it no longer hears lead (Infinity: no such leader). */
  private silentLeaderDeadline(): number {
    return this.state !== 'leader' && this.leaderId !== null ? this.leaderContact + this.timers.peerTimeout + 1 : Infinity;
  }

  private dropSilentLeader(now: Instant): void {
    if (now.mono >= this.silentLeaderDeadline()) this.loseLeader(now);
  }

  /** Leader traffic (ballots, leader→member data) counts only from our leader, in our term. */
  private fromOurLeader(env: Envelope): boolean {
    return env.from === this.leaderId && env.term === this.currentTerm && this.state !== 'leader';
  }

  /** A ballot's sender leads our term: our leader, or the one we just gave up on for silence (loss), still in our term. */
  private fromLeaderOfOurTerm(env: Envelope): boolean {
    const ours = env.from === this.leaderId || (this.leaderId === null && env.from === this.formerLeader);
    return ours && env.term === this.currentTerm && this.state !== 'leader';
  }

  /** A member may become a voter once it has acknowledged this leader (see manageConfig). */
  private mayBecomeVoter(member: MemberId): boolean {
    return this.leaderState?.acked.has(member) ?? false;
  }

  /** Checks every input makes before anything else: the amnesia quarantine, and a leader's stall. */
  private beforeInput(now: Instant): void {
    this.endQuarantine(now);
    this.checkStall(now);
  }

  private endQuarantine(now: Instant): void {
    if (this.noVoteThrough !== Infinity) return;
    // The quarantine runs for peerTimeout from the moment the member hears enough others to ever
    // win an election (minSize, itself included): long enough to hear every live member's term.
    // A member cut off meanwhile stays quiet, however long the cut lasts.
    if (this.amnesiaUntil === Infinity && this.table.alive(now.mono, this.timers.peerTimeout).length >= this.minSize) {
      this.amnesiaUntil = now.mono + this.timers.peerTimeout;
    }
    if (now.mono >= this.amnesiaUntil) {
      // Quarantine over: a term this member may have voted in before is one some live member still
      // holds (it has heard them all by now), or one above them all that only it reached (its own
      // failed campaign). Vote only above both (docs/protocol.md §4.4); its own campaigns skip them.
      this.noVoteThrough = this.maxSeenTerm + 1;
      this.persistHardState();
    }
  }

  private checkStall(now: Instant): void {
    if (this.state === 'leader' && now.mono - this.lastLeaderHeartbeat >= this.timers.electionMin) {
      // Stalled (a frozen process, a blocked loop) past the lease its followers granted: another
      // leader may exist already. Step down before acting; the group re-elects (maybe us again).
      this.counters.stalls++;
      this.stepDown(now, `stalled ${Math.round(now.mono - this.lastLeaderHeartbeat)} ms since its last heartbeat, past the followers' lease (electionMin ${this.timers.electionMin} ms)`);
    }
  }

  receive(env: Envelope, now: Instant): void {
    if (!this.started || this.left) return;
    if (env.version !== PROTOCOL_VERSION || env.group !== this.group) return void this.counters.misrouted++;
    if (env.from === this.id) return; // our own broadcast looped back by the bus
    if (env.to !== '' && env.to !== this.id) return void this.counters.misrouted++;
    if (this.isAbsurd(env)) return void this.counters.absurd++;
    this.beforeInput(now);
    this.maxSeenTerm = Math.max(this.maxSeenTerm, env.term, env.body.type === 'voteRequest' ? env.body.electionTerm : 0);
    if (env.body.type === 'timeoutNow') {
      // The hand-over travels on another socket than the leader's goodbye and may arrive after it,
      // when the sender is already a tombstone: judge it by who sent it, not by membership.
      if ((env.from === this.leaderId || env.from === this.formerLeader) && env.term === this.currentTerm && this.state !== 'leader') {
        this.startCampaign(now, 'real', true);
      }
      return;
    }
    if (!this.noteSender(env, now)) return;

    const body = env.body;
    if (body.type === 'voteRequest') return this.onVoteRequest(env as Envelope<VoteRequest>, now);
    if (env.term > this.currentTerm && this.isTermBearing(body)) {
      this.becomeFollower(env.term, body.type === 'leaderHeartbeat' ? env.from : null, now);
    }
    switch (body.type) {
      case 'memberHeartbeat':
        this.table.setEndpoint(env.from, body.endpoint);
        return;
      case 'voteReply':
        return this.onVoteReply(env as Envelope<VoteReply>, now);
      case 'leaderHeartbeat':
        return this.onLeaderHeartbeat(env as Envelope<LeaderHeartbeat>, now);
      case 'heartbeatAck':
        if (this.leaderState && env.term === this.currentTerm && body.accepted) {
          this.leaderState.acked.set(env.from, { term: body.configTerm, version: body.configVersion });
          this.updateCommit();
          this.manageConfig(now);
        }
        return;
      case 'leave':
        return this.memberGone(env.from, 'left', now, env.incarnation);
      case 'data':
        return this.onData(env as Envelope<GroupData>, now);
      case 'pollRequest':
        if (this.state !== 'leader') return void this.counters.misrouted++;
        return this.openPoll(body, env.from, now);
      case 'ballot':
        // Only the leader of our term opens ballots: not a leader we left behind. A member that has
        // just given up on a silent leader (loss) still takes a ballot from the leader of its term.
        if (!this.fromLeaderOfOurTerm(env)) return void this.counters.notFromLeader++;
        return this.onBallot(body, env.from, now);
      case 'memberVote':
        return this.countVote(body, env.from, now);
      case 'pollResult':
        return this.onPollResult(body, env.from, now);
    }
  }

  /**
   * A hint from the runtime: the transport connection to `member` closed (a process that
   * dies has its sockets closed by the kernel at once; silence — power loss, a cut cable —
   * gives no such hint and waits for the timers). Never proof: the connection may have
   * closed for another reason. If `member` is our leader, we campaign after a short delay
   * (a pre-vote, which changes no term unless a majority grants it) instead of the
   * full election timeout, and we stop honouring its lease, so we grant such pre-votes too.
   * Members that still hear the leader (no hint of their own, or a message from it since)
   * keep refusing: one member's hint alone cannot depose a live leader, and two leaders
   * never share a term (votes are unchanged). See docs/protocol.md "Connection-closed hint".
   */
  peerClosed(member: MemberId, now: Instant): void {
    if (!this.started || this.left) return;
    this.beforeInput(now);
    if (this.state === 'leader' || member !== this.leaderId || this.leaderId === null) return;
    this.leaderClosed = { leader: member, at: now.mono };
    // Every survivor got the same hint at about the same time: campaign in turns (by rank
    // among the other voters, a step apart) so that one asks first and wins, instead of
    // all at once, which splits the vote and costs a whole election timeout. If the first
    // cannot win (some members have no hint yet), the next one asks a step later.
    const step = Math.max(1, Math.floor(this.timers.electionMin / 30));
    const rank = this.voterConfig.voters.filter((v) => v !== member).sort().indexOf(this.id);
    this.electionAt = Math.min(this.electionAt, now.mono + Math.max(0, rank) * step);
  }

  // ---------------------------------------------------------------- API requests

  send(payload: Uint8Array, now: Instant): void {
    this.assertActive();
    if (this.started) this.beforeInput(now);
    this.broadcast({ type: 'data', channel: 'group', payload, sentAt: now.wall });
    if (this.deliverToSelf) this.emit({ type: 'message', from: this.id, payload, sentAt: now.wall, receivedAt: now.wall });
  }

  sendToLeader(payload: Uint8Array, now: Instant): void {
    this.assertActive();
    if (this.started) this.beforeInput(now);
    if (this.leaderId === null) throw new NoLeaderError(this.group);
    if (this.leaderId === this.id) {
      this.emit({ type: 'messageToLeader', from: this.id, payload, sentAt: now.wall, receivedAt: now.wall });
      return;
    }
    this.sendTo(this.leaderId, { type: 'data', channel: 'toLeader', payload, sentAt: now.wall });
  }

  sendToMember(payload: Uint8Array, to: MemberId, now: Instant): void {
    this.assertActive();
    if (this.started) this.beforeInput(now);
    if (this.state !== 'leader') throw new NotLeaderError(this.group, this.leaderId);
    if (to === this.id) {
      this.emit({ type: 'messageFromLeader', from: this.id, payload, sentAt: now.wall, receivedAt: now.wall });
      return;
    }
    if (!this.table.has(to)) throw new BadArgumentsError(`member ${to} is not in group ${this.group}`);
    this.sendTo(to, { type: 'data', channel: 'fromLeader', payload, sentAt: now.wall });
  }

  /** Ask the leader to open a poll. Returns the ballot id (results arrive as a voteResult event). */
  requestPoll(req: PollRequestOptions, now: Instant): string {
    this.assertActive();
    if (this.started) this.beforeInput(now);
    if (req.kind !== 'majority' && req.kind !== 'consensus') throw new BadArgumentsError(`poll kind must be 'majority' or 'consensus', got ${String(req.kind)}`);
    if (req.subject !== 'value' && req.subject !== 'action') throw new BadArgumentsError(`poll subject must be 'value' or 'action', got ${String(req.subject)}`);
    const timeoutMs = req.timeoutMs ?? this.timers.consensusTimeout;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_POLL_TIMEOUT_MS) throw new BadArgumentsError(`poll timeout must be a positive number of milliseconds up to ${MAX_POLL_TIMEOUT_MS} (24 h), got ${timeoutMs}`);
    let when = 0;
    if (req.subject === 'action') {
      when = req.when ?? NaN;
      if (!Number.isFinite(when) || when < 0 || when > MAX_EPOCH_MS) throw new BadArgumentsError(`an action vote needs 'when' (wall-clock epoch ms, 0..${MAX_EPOCH_MS}), got ${req.when}`);
      if (when < now.wall + timeoutMs) {
        throw new BadArgumentsError(`action instant ${when} is ${Math.round(when - now.wall)} ms away, sooner than the poll timeout (${timeoutMs} ms): the poll could not finish before it`);
      }
    }
    if (this.leaderId === null) throw new NoLeaderError(this.group);
    const spec: PollSpec = {
      ballotId: `${this.id}#${this.incarnation}.${++this.ballotSeq}`,
      topic: req.topic,
      kind: req.kind,
      subject: req.subject,
      when,
      timeoutMs,
    };
    // The requester is owed a result even if the leader dies before the ballot goes out.
    // Until its ballot shows up, the request is repeated (the leader opens a ballot id once).
    const resendAt = this.state === 'leader' ? undefined : now.mono + this.resendInterval();
    this.ballots.track({ spec, leader: this.leaderId, deadline: now.mono + this.resultWait(spec, timeoutMs, now) + this.resultGrace(), seen: false, voted: false, ...(resendAt !== undefined ? { resendAt } : {}) });
    if (this.state === 'leader') this.openPoll({ type: 'pollRequest', ...spec }, this.id, now);
    else this.sendTo(this.leaderId, { type: 'pollRequest', ...spec });
    return spec.ballotId;
  }

  /** Vote on a ballot this member saw. Returns false when the vote no longer matters (already voted or decided). */
  vote(ballotId: string, yes: boolean, now: Instant): boolean {
    this.assertActive();
    if (this.started) this.beforeInput(now);
    const entry = this.ballots.get(ballotId);
    if (!entry) {
      if (this.ballots.isFinished(ballotId)) return false;
      throw new BadArgumentsError(`unknown ballot ${ballotId} in group ${this.group}`);
    }
    if (entry.voted || !entry.seen || entry.leader === null) return false;
    entry.voted = true;
    const body: MemberVote = { type: 'memberVote', ballotId, yes };
    if (entry.leader === this.id) this.countVote(body, this.id, now);
    else {
      entry.vote = yes;
      entry.resendAt = now.mono + this.resendInterval();
      this.sendTo(entry.leader, body);
    }
    return true;
  }

  /** Leave gracefully. A leader first hands the group over. Emits a 'left' event when done. */
  leave(now: Instant): void {
    if (this.left) return;
    if (!this.started) {
      this.left = true;
      this.emit({ type: 'left' });
      return;
    }
    const ls = this.leaderState;
    if (ls && ls.leavingDeadline === null) {
      const others = this.voterConfig.voters.filter((v) => v !== this.id);
      if (others.length >= this.minSize && others.length > 0) {
        // Remove ourselves from the configuration first, so the successor's quorum does not count us.
        ls.departed.add(this.id);
        ls.leavingDeadline = now.mono + this.timers.heartbeat;
        this.manageConfig(now);
        this.maybeFinishLeaving(now);
        return;
      }
    }
    this.finishLeaving(now);
  }

  // ---------------------------------------------------------------- membership

  /** Account for the sender; false if the message is from a stale incarnation and must be dropped. */
  private noteSender(env: Envelope, now: Instant): boolean {
    const result = this.table.heard(env.from, env.incarnation, now.mono);
    if (result === 'stale') {
      this.counters.staleDropped++;
      return false;
    }
    if (result === 'joined') {
      if (env.body.type === 'leave') {
        this.table.depart(env.from, env.incarnation, now.mono);
        return false;
      }
      this.emit({ type: 'memberJoined', member: env.from });
      this.leaderState?.departed.delete(env.from); // it came back
    }
    if (result === 'restarted' && this.leaderId === env.from && this.state !== 'leader') {
      // A restarted leader has lost its leadership with its memory.
      this.loseLeader(now);
    }
    // Only a voter in our term counts toward check-quorum: one that follows a newer leader does not.
    if (this.leaderState && env.term === this.currentTerm && this.voterConfig.voters.includes(env.from)) this.leaderState.lastActive.set(env.from, now.mono);
    return true;
  }

  private memberGone(member: MemberId, reason: 'left' | 'timeout', now: Instant, incarnation?: number): void {
    const removed = reason === 'left' ? this.table.depart(member, incarnation ?? 0, now.mono) : true;
    if (removed) this.emit({ type: 'memberLeft', member, reason });
    if (member === this.leaderId && this.state !== 'leader') this.loseLeader(now);
    if (this.leaderState) {
      if (reason === 'left') this.leaderState.departed.add(member);
      this.manageConfig(now);
    }
  }

  /**
   * Majority-loss recovery: a member that has known no leader for {@link recoverAfter} while
   * fewer than a quorum of its voters are alive (a majority lost power at once, or a long
   * partition) forgets its voter configuration and bootstraps again from the members it hears,
   * which needs minSize of them. With minSize above half the group this cannot split it; with a
   * smaller minSize a side cut off for that long may form its own group (docs/protocol.md §4.5).
   */
  private maybeRecover(now: Instant): void {
    if (this.state === 'leader' || this.leaderId !== null) {
      this.leaderlessSince = null;
      return;
    }
    this.leaderlessSince ??= now.mono;
    if (isBootstrap(this.voterConfig) || now.mono - this.leaderlessSince < this.recoverAfter()) return;
    const alive = new Set(this.table.alive(now.mono, this.timers.peerTimeout));
    if (hasQuorum(this.voterConfig.voters, alive, this.minSize)) return;
    this.leaderlessSince = now.mono;
    this.voterConfig = EMPTY_CONFIG;
  }

  private recoverAfter(): number {
    return 3 * this.timers.peerTimeout;
  }

  private loseLeader(now: Instant): void {
    if (this.leaderId === null) return;
    const old = this.leaderId;
    this.leaderId = null;
    this.formerLeader = old;
    this.emit({ type: 'leaderExited', leader: old, term: this.currentTerm });
    // The leader is known gone: no lease to honour, campaign after a fresh randomised timeout.
    this.leaderContact = -Infinity;
    this.resetElectionTimer(now.mono);
  }

  // ---------------------------------------------------------------- election

  private isTermBearing(body: Body): boolean {
    // Terms matter only to election traffic; data, polls and membership are term-independent.
    // A granted pre-vote reply carries the voter's (not higher) term, so every vote reply qualifies.
    return body.type === 'leaderHeartbeat' || body.type === 'heartbeatAck' || body.type === 'voteReply';
  }

  private randomElectionTimeout(): number {
    const { electionMin, electionMax } = this.timers;
    return electionMin + Math.floor(this.random.next() * (electionMax - electionMin));
  }

  private resetElectionTimer(mono: number): void {
    this.electionAt = mono + this.randomElectionTimeout();
  }

  /** A current leader lease: we heard the leader recently, so we refuse to help unseat it. */
  private inLease(now: Instant): boolean {
    if (this.state === 'leader') return true;
    if (this.leaderId === null) return false;
    // Its connection closed and nothing heard from it since: no lease to honour (peerClosed).
    const closed = this.leaderClosed;
    if (closed !== null && closed.leader === this.leaderId && this.leaderContact <= closed.at) return false;
    return now.mono - this.leaderContact < this.timers.electionMin;
  }

  private electionTimeout(now: Instant): void {
    this.startCampaign(now, 'pre', false);
  }

  private startCampaign(now: Instant, phase: 'pre' | 'real', transfer: boolean): void {
    this.resetElectionTimer(now.mono);
    // A campaign ends in a vote for ourselves: an amnesiac casts none yet, and later none at or below its floor.
    if (this.noVoteThrough === Infinity) return this.abandonCampaign();
    const nextTerm = Math.max(this.currentTerm, this.noVoteThrough) + 1;
    let voters: MemberId[];
    let proposed: MemberId[] = [];
    if (isBootstrap(this.voterConfig)) {
      // No configuration yet: propose the members we can hear, if there are enough of them.
      proposed = this.table.alive(now.mono, this.timers.peerTimeout);
      if (proposed.length < this.minSize) return this.abandonCampaign();
      voters = proposed;
    } else {
      voters = this.voterConfig.voters;
      if (!voters.includes(this.id)) return this.abandonCampaign();
    }
    if (phase === 'real') {
      if (this.leaderId !== null) {
        const old = this.leaderId;
        this.leaderId = null;
        this.emit({ type: 'leaderExited', leader: old, term: this.currentTerm });
      }
      this.counters.elections++;
      this.setHardState(nextTerm, this.id);
    }
    this.state = 'candidate';
    const term = phase === 'pre' ? nextTerm : this.currentTerm;
    this.campaign = { phase, term, voters, proposed, grants: new Set([this.id]), transfer };
    this.broadcast({
      type: 'voteRequest',
      preVote: phase === 'pre',
      electionTerm: term,
      configTerm: this.voterConfig.term,
      configVersion: this.voterConfig.version,
      proposedVoters: proposed,
      transfer,
    });
    this.checkCampaign(now);
  }

  private abandonCampaign(): void {
    this.campaign = null;
    if (this.state === 'candidate') this.state = 'follower';
  }

  private checkCampaign(now: Instant): void {
    const c = this.campaign;
    if (!c || !hasQuorum(c.voters, c.grants, this.minSize)) return;
    if (c.phase === 'pre') this.startCampaign(now, 'real', c.transfer);
    else this.becomeLeader(now, c);
  }

  private onVoteRequest(env: Envelope<VoteRequest>, now: Instant): void {
    const req = env.body;
    const candidate = env.from;
    const upToDate = comparePosition({ term: req.configTerm, version: req.configVersion }, this.voterConfig) >= 0;
    if (req.preVote) {
      const granted = req.electionTerm > this.currentTerm && upToDate && (req.transfer || !this.inLease(now));
      this.sendTo(candidate, { type: 'voteReply', preVote: true, electionTerm: req.electionTerm, granted });
      return;
    }
    if (req.electionTerm < this.currentTerm) {
      this.sendTo(candidate, { type: 'voteReply', preVote: false, electionTerm: req.electionTerm, granted: false });
      return;
    }
    if (req.electionTerm > this.currentTerm) {
      // A member that hears a live leader ignores disruptive candidates (unless the leader handed over).
      if (!req.transfer && this.inLease(now)) return;
      this.becomeFollower(req.electionTerm, null, now);
    }
    if (req.electionTerm <= this.noVoteThrough && this.noVoteThrough !== Infinity && this.currentTerm < this.noVoteThrough) {
      // Refused for our amnesia floor: move up to it (safe: no vote), so the reply tells the
      // candidate which term to campaign above.
      this.becomeFollower(this.noVoteThrough, null, now);
    }
    const canVote = (this.state === 'follower' || this.campaign?.phase === 'pre') && req.electionTerm > this.noVoteThrough;
    const granted = (this.votedFor === null || this.votedFor === candidate) && upToDate && canVote;
    if (granted) {
      if (this.state === 'candidate') this.abandonCampaign();
      this.setHardState(this.currentTerm, candidate);
      this.resetElectionTimer(now.mono);
    }
    this.sendTo(candidate, { type: 'voteReply', preVote: false, electionTerm: req.electionTerm, granted });
  }

  private onVoteReply(env: Envelope<VoteReply>, now: Instant): void {
    const c = this.campaign;
    const reply = env.body;
    if (!c || this.state !== 'candidate' || reply.preVote !== (c.phase === 'pre') || reply.electionTerm !== c.term) return;
    if (!reply.granted) return;
    c.grants.add(env.from);
    this.checkCampaign(now);
  }

  private becomeFollower(term: number, leader: MemberId | null, now: Instant): void {
    // Events about the old leader carry the old term, so close it before moving on.
    if (this.state === 'leader') this.stepDown(now, 'a newer term appeared');
    if (this.leaderId !== null && this.leaderId !== leader) {
      const old = this.leaderId;
      this.leaderId = null;
      this.emit({ type: 'leaderExited', leader: old, term: this.currentTerm });
    }
    if (term > this.currentTerm) this.setHardState(term, null);
    this.state = 'follower';
    this.campaign = null;
    this.resetElectionTimer(now.mono);
  }

  private becomeLeader(now: Instant, c: Campaign): void {
    this.campaign = null;
    this.state = 'leader';
    const lastActive = new Map<MemberId, number>();
    for (const v of c.voters) lastActive.set(v, now.mono);
    this.leaderState = {
      lastActive,
      acked: new Map([[this.id, { term: this.currentTerm, version: 0 }]]),
      committedVersion: 0,
      departed: new Set(),
      polls: new Map(),
      leavingDeadline: null,
    };
    // Re-stamp the configuration in our term; it must commit before any membership change
    // (the single-server-change safety rule).
    // At bootstrap only members that voted are known to be real: the others join one at a time
    // later, like any joiner, once they acknowledge us (a silent id never becomes a voter).
    const voters = isBootstrap(this.voterConfig) ? c.voters.filter((v) => c.grants.has(v)) : c.voters;
    this.setConfig({ term: this.currentTerm, version: this.voterConfig.version + 1, voters: [...voters].sort() });
    this.setLeader(this.id);
    this.leaderContact = now.mono;
    this.sendHeartbeat(now);
    this.updateCommit();
  }

  /** Leader → follower on the same or a newer term: close the leader's books. */
  private stepDown(now: Instant, why: string): void {
    const ls = this.leaderState;
    this.leaderState = null;
    this.state = 'follower';
    if (this.leaderId === this.id) {
      this.leaderId = null;
      this.emit({ type: 'leaderExited', leader: this.id, term: this.currentTerm });
    }
    if (ls) for (const poll of ls.polls.values()) this.finishPoll(poll, 'timeout', `the leader stepped down: ${why}`, now);
    this.resetElectionTimer(now.mono);
    // A leader that was leaving still leaves, as a follower now.
    if (ls?.leavingDeadline != null && !this.left) this.finishLeaving(now);
  }

  private setLeader(leader: MemberId): void {
    if (this.leaderId === leader) return;
    this.leaderId = leader;
    this.counters.leaderChanges++;
    this.emit({ type: 'leaderElected', leader, term: this.currentTerm });
  }

  private onLeaderHeartbeat(env: Envelope<LeaderHeartbeat>, now: Instant): void {
    const hb = env.body;
    if (env.term < this.currentTerm) {
      // A stale leader: tell it our term so it steps down.
      this.sendTo(env.from, { type: 'heartbeatAck', configTerm: this.voterConfig.term, configVersion: this.voterConfig.version, accepted: false });
      return;
    }
    if (this.state === 'leader') {
      // Two leaders in one term can only come from a split bootstrap with minSize <= N/2;
      // resolve it deterministically: the lower id keeps the lead.
      if (env.from > this.id) return;
      this.stepDown(now, `leader ${env.from} holds the same term`);
    } else if (this.leaderId !== null && this.leaderId !== env.from) {
      if (env.from > this.leaderId) return;
      const old = this.leaderId;
      this.leaderId = null;
      this.emit({ type: 'leaderExited', leader: old, term: this.currentTerm });
    }
    this.state = 'follower';
    this.campaign = null;
    this.setLeader(env.from);
    this.leaderContact = now.mono;
    this.resetElectionTimer(now.mono);
    this.table.setEndpoint(env.from, hb.endpoint);
    // Only move forward: a reordered older heartbeat must not roll the configuration back.
    if (comparePosition(hb.config, this.voterConfig) > 0) this.setConfig(hb.config);
    this.sendTo(env.from, { type: 'heartbeatAck', configTerm: this.voterConfig.term, configVersion: this.voterConfig.version, accepted: true });
  }

  // ---------------------------------------------------------------- leader duties

  private leaderTick(now: Instant): void {
    const ls = this.leaderState;
    if (!ls) return;
    for (const poll of [...ls.polls.values()]) {
      if (now.mono >= poll.deadline) this.finishPoll(poll, 'timeout', '', now);
      else if (now.mono >= poll.rebroadcastAt) this.broadcastBallot(poll, now);
    }
    this.manageConfig(now);
    if (this.state !== 'leader') return;
    // Check-quorum: a leader that cannot hear a quorum steps down, so a minority side has no leader.
    const active = new Set<MemberId>();
    for (const v of this.voterConfig.voters) {
      if (v === this.id || now.mono - (ls.lastActive.get(v) ?? -Infinity) <= this.timers.peerTimeout) active.add(v);
    }
    if (!hasQuorum(this.voterConfig.voters, active, this.minSize)) {
      this.stepDown(now, 'lost contact with a quorum');
      return;
    }
    if (ls.leavingDeadline !== null && now.mono >= ls.leavingDeadline) this.finishLeaving(now);
  }

  private updateCommit(): void {
    const ls = this.leaderState;
    if (!ls) return;
    const cfg = this.voterConfig;
    const current = new Set<MemberId>();
    for (const v of cfg.voters) {
      const a = ls.acked.get(v);
      if (a && a.term === cfg.term && a.version === cfg.version) current.add(v);
    }
    if (hasQuorum(cfg.voters, current, this.minSize)) ls.committedVersion = cfg.version;
  }

  /** One configuration change at a time, and only on top of a committed configuration. */
  private manageConfig(now: Instant): void {
    const ls = this.leaderState;
    if (!ls || this.state !== 'leader') return;
    this.updateCommit();
    if (ls.committedVersion !== this.voterConfig.version) return;
    this.maybeFinishLeaving(now);
    if (this.left) return;
    const voters = this.voterConfig.voters;
    for (const d of ls.departed) if (d !== this.id && !voters.includes(d)) ls.departed.delete(d);
    const alive = new Set(this.table.alive(now.mono, this.timers.peerTimeout));
    const dead = voters.filter((v) => v !== this.id && (ls.departed.has(v) || !alive.has(v) || now.mono - (ls.lastActive.get(v) ?? -Infinity) > this.timers.peerTimeout));
    let next: MemberId[] | null = null;
    if (ls.departed.has(this.id) && voters.includes(this.id)) next = voters.filter((v) => v !== this.id);
    else if (dead.length > 0 && voters.length - 1 >= this.minSize) next = voters.filter((v) => v !== dead[0]);
    else {
      // A joiner becomes a voter once it has acknowledged this leader: an id that only sends
      // heartbeats (a phantom, a misconfigured board) never gets to hold the group's quorum.
      const joiner = [...alive].sort().find((m) => !voters.includes(m) && !ls.departed.has(m) && this.mayBecomeVoter(m));
      if (joiner !== undefined && ls.leavingDeadline === null) next = [...voters, joiner].sort();
    }
    if (!next) return;
    for (const v of next) if (!ls.lastActive.has(v)) ls.lastActive.set(v, now.mono);
    this.setConfig({ term: this.currentTerm, version: this.voterConfig.version + 1, voters: next });
    if (this.voterConfig.voters.includes(this.id)) ls.acked.set(this.id, { term: this.currentTerm, version: this.voterConfig.version });
    this.updateCommit();
    this.sendHeartbeat(now);
    if (ls.committedVersion === this.voterConfig.version) this.manageConfig(now);
  }

  private setConfig(config: VoterConfig): void {
    this.voterConfig = { term: config.term, version: config.version, voters: [...config.voters] };
    if (this.leaderState && config.voters.includes(this.id)) this.leaderState.acked.set(this.id, { term: config.term, version: config.version });
  }

  /** A leaving leader hands over once its own removal is committed (or it stops waiting). */
  private maybeFinishLeaving(now: Instant): void {
    const ls = this.leaderState;
    if (!ls || ls.leavingDeadline === null) return;
    if (!this.voterConfig.voters.includes(this.id) && ls.committedVersion === this.voterConfig.version) this.finishLeaving(now);
  }

  private finishLeaving(now: Instant): void {
    const ls = this.leaderState;
    if (ls) {
      // Hand over to the most up-to-date live voter, which campaigns at once (no election timeout).
      const target = this.voterConfig.voters
        .filter((v) => v !== this.id && now.mono - (ls.lastActive.get(v) ?? -Infinity) <= this.timers.peerTimeout)
        .sort((a, b) => comparePosition(ls.acked.get(b) ?? { term: 0, version: 0 }, ls.acked.get(a) ?? { term: 0, version: 0 }) || (a < b ? -1 : 1))[0];
      if (target !== undefined) this.sendTo(target, { type: 'timeoutNow' });
      for (const poll of [...ls.polls.values()]) this.finishPoll(poll, 'timeout', 'the leader left the group', now);
      this.leaderState = null;
      this.state = 'follower';
      this.leaderId = null;
      this.emit({ type: 'leaderExited', leader: this.id, term: this.currentTerm });
    }
    this.broadcast({ type: 'leave' });
    this.left = true;
    this.emit({ type: 'left' });
  }

  // ---------------------------------------------------------------- heartbeats

  private sendHeartbeat(now: Instant): void {
    this.heartbeatAt = now.mono + this.timers.heartbeat;
    if (this.state === 'leader' && this.leaderState) {
      this.lastLeaderHeartbeat = now.mono;
      this.repeatResults(now);
      this.broadcast({
        type: 'leaderHeartbeat',
        config: this.voterConfig,
        committedVersion: this.leaderState.committedVersion,
        endpoint: this.endpoint,
        timers: this.timers,
        minSize: this.minSize,
        sentAt: now.wall,
      });
    } else {
      this.broadcast({ type: 'memberHeartbeat', timers: this.timers, minSize: this.minSize, sentAt: now.wall, leader: this.leaderId ?? '', endpoint: this.endpoint });
    }
  }

  // ---------------------------------------------------------------- data

  private onData(env: Envelope<GroupData>, now: Instant): void {
    const d = env.body;
    const base = { from: env.from, payload: d.payload, sentAt: d.sentAt, receivedAt: now.wall };
    if (d.channel === 'group') this.emit({ type: 'message', ...base });
    else if (d.channel === 'fromLeader') {
      if (!this.fromOurLeader(env)) return void this.counters.notFromLeader++;
      this.emit({ type: 'messageFromLeader', ...base });
    }
    else if (this.state === 'leader') this.emit({ type: 'messageToLeader', ...base });
    else this.counters.misrouted++;
  }

  // ---------------------------------------------------------------- polls

  /** How long past a poll's deadline a member waits for the leader's result: one heartbeat, at most 500 ms. */
  private resultGrace(): number {
    return Math.min(this.timers.heartbeat, 500);
  }

  /**
   * How long a member waits for a poll's result: its timeout; for an action, until the action's
   * instant too (a result can still arrive, repeated by the leader, and acting or not is only
   * decided then). Bounded, so a wrong wall clock cannot keep a ballot open for long.
   */
  private resultWait(spec: PollSpec, remainingMs: number, now: Instant): number {
    if (spec.subject !== 'action') return remainingMs;
    return Math.max(remainingMs, Math.min(spec.when - now.wall, remainingMs + 60_000));
  }

  /** How often a member repeats its vote (or asks for the result) while it has no result. */
  private resendInterval(): number {
    return Math.max(20, Math.floor(this.resultGrace() / 4));
  }

  /**
   * No result yet: repeat our vote (the leader counts a voter once, and answers a vote on a
   * finished poll with the result) or, not having voted, ask once the leader's deadline has
   * surely passed, with a 'no' that can no longer count (a vote at or after the deadline never does).
   */
  private resendVote(entry: BallotEntry, now: Instant): void {
    entry.resendAt = now.mono + this.resendInterval();
    if (entry.leader === null || entry.leader === this.id) return;
    if (!entry.seen) return this.sendTo(entry.leader, { type: 'pollRequest', ...entry.spec });
    this.sendTo(entry.leader, { type: 'memberVote', ballotId: entry.spec.ballotId, yes: entry.vote ?? false });
  }

  /** A leader repeats results on its heartbeats: twice, and an action's until its instant. */
  private repeatResults(now: Instant): void {
    for (const a of this.announced.values()) {
      const r = a.result;
      if (a.repeats > 0 || (r.subject === 'action' && r.outcome !== 'timeout' && now.wall < r.when)) {
        a.repeats--;
        this.broadcast(r);
      }
    }
  }

  private openPoll(req: PollRequest, requester: MemberId, now: Instant): void {
    const ls = this.leaderState;
    if (!ls || ls.polls.has(req.ballotId)) return;
    const announced = this.announced.get(req.ballotId);
    if (announced && requester !== this.id) return this.sendTo(requester, announced.result);
    if (this.ballots.isFinished(req.ballotId)) return;
    const spec: PollSpec = { ballotId: req.ballotId, topic: req.topic, kind: req.kind, subject: req.subject, when: req.when, timeoutMs: req.timeoutMs };
    const poll = new Poll(spec, requester, this.voterConfig.voters, now.mono + req.timeoutMs);
    if (req.subject === 'action' && req.when < now.wall + req.timeoutMs) {
      const reason = `action instant is ${Math.round(req.when - now.wall)} ms away on the leader's clock, sooner than the poll timeout (${req.timeoutMs} ms)`;
      this.finishPoll(poll, 'timeout', reason, now);
      return;
    }
    this.counters.pollsOpened++;
    ls.polls.set(spec.ballotId, poll);
    const ballot = this.broadcastBallot(poll, now);
    this.onBallot(ballot, this.id, now);
    this.evaluatePoll(poll, now);
  }

  /** Broadcast (again: members that missed it would be owed nothing and could not vote) an open poll's ballot. */
  private broadcastBallot(poll: Poll, now: Instant): Ballot {
    poll.rebroadcastAt = now.mono + this.resendInterval();
    const ballot: Ballot = { type: 'ballot', ...poll.spec, requester: poll.requester, voters: [...poll.voters], remainingMs: Math.max(0, poll.deadline - now.mono) };
    this.broadcast(ballot);
    return ballot;
  }

  private onBallot(ballot: Ballot, leader: MemberId, now: Instant): void {
    if (this.ballots.isFinished(ballot.ballotId)) return;
    const known = this.ballots.get(ballot.ballotId);
    if (known?.seen) return;
    const spec: PollSpec = { ballotId: ballot.ballotId, topic: ballot.topic, kind: ballot.kind, subject: ballot.subject, when: ballot.when, timeoutMs: ballot.timeoutMs };
    // The requester promised itself a result by its own request time + timeout + grace: never later.
    const deadline = Math.min(known?.deadline ?? Infinity, now.mono + this.resultWait(spec, ballot.remainingMs, now) + this.resultGrace());
    // Not having voted, ask for the result once the leader's deadline has surely passed.
    const resendAt = leader === this.id ? undefined : now.mono + ballot.remainingMs + 1;
    this.ballots.track({ spec, leader, deadline, seen: true, voted: false, ...(resendAt !== undefined ? { resendAt } : {}) });
    this.emit({
      type: 'voteRequest',
      ballotId: spec.ballotId,
      requester: ballot.requester,
      topic: spec.topic,
      kind: spec.kind,
      subject: spec.subject,
      when: spec.when,
      canVote: ballot.voters.includes(this.id),
    });
  }

  private countVote(vote: MemberVote, voter: MemberId, now: Instant): void {
    const poll = this.leaderState?.polls.get(vote.ballotId);
    // A vote handled after the deadline (a stalled process, a late timer) is too late to count.
    if (poll && now.mono >= poll.deadline) return this.finishPoll(poll, 'timeout', '', now);
    const announced = poll ? undefined : this.announced.get(vote.ballotId);
    if (announced && voter !== this.id) {
      // It missed our result (or is asking for it): tell it directly.
      this.sendTo(voter, announced.result);
      return;
    }
    if (!poll || !poll.cast(voter, vote.yes)) {
      this.counters.ignoredVotes++;
      return;
    }
    this.evaluatePoll(poll, now);
  }

  private evaluatePoll(poll: Poll, now: Instant): void {
    const outcome = poll.outcome();
    if (outcome !== null) this.finishPoll(poll, outcome, '', now);
  }

  private finishPoll(poll: Poll, outcome: PollResult['outcome'], reason: string, now: Instant): void {
    this.leaderState?.polls.delete(poll.spec.ballotId);
    const result: PollResult = {
      type: 'pollResult',
      ballotId: poll.spec.ballotId,
      requester: poll.requester,
      outcome,
      kind: poll.spec.kind,
      subject: poll.spec.subject,
      when: poll.spec.when,
      tally: poll.tally(),
      reason,
    };
    this.broadcast(result);
    this.announced.set(result.ballotId, { result, repeats: 2, until: now.mono + 120_000 });
    this.onPollResult(result, this.id, now);
  }

  private onPollResult(result: PollResult, from: MemberId, now: Instant): void {
    if (this.ballots.isFinished(result.ballotId)) return;
    const entry = this.ballots.get(result.ballotId);
    if (!entry) {
      // A result for a ballot we never saw: remember it so a late ballot is not shown.
      if (from === this.leaderId) this.ballots.finish(result.ballotId, now.mono);
      return;
    }
    // Only the leader that opened a ballot decides it.
    if (from !== entry.leader) return void this.counters.notFromLeader++;
    this.deliverResult(entry.spec, result.outcome, result.tally, result.reason, now);
  }

  private deliverResult(spec: PollSpec, outcome: PollResult['outcome'], tally: PollResult['tally'], reason: string, now: Instant): void {
    if (!this.ballots.finish(spec.ballotId, now.mono)) return;
    this.counters.pollResults[outcome]++;
    this.emit({ type: 'voteResult', ballotId: spec.ballotId, outcome, kind: spec.kind, subject: spec.subject, when: spec.when, tally, reason });
    if (outcome === 'yes' && spec.subject === 'action') this.emit({ type: 'actionScheduled', ballotId: spec.ballotId, when: spec.when, topic: spec.topic });
  }

  // ---------------------------------------------------------------- plumbing

  private setHardState(term: number, votedFor: MemberId | null): void {
    if (term === this.currentTerm && votedFor === this.votedFor) return;
    this.currentTerm = term;
    this.votedFor = votedFor;
    this.persistHardState();
  }

  private persistHardState(): void {
    const state: HardState = { term: this.currentTerm, votedFor: this.votedFor };
    if (this.noVoteThrough === Infinity) state.quarantined = true;
    else if (this.noVoteThrough >= 0) state.voteFloor = this.noVoteThrough;
    this.outputs.push({ type: 'persist', state });
  }

  private envelope(to: MemberId, body: Body): Envelope {
    return { version: PROTOCOL_VERSION, group: this.group, from: this.id, incarnation: this.incarnation, term: this.currentTerm, to, body };
  }

  private broadcast(body: Body): void {
    if (this.left) return; // a member that has left says nothing more
    this.outputs.push({ type: 'send', envelope: this.envelope('', body) });
  }

  private sendTo(to: MemberId, body: Body): void {
    if (this.left) return;
    this.outputs.push({ type: 'send', envelope: this.envelope(to, body) });
  }

  private emit(event: AppEvent): void {
    this.outputs.push({ type: 'event', event });
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

  private assertActive(): void {
    if (this.left) throw new LeftGroupError(this.group);
  }
}

