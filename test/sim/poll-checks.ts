/**
 * Poll invariants: a result agrees with the votes actually cast and with the
 * rule of its kind, comes from the leader that opened the ballot and, when
 * decided, before its deadline; members never deliver conflicting decisions,
 * each delivers one result per ballot it saw or requested, by the deadline +
 * grace; an action is scheduled once, only after 'yes', at the ballot's instant.
 */
import type { AppEvent } from '../../agent/core/events.js';
import type { Ballot, Envelope, MemberId, PollKind, PollOutcome, PollResult } from '../../agent/core/messages.js';
import type { CheckerHooks, Fail } from './checker.js';
import type { Instance } from './simulator.js';

/** The documented result grace (docs/protocol.md §5): one heartbeat, at most 500 ms. */
export function resultGrace(heartbeat: number): number {
  return Math.min(heartbeat, 500);
}

/** Independent oracle for a poll's outcome from its tally; null = undecided (timeout at the deadline). */
export function expectedOutcome(kind: PollKind, voters: number, yes: number, no: number): PollOutcome | null {
  const majority = Math.floor(voters / 2) + 1;
  if (kind === 'consensus') return no >= 1 ? 'no' : yes === voters ? 'yes' : null;
  return yes >= majority ? 'yes' : no > voters - majority ? 'no' : null;
}

interface BallotInfo {
  leader: MemberId;
  openedAt: number;
  ballot: Ballot;
}

/** What one member instance was shown and delivered. */
interface PollView {
  shown: Set<string>;
  results: Map<string, PollOutcome>;
  actions: Set<string>;
}

export class PollChecks {
  readonly stats = { polls: 0, results: 0, lateActions: 0 };
  private readonly ballots = new Map<string, BallotInfo>();
  private readonly requested = new Map<string, { by: MemberId; when: number; at: number }>();
  private readonly cast = new Map<string, Map<MemberId, { yes: boolean; no: boolean }>>();
  private readonly results = new Map<string, PollResult[]>();
  /** The first result each instance announced for a ballot. */
  private readonly sentBy = new Map<string, Map<string, PollResult>>();
  /** Who first announced a result for each ballot (the leader that refused a poll opens no ballot). */
  private readonly firstAnnouncer = new Map<string, MemberId>();
  /** When the opener of each ballot first announced a result. */
  private readonly announcedAt = new Map<string, number>();
  private readonly decided = new Map<string, { outcome: PollOutcome; member: string }>();
  private readonly views = new Map<string, PollView>();

  constructor(
    private readonly hooks: CheckerHooks,
    private readonly fail: Fail,
  ) {}

  private view(inst: Instance): PollView {
    let v = this.views.get(inst.key);
    if (!v) this.views.set(inst.key, (v = { shown: new Set(), results: new Map(), actions: new Set() }));
    return v;
  }

  onSend(inst: Instance, env: Envelope): void {
    const b = env.body;
    if (b.type === 'ballot') {
      this.stats.polls++;
      if (!this.ballots.has(b.ballotId)) this.ballots.set(b.ballotId, { leader: inst.id, openedAt: this.hooks.now(), ballot: b });
    } else if (b.type === 'memberVote') this.noteVote(b.ballotId, inst.id, b.yes);
    else if (b.type === 'pollResult') this.onPollResult(inst, b);
  }

  onEvent(inst: Instance, e: AppEvent): void {
    const who = inst.id;
    const view = this.view(inst);
    switch (e.type) {
      case 'voteRequest':
        if (view.shown.has(e.ballotId)) this.fail('poll-events', `${who} was shown ballot ${e.ballotId} twice`);
        if (view.results.has(e.ballotId)) this.fail('poll-events', `${who} was shown ballot ${e.ballotId} after its result`);
        view.shown.add(e.ballotId);
        this.owe(inst, e.ballotId, this.ballots.get(e.ballotId)?.ballot.timeoutMs, e.subject === 'action' ? e.when : 0, 'saw');
        return;
      case 'voteResult':
        this.onVoteResult(inst, view, e);
        return;
      case 'actionScheduled': {
        if (view.results.get(e.ballotId) !== 'yes') this.fail('action-after-yes', `${who} scheduled action ${e.ballotId} without a 'yes' result`);
        if (view.actions.has(e.ballotId)) this.fail('action-once', `${who} scheduled action ${e.ballotId} twice`);
        view.actions.add(e.ballotId);
        const when = this.ballots.get(e.ballotId)?.ballot.when ?? this.requested.get(e.ballotId)?.when;
        if (when !== undefined && when !== e.when) this.fail('action-when', `${who} scheduled ${e.ballotId} at ${e.when}, the ballot said ${when}`);
        if (this.hooks.now() + inst.wallOffset + inst.wallBase > e.when) this.stats.lateActions++;
        return;
      }
      default:
        return;
    }
  }

