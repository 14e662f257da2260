/**
 * Polls, as a protocol between members (docs/protocol.md §5): a member asks the leader to
 * open a poll (request), the leader broadcasts the ballot, voters answer (vote), the leader
 * decides as soon as the outcome is certain (decide) and announces the result (publish),
 * repeating it and answering members that missed it (announce); members repeat their votes
 * and, past the deadline and a grace, deliver a local `timeout` (resend). Every member
 * delivers exactly one result per ballot it saw. The counting itself is in polls.ts.
 */
import { BadArgumentsError, NoLeaderError } from './errors.js';
import type { Instant } from './events.js';
import { MAX_EPOCH_MS, MAX_POLL_TIMEOUT_MS, MAX_TEXT_LENGTH } from './limits.js';
import type { MemberState } from './member-state.js';
import type { Ballot, MemberId, MemberVote, PollKind, PollRequest, PollResult, PollSpec, PollSubject, Refusal } from './messages.js';
import { BallotBook, Poll, type BallotEntry } from './polls.js';
import type { LeaderBooks } from './role.js';

export interface PollRequestOptions {
  topic: Uint8Array;
  kind: PollKind;
  subject: PollSubject;
  /** Action instant, wall-clock epoch ms (subject 'action'). */
  when?: number;
  /** Poll timeout in ms; default timers.consensusTimeout. */
  timeoutMs?: number;
}

/** How long a leader keeps an announced result, to repeat it and to answer late voters. */
const ANNOUNCED_MS = 120_000;

/**
 * How long a leader repeats a result on its heartbeats, in its own peerTimeouts: a member whose
 * paths to the leader all stall for up to this long after the decision (TCP retransmissions
 * under heavy loss, a starved process) still hears it, whether or not it saw the ballot.
 */
const REPEAT_PEER_TIMEOUTS = 2;

export class Polling {
  private readonly ballots = new BallotBook();
  /** Results this member announced as leader, to repeat and to answer members that missed them. */
  private readonly announced = new Map<string, { result: PollResult; repeats: number; repeatUntil: number; until: number; voters: ReadonlySet<MemberId>; heard: Map<MemberId, number> }>();
  private ballotSeq = 0;

  constructor(private readonly s: MemberState) {}

  // ---------------------------------------------------------------- timing

  /** How long past a poll's deadline a member waits for the leader's result: one heartbeat, at most 500 ms. */
  resultGrace(): number {
    return Math.min(this.s.timers.heartbeat, 500);
  }

  /**
   * How long a member waits for a poll's result: its timeout; for an action, until the action's
   * instant too (a result can still arrive, repeated by the leader, and acting or not is only
   * decided then). Bounded, so a wrong wall clock cannot keep a ballot open for long.
   */
  resultWait(spec: PollSpec, remainingMs: number, now: Instant): number {
    if (spec.subject !== 'action') return remainingMs;
    return Math.max(remainingMs, Math.min(spec.when - now.wall, remainingMs + 60_000));
  }

  /** How often a member repeats its vote (or asks for the result) while it has no result. */
  resendInterval(): number {
    return Math.max(20, Math.floor(this.resultGrace() / 4));
  }

  nextDeadline(books: LeaderBooks | null): number {
    let next = this.ballots.nextDeadline();
    if (books) for (const p of books.polls.values()) next = Math.min(next, p.deadline, p.rebroadcastAt);
    return next;
  }

  /** Forget finished ballots and announced results once no duplicate can still arrive. */
  prune(t: number): void {
    this.ballots.prune(t);
    for (const [id, a] of this.announced) if (t >= a.until) this.announced.delete(id);
  }

  /** Member side, every tick: repeat votes, and time out ballots whose result never came. */
  memberTick(now: Instant): void {
    const t = now.mono;
    for (const entry of this.ballots.dueForResend(t)) this.resendVote(entry, now);
    for (const entry of this.ballots.overdue(t)) {
      if (!entry.seen && !entry.asking && entry.leader !== null && entry.leader !== this.s.id) {
        // Our own request, whose ballot never came: the leader may have opened it late (the
        // request was delayed) and be about to decide it. Ask it instead of guessing; it answers
        // with the ballot, the result, or (never opened) a timeout it will never open after.
        entry.asking = true;
        entry.deadline += this.s.timers.peerTimeout;
        this.resendVote(entry, now);
        continue;
      }
      this.deliverResult(entry.spec, 'timeout', { yes: 0, no: 0, voters: 0 }, 'no result from the leader by the deadline', now);
    }
  }