  private onPollResult(inst: Instance, r: PollResult): void {
    const list = this.results.get(r.ballotId) ?? [];
    this.results.set(r.ballotId, list);
    const sentBefore = this.sentBy.get(r.ballotId)?.get(inst.key);
    if (sentBefore) {
      // A repeat (for members that missed it): it must say exactly what it said the first time.
      if (sentBefore.outcome !== r.outcome || sentBefore.tally.yes !== r.tally.yes || sentBefore.tally.no !== r.tally.no || sentBefore.tally.voters !== r.tally.voters) {
        this.fail('poll-result-changed', `${inst.id} announced ${r.outcome} (${r.tally.yes}y/${r.tally.no}n) for ${r.ballotId} after announcing ${sentBefore.outcome} (${sentBefore.tally.yes}y/${sentBefore.tally.no}n)`);
      }
      return;
    }
    let by = this.sentBy.get(r.ballotId);
    if (!by) this.sentBy.set(r.ballotId, (by = new Map()));
    by.set(inst.key, r);
    if (!this.firstAnnouncer.has(r.ballotId)) this.firstAnnouncer.set(r.ballotId, inst.id);
    list.push(r);
    if (!this.announcedAt.has(r.ballotId) && this.ballots.get(r.ballotId)?.leader === inst.id) this.announcedAt.set(r.ballotId, this.hooks.now());
    const where = `poll ${r.ballotId} (${r.kind}) result ${r.outcome} tally ${r.tally.yes}y/${r.tally.no}n/${r.tally.voters} from ${inst.id}`;
    if (r.reason !== '' && r.outcome !== 'timeout') this.fail('poll-outcome', `${where}: a poll ended for a reason ("${r.reason}") must be 'timeout'`);
    const info = this.ballots.get(r.ballotId);
    if (info) {
      const voters = info.ballot.voters;
      if (info.leader !== inst.id) this.fail('poll-result-from-its-leader', `${where}: the ballot was opened by ${info.leader}`);
      if (r.tally.voters !== voters.length) this.fail('poll-tally', `${where}: the ballot had ${voters.length} voters`);
      const votes = this.cast.get(r.ballotId);
      let yes = 0;
      let no = 0;
      for (const v of voters) {
        const c = votes?.get(v);
        if (c?.yes) yes++;
        if (c?.no) no++;
      }
      if (r.tally.yes > yes || r.tally.no > no) this.fail('poll-tally', `${where}: only ${yes} voters said yes and ${no} said no`);
      if (r.outcome !== 'timeout' && this.hooks.now() - info.openedAt > info.ballot.timeoutMs) {
        this.fail('poll-deadline', `${where}: decided ${this.hooks.now() - info.openedAt} ms after opening, past its ${info.ballot.timeoutMs} ms timeout`);
      }
    }
    if (r.tally.yes + r.tally.no > r.tally.voters) this.fail('poll-tally', `${where}: more votes than voters`);
    if (r.reason === '') {
      const expected = expectedOutcome(r.kind, r.tally.voters, r.tally.yes, r.tally.no) ?? 'timeout';
      if (expected !== r.outcome) this.fail('poll-outcome', `${where}: the ${r.kind} rule gives ${expected}`);
    }
  }

  private noteVote(ballotId: string, member: MemberId, yes: boolean): void {
    let m = this.cast.get(ballotId);
    if (!m) this.cast.set(ballotId, (m = new Map()));
    const c = m.get(member) ?? { yes: false, no: false };
    if (yes) c.yes = true;
    else c.no = true;
    m.set(member, c);
  }

  private onVoteResult(inst: Instance, view: PollView, e: Extract<AppEvent, { type: 'voteResult' }>): void {
    const who = inst.id;
    this.stats.results++;
    if (view.results.has(e.ballotId)) this.fail('one-result-per-ballot', `${who} got a second result for ${e.ballotId} (${view.results.get(e.ballotId)} then ${e.outcome})`);
    view.results.set(e.ballotId, e.outcome);
    this.checkConnectedOutcome(inst, e);
    if (e.outcome === 'timeout') return;
    const sent = this.results.get(e.ballotId) ?? [];
    if (!sent.some((r) => r.outcome === e.outcome && r.tally.yes === e.tally.yes && r.tally.no === e.tally.no && r.tally.voters === e.tally.voters)) {
      this.fail('result-matches-leader', `${who} delivered ${e.outcome} (${e.tally.yes}y/${e.tally.no}n/${e.tally.voters}) for ${e.ballotId}, which no leader announced`);
    }
    const d = this.decided.get(e.ballotId);
    if (d && d.outcome !== e.outcome) this.fail('poll-agreement', `${who} got ${e.outcome} for ${e.ballotId} but ${d.member} got ${d.outcome}`);
    else if (!d) this.decided.set(e.ballotId, { outcome: e.outcome, member: who });
  }

  /**
   * A member that saw a ballot and stayed connected to the leader that opened it, on a quiet
   * network, delivers that leader's result, never a local timeout of its own.
   */
  private checkConnectedOutcome(inst: Instance, e: Extract<AppEvent, { type: 'voteResult' }>): void {
    const info = this.ballots.get(e.ballotId);
    if (!info || info.leader === inst.id) return;
    const sent = this.results.get(e.ballotId) ?? [];
    if (sent.some((r) => r.outcome === e.outcome && r.tally.yes === e.tally.yes && r.tally.no === e.tally.no && r.tally.voters === e.tally.voters)) return;
    // A local timeout. Was the member connected to the opener all along, on a quiet network?
    const now = this.hooks.now();
    // The requester counts from its request (the leader may have opened the ballot much later).
    const req = this.requested.get(e.ballotId);
    const from = req && req.by === inst.id ? Math.min(req.at, info.openedAt) : info.openedAt;
    const quiet = this.hooks.quiet();
    const leader = this.hooks.running(info.leader);
    const connected = quiet.since <= from && inst.startedAt <= from && inst.lastPauseEnd <= from && leader !== undefined && leader.startedAt <= from && leader.lastPauseEnd <= from && leader.pausedUntil <= now;
    if (!connected) return;
    const late = quiet.delayMax + this.hooks.slack + 1;
    // The opener decides by its deadline at the latest: a member must wait that long plus a delay...
    const leaderDeadline = from + info.ballot.timeoutMs;
    // ...and a result it announced must have arrived.
    const at = this.announcedAt.get(e.ballotId);
    if (now < leaderDeadline + late || (at !== undefined && now - at > late)) {
      this.fail('connected-gets-leader-outcome', `${inst.id} delivered its own ${e.outcome} for ${e.ballotId} at ${now} ms (the opener ${info.leader}'s deadline ${leaderDeadline} ms${at !== undefined ? `, its result sent at ${at} ms` : ''}), connected on a quiet network`);
    }
  }


  /** The instance must deliver a result for `ballotId` by `timeoutMs` + grace from now, if it stays up. */
  private owe(inst: Instance, ballotId: string, timeoutMs: number | undefined, when: number, how: 'saw' | 'requested'): void {
    if (timeoutMs === undefined) return;
    // The grace (one heartbeat, at most 500 ms) covers the leader's result broadcast at its
    // deadline; a member that hears nothing times out locally then. For an action the result
    // may come until the action's instant (the leader repeats it), so the wait runs to then.
    const since = this.hooks.now();
    const grace = resultGrace(this.hooks.timers.heartbeat);
    const wall = since + inst.wallBase + inst.wallOffset;
    const wait = when > 0 ? Math.max(timeoutMs, Math.min(when - wall, timeoutMs + 60_000)) : timeoutMs;
    // A requester whose ballot never came asks the leader what became of it, for up to one more
    // peerTimeout; once it sees the ballot it is owed a result like every member that saw it.
    const ask = how === 'requested' ? this.hooks.timers.peerTimeout : 0;
    const due = since + wait + grace + ask + this.hooks.slack;
    // A member stalled meanwhile catches up on its timers when it wakes: judge it then.
    const check = (pausedBefore: number): void => {
      if (!inst.up) return;
      if (inst.pausedUntil > pausedBefore) {
        const woke = inst.pausedUntil;
        return void this.hooks.at(Math.max(due, woke) + 1 + this.hooks.slack, () => check(woke));
      }
      const view = this.views.get(inst.key);
      if (how === 'requested' && view?.shown.has(ballotId)) return;
      if (view && !view.results.has(ballotId)) {
        this.fail(how === 'saw' ? 'result-by-deadline' : 'requester-result-by-deadline', `${inst.id} ${how} ${ballotId} at ${since} ms (timeout ${timeoutMs} ms${when > 0 ? `, action in ${Math.round(when - wall)} ms` : ''}) but has no result by then + ${Math.round(wait)} ms + grace (${grace} ms)${ask ? ` + ${ask} ms asking the leader` : ''}`);
      }
    };
    this.hooks.at(due + 1, () => check(since));
  }

  pollRequested(inst: Instance, ballotId: string, timeoutMs: number, when: number): void {
    this.requested.set(ballotId, { by: inst.id, when, at: this.hooks.now() });
    this.owe(inst, ballotId, timeoutMs, when, 'requested');
  }

  voteCast(inst: Instance, ballotId: string, yes: boolean): void {
    this.noteVote(ballotId, inst.id, yes);
  }

  /** The result an instance delivered for a ballot, if any. */
  resultOf(key: string, ballotId: string): PollOutcome | undefined {
    return this.views.get(key)?.results.get(ballotId);
  }

  /** The most recently opened ballot (a stranger's target). */
  lastBallot(): string | undefined {
    let last: string | undefined;
    for (const id of this.ballots.keys()) last = id;
    return last;
  }

  /** The leader that opened a ballot, as seen on the wire. */
  openerOf(ballotId: string): MemberId | undefined {
    return this.ballots.get(ballotId)?.leader ?? this.firstAnnouncer.get(ballotId);
  }

  /** Whether an instance was shown a ballot (a voteRequest event). */
  wasShown(key: string, ballotId: string): boolean {
    return this.views.get(key)?.shown.has(ballotId) ?? false;
  }
}