  /** Leader side, every tick: decide polls past their deadline, re-broadcast the others' ballots. */
  leaderTick(books: LeaderBooks, now: Instant): void {
    for (const poll of [...books.polls.values()]) {
      if (now.mono >= poll.deadline) this.finishPoll(poll, 'timeout', '', now);
      else if (now.mono >= poll.rebroadcastAt) this.broadcastBallot(poll, now);
    }
  }

  /** A leader that stops leading ends every open poll with a definite result, at once. */
  closeAll(books: LeaderBooks, reason: string, now: Instant): void {
    for (const poll of [...books.polls.values()]) this.finishPoll(poll, 'timeout', reason, now);
  }

  // ---------------------------------------------------------------- API

  /** Ask the leader to open a poll. Returns the ballot id (results arrive as a voteResult event). */
  request(req: PollRequestOptions, now: Instant): string {
    const s = this.s;
    if (req.kind !== 'majority' && req.kind !== 'consensus') throw new BadArgumentsError(`poll kind must be 'majority' or 'consensus', got ${String(req.kind)}`);
    if (req.subject !== 'value' && req.subject !== 'action') throw new BadArgumentsError(`poll subject must be 'value' or 'action', got ${String(req.subject)}`);
    const timeoutMs = req.timeoutMs ?? s.timers.consensusTimeout;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_POLL_TIMEOUT_MS) throw new BadArgumentsError(`poll timeout must be a positive number of milliseconds up to ${MAX_POLL_TIMEOUT_MS} (24 h), got ${timeoutMs}`);
    let when = 0;
    if (req.subject === 'action') {
      when = req.when ?? NaN;
      if (!Number.isFinite(when) || when < 0 || when > MAX_EPOCH_MS) throw new BadArgumentsError(`an action vote needs 'when' (wall-clock epoch ms, 0..${MAX_EPOCH_MS}), got ${req.when}`);
      if (when < now.wall + timeoutMs) {
        throw new BadArgumentsError(`action instant ${when} is ${Math.round(when - now.wall)} ms away, sooner than the poll timeout (${timeoutMs} ms): the poll could not finish before it; choose an instant at least timeoutMs ahead (now + ${timeoutMs} ms or later), or pass a shorter timeoutMs`);
      }
    }
    const leader = s.leaderId();
    if (leader === null) throw new NoLeaderError(s.group);
    const spec: PollSpec = { ballotId: `${s.id}#${s.incarnation}.${++this.ballotSeq}`, topic: req.topic, kind: req.kind, subject: req.subject, when, timeoutMs };
    // The requester is owed a result even if the leader dies before the ballot goes out.
    // Until its ballot shows up, the request is repeated (the leader opens a ballot id once).
    const resendAt = s.isLeader() ? undefined : now.mono + this.resendInterval();
    this.ballots.track({ spec, leader, deadline: now.mono + this.resultWait(spec, timeoutMs, now) + this.resultGrace(), seen: false, voted: false, ...(resendAt !== undefined ? { resendAt } : {}) });
    if (s.isLeader()) this.openPoll({ type: 'pollRequest', ...spec }, s.id, now);
    else s.out.sendTo(leader, { type: 'pollRequest', ...spec });
    return spec.ballotId;
  }

  /**
   * Vote on a ballot this member saw. Returns false when the vote no longer matters (already
   * voted or decided). A 'no' may carry a reason every member sees in the result.
   */
  vote(ballotId: string, yes: boolean, now: Instant, reason?: string): boolean {
    const s = this.s;
    const entry = this.ballots.get(ballotId);
    if (!entry) {
      if (this.ballots.isFinished(ballotId)) return false;
      throw new BadArgumentsError(`unknown ballot ${ballotId} in group ${s.group}`);
    }
    if (entry.voted || !entry.seen || entry.leader === null) return false;
    entry.voted = true;
    const why = !yes && reason ? reason.slice(0, MAX_TEXT_LENGTH) : undefined;
    const body: MemberVote = { type: 'memberVote', ballotId, yes, ...(why ? { reason: why } : {}) };
    if (entry.leader === s.id) this.countVote(body, s.id, now);
    else {
      entry.vote = yes;
      if (why) entry.reason = why;
      entry.resendAt = now.mono + this.resendInterval();
      s.out.sendTo(entry.leader, body);
    }
    return true;
  }

  // ---------------------------------------------------------------- member side

  /**
   * No result yet: repeat our vote (the leader counts a voter once, and answers a vote on a
   * finished poll with the result) or, not having voted, ask once the leader's deadline has
   * surely passed, with a 'no' that can no longer count (a vote at or after the deadline never does).
   */
  resendVote(entry: BallotEntry, now: Instant): void {
    entry.resendAt = now.mono + this.resendInterval();
    if (entry.leader === null || entry.leader === this.s.id) return;
    if (!entry.seen) return this.s.out.sendTo(entry.leader, { type: 'pollRequest', ...entry.spec, ...(entry.asking ? { timeoutMs: 0 } : {}) });
    this.s.out.sendTo(entry.leader, { type: 'memberVote', ballotId: entry.spec.ballotId, yes: entry.vote ?? false, ...(entry.reason ? { reason: entry.reason } : {}) });
  }

  /** A ballot from the leader that opened it (the caller checked the sender). */
  onBallot(ballot: Ballot, leader: MemberId, now: Instant): void {
    if (this.ballots.isFinished(ballot.ballotId)) return;
    const known = this.ballots.get(ballot.ballotId);
    if (known?.seen) return;
    const spec: PollSpec = { ballotId: ballot.ballotId, topic: ballot.topic, kind: ballot.kind, subject: ballot.subject, when: ballot.when, timeoutMs: ballot.timeoutMs };
    // The requester waits like every member: the leader may have opened its request late.
    const deadline = now.mono + this.resultWait(spec, ballot.remainingMs, now) + this.resultGrace();
    // Not having voted, ask for the result once the leader's deadline has surely passed.
    const resendAt = leader === this.s.id ? undefined : now.mono + ballot.remainingMs + 1;
    this.ballots.track({ spec, leader, deadline, seen: true, voted: false, ...(resendAt !== undefined ? { resendAt } : {}) });
    this.s.emit({
      type: 'voteRequest',
      ballotId: spec.ballotId,
      requester: ballot.requester,
      topic: spec.topic,
      kind: spec.kind,
      subject: spec.subject,
      when: spec.when,
      canVote: ballot.voters.includes(this.s.id),
    });
  }

  /** `leadsOurTerm`: the sender leads our term (our leader, or the one we just gave up on for silence). */
  onPollResult(result: PollResult, from: MemberId, now: Instant, leadsOurTerm = false): void {
    if (this.ballots.isFinished(result.ballotId)) return;
    const entry = this.ballots.get(result.ballotId);
    if (!entry) {
      // A result for a ballot we never saw (lost, or it came while every path to the leader
      // stalled): the leader of our term decided it, so deliver it like those that saw the
      // ballot, and act on it, unless the action's instant has passed (acting late would be
      // acting at the wrong time). Remembered either way, so a late ballot is not shown.
      // A timeout for a ballot never seen tells this member nothing: not delivered.
      if (!leadsOurTerm || result.outcome === 'timeout') {
        if (from === this.s.leaderId() || leadsOurTerm) this.ballots.finish(result.ballotId, now.mono);
        return;
      }
      const spec: PollSpec = { ballotId: result.ballotId, topic: result.topic ?? new Uint8Array(0), kind: result.kind, subject: result.subject, when: result.when, timeoutMs: 0 };
      if (result.subject === 'action' && result.outcome === 'yes' && now.wall >= result.when) return void this.ballots.finish(result.ballotId, now.mono);
      this.ballots.track({ spec, leader: from, deadline: Infinity, seen: false, voted: false });
      return this.deliverResult(spec, result.outcome, result.tally, result.reason, now, result.refusals);
    }
    // Only the leader that opened a ballot decides it.
    if (from !== entry.leader) return void this.s.counters.notFromLeader++;
    this.deliverResult(entry.spec, result.outcome, result.tally, result.reason, now, result.refusals);
  }

  private deliverResult(spec: PollSpec, outcome: PollResult['outcome'], tally: PollResult['tally'], reason: string, now: Instant, refusals?: Refusal[]): void {
    if (!this.ballots.finish(spec.ballotId, now.mono)) return;
    this.s.counters.pollResults[outcome]++;
    this.s.emit({ type: 'voteResult', ballotId: spec.ballotId, outcome, kind: spec.kind, subject: spec.subject, when: spec.when, tally, reason, ...(refusals && refusals.length > 0 ? { refusals } : {}) });
    if (outcome === 'yes' && spec.subject === 'action') this.s.emit({ type: 'actionScheduled', ballotId: spec.ballotId, when: spec.when, topic: spec.topic });
  }

  // ---------------------------------------------------------------- leader side

  /**
   * A leader repeats results on its heartbeats: at least twice, for REPEAT_PEER_TIMEOUTS
   * peerTimeouts after the decision, and an action's until its instant.
   */
  repeatResults(now: Instant): void {
    for (const a of this.announced.values()) {
      const r = a.result;
      if (a.repeats > 0 || now.mono < a.repeatUntil || (r.subject === 'action' && r.outcome !== 'timeout' && now.wall < r.when)) {
        a.repeats--;
        this.s.out.broadcast(r);
      }
    }
  }

  openPoll(req: PollRequest, requester: MemberId, now: Instant): void {
    const s = this.s;
    const books = s.books();
    if (!books) return;
    const open = books.polls.get(req.ballotId);
    // A repeated request for an open poll: its requester has not seen the ballot; send it directly.
    if (open) return void (requester !== s.id && s.out.sendTo(requester, this.ballotOf(open, now)));
    const announced = this.announced.get(req.ballotId);
    if (announced && requester !== s.id) return s.out.sendTo(requester, announced.result);
    if (this.ballots.isFinished(req.ballotId)) return;
    const spec: PollSpec = { ballotId: req.ballotId, topic: req.topic, kind: req.kind, subject: req.subject, when: req.when, timeoutMs: req.timeoutMs };
    const poll = new Poll(spec, requester, s.voterConfig.voters, now.mono + req.timeoutMs);
    if (req.timeoutMs === 0) {
      // Its requester stopped waiting for the ballot and asks what became of it: never opened,
      // so it never will be. Announced as a timeout, which every later copy of the request gets.
      this.finishPoll(poll, 'timeout', 'the request reached the leader after its requester stopped waiting for the ballot', now);
      return;
    }
    if (req.subject === 'action' && req.when < now.wall + req.timeoutMs) {
      const reason = `action instant is ${Math.round(req.when - now.wall)} ms away on the leader's clock, sooner than the poll timeout (${req.timeoutMs} ms)`;
      this.finishPoll(poll, 'timeout', reason, now);
      return;
    }
    s.counters.pollsOpened++;
    books.polls.set(spec.ballotId, poll);
    const ballot = this.broadcastBallot(poll, now);
    this.onBallot(ballot, s.id, now);
    this.evaluatePoll(poll, now);
  }

  /** Broadcast (again: members that missed it would be owed nothing and could not vote) an open poll's ballot. */
  private broadcastBallot(poll: Poll, now: Instant): Ballot {
    poll.rebroadcastAt = now.mono + this.resendInterval();
    const ballot = this.ballotOf(poll, now);
    this.s.out.broadcast(ballot);
    return ballot;
  }

  private ballotOf(poll: Poll, now: Instant): Ballot {
    return { type: 'ballot', ...poll.spec, requester: poll.requester, voters: [...poll.voters], remainingMs: Math.max(0, poll.deadline - now.mono) };
  }

  countVote(vote: MemberVote, voter: MemberId, now: Instant): void {
    const poll = this.s.books()?.polls.get(vote.ballotId);
    // A vote handled after the deadline (a stalled process, a late timer) is too late to count.
    if (poll && now.mono >= poll.deadline) return this.finishPoll(poll, 'timeout', '', now);
    const announced = poll ? undefined : this.announced.get(vote.ballotId);
    if (announced && voter !== this.s.id) {
      // It missed our result (or is asking for it): tell it directly. Not for the second copy
      // of a vote just heard (votes come over two paths, docs/protocol.md §8): that voter gets
      // the result we broadcast, and a vote it repeats for want of one (every resendInterval)
      // is answered then.
      if (announced.voters.has(voter)) {
        const last = announced.heard.get(voter);
        announced.heard.set(voter, now.mono);
        if (last !== undefined && now.mono - last < this.resendInterval() / 2) {
          this.s.counters.ignoredVotes++;
          return;
        }
      }
      this.s.out.sendTo(voter, announced.result);
      return;
    }
    if (poll?.voters.has(voter)) poll.heard.set(voter, now.mono);
    if (!poll || !poll.cast(voter, vote.yes, vote.reason)) {
      this.s.counters.ignoredVotes++;
      return;
    }
    this.evaluatePoll(poll, now);
  }

  private evaluatePoll(poll: Poll, now: Instant): void {
    const outcome = poll.outcome();
    if (outcome !== null) this.finishPoll(poll, outcome, '', now);
  }

  private finishPoll(poll: Poll, outcome: PollResult['outcome'], reason: string, now: Instant): void {
    this.s.books()?.polls.delete(poll.spec.ballotId);
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
    const refusals = poll.refusals();
    if (refusals.length > 0) result.refusals = refusals;
    if (poll.spec.subject === 'action' && poll.spec.topic.length > 0) result.topic = poll.spec.topic;
    this.s.out.broadcast(result);
    this.announced.set(result.ballotId, { result, repeats: 2, repeatUntil: now.mono + REPEAT_PEER_TIMEOUTS * this.s.timers.peerTimeout, until: now.mono + ANNOUNCED_MS, voters: poll.voters, heard: poll.heard });
    this.onPollResult(result, this.s.id, now);
  }
}
