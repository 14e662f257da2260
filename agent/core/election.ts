/**
 * Elections without a log (docs/protocol.md §4.1, §4.4): monotonic terms, one vote per term
 * (persisted before it is granted), pre-vote, the leader lease followers honour, following a
 * leader (and dropping one that went silent), and the amnesiac's quarantine. What a leader
 * does once elected is in leadership.ts.
 */
import type { Instant } from './events.js';
import type { MemberState } from './member-state.js';
import type { Body, Envelope, LeaderHeartbeat, MemberId, VoteReply, VoteRequest } from './messages.js';
import { comparePosition, hasQuorum, isBootstrap } from './quorum.js';
import type { TimerSettings } from './timers.js';

export class Election {
  constructor(private readonly s: MemberState) {}

  // ---------------------------------------------------------------- amnesia

  endQuarantine(now: Instant): void {
    const s = this.s;
    if (s.noVoteThrough !== Infinity) return;
    // The quarantine runs for peerTimeout from the moment the member hears enough others to ever
    // win an election (minSize, itself included): long enough to hear every live member's term.
    // A member cut off meanwhile stays quiet, however long the cut lasts.
    if (s.amnesiaUntil === Infinity && this.quarantineWitnesses(now) >= s.minSize) {
      s.amnesiaUntil = now.mono + s.timers.peerTimeout;
    }
    if (now.mono >= s.amnesiaUntil) {
      // Quarantine over: a term this member may have voted in before is one some live member still
      // holds (it has heard them all by now), or one above them all that only it reached (its own
      // failed campaign). Vote only above both (docs/protocol.md §4.4); its own campaigns skip them.
      s.noVoteThrough = s.maxSeenTerm + 1;
      s.answered.clear();
      s.probeTerm = -1;
      s.persistHardState();
    }
  }

  /**
   * Who counts toward arming the quarantine: itself, the leader it follows, and the live members
   * that answered its probe. A member that only heart-beats (or sends traffic that is refused)
   * proves nothing: an id nobody admitted — a phantom, a forger — would end the quarantine with a
   * floor learned from no one (seed 3477). Answering needs a round trip to a running member.
   */
  quarantineWitnesses(now: Instant): number {
    const s = this.s;
    const leader = s.leaderId();
    return s.table.alive(now.mono, s.peerTimeoutOf).filter((m) => m === s.id || m === leader || s.answered.has(m)).length;
  }

  /**
   * While its quarantine is not armed, an amnesiac asks the group a pre-vote question with every
   * heartbeat: it changes nothing anywhere, and every running member answers it (granted or not).
   */
  probe(): void {
    const s = this.s;
    if (s.noVoteThrough !== Infinity || s.amnesiaUntil !== Infinity) return;
    s.probeTerm = s.currentTerm + 1;
    s.out.broadcast({ type: 'voteRequest', preVote: true, electionTerm: s.probeTerm, configTerm: s.voterConfig.term, configVersion: s.voterConfig.version, proposedVoters: [], transfer: false });
  }

  // ---------------------------------------------------------------- timers and the lease

  isTermBearing(body: Body): boolean {
    // Terms matter only to election traffic; data, polls and membership are term-independent.
    // A granted pre-vote reply carries the voter's (not higher) term, so every vote reply qualifies.
    return body.type === 'leaderHeartbeat' || body.type === 'heartbeatAck' || body.type === 'voteReply';
  }

  private randomElectionTimeout(timers: TimerSettings): number {
    const { electionMin, electionMax } = timers;
    return electionMin + Math.floor(this.s.random.next() * (electionMax - electionMin));
  }

  /** `timers`: the leader's advertised ones when it was just heard (it promised heartbeats by them). */
  resetElectionTimer(mono: number, timers: TimerSettings = this.s.timers): void {
    this.s.electionAt = mono + this.randomElectionTimeout(timers);
  }

  /** A current leader lease: we heard the leader recently, so we refuse to help unseat it. */
  inLease(now: Instant): boolean {
    const s = this.s;
    if (s.isLeader()) return true;
    const leader = s.leaderId();
    if (leader === null) return false;
    // Its connection closed and nothing heard from it since: no lease to honour (peerClosed).
    const closed = s.leaderClosed;
    if (closed !== null && closed.leader === leader && s.leaderContact <= closed.at) return false;
    return now.mono - s.leaderContact < s.leaderTimers().electionMin;
  }

  /**
   * The connection-closed hint (GroupMember.peerClosed): if `member` is our leader, waive
   * its lease until we hear it again and campaign soon, in turns: every survivor got the
   * same hint at about the same time, so each waits its rank among the other voters times
   * a step (electionMin / 30), and one asks first and wins instead of all splitting the
   * vote (which would cost a whole election timeout). If the first cannot win (some
   * members have no hint yet and still honour the lease), the next asks a step later.
   */
  peerClosed(member: MemberId, now: Instant): void {
    const s = this.s;
    if (s.isLeader() || member !== s.leaderId()) return;
    s.leaderClosed = { leader: member, at: now.mono };
    // A member yielding for its poor health keeps its election timer (and then defers once): the
    // healthier survivors ask first, and it grants their pre-votes (the lease is waived).
    if (s.yieldCampaign) return;
    const step = Math.max(1, Math.floor(s.timers.electionMin / 30));
    const rank = s.voterConfig.voters.filter((v) => v !== member).sort().indexOf(s.id);
    s.electionAt = Math.min(s.electionAt, now.mono + Math.max(0, rank) * step);
  }

  /** When a follower gives up on a leader it no longer hears lead (Infinity: no such leader). */
  silentLeaderDeadline(): number {
    const s = this.s;
    return !s.isLeader() && s.leaderId() !== null ? s.leaderContact + s.leaderTimers().peerTimeout + 1 : Infinity;
  }

  dropSilentLeader(now: Instant): void {
    if (now.mono >= this.silentLeaderDeadline()) this.loseLeader(now);
  }

  // ---------------------------------------------------------------- following

  private setLeader(leader: MemberId): void {
    const s = this.s;
    if (s.leaderId() === leader) return;
    s.setFollowed(leader);
    s.counters.leaderChanges++;
    s.emit({ type: 'leaderElected', leader, term: s.currentTerm });
  }

  /** Forget the followed leader (a non-leader only), telling the application. */
  private dropLeader(): void {
    const s = this.s;
    const old = s.leaderId();
    if (old === null) return;
    s.setFollowed(null);
    s.emit({ type: 'leaderExited', leader: old, term: s.currentTerm });
  }

  loseLeader(now: Instant): void {
    const s = this.s;
    const old = s.leaderId();
    if (old === null) return;
    this.dropLeader();
    s.formerLeader = old;
    // The leader is known gone: no lease to honour, campaign after a fresh randomised timeout.
    s.leaderContact = -Infinity;
    this.resetElectionTimer(now.mono);
  }

  becomeFollower(term: number, leader: MemberId | null, now: Instant): void {
    const s = this.s;
    // Events about the old leader carry the old term, so close it before moving on.
    if (s.isLeader()) s.leadership.stepDown(now, 'a newer term appeared');
    if (s.leaderId() !== null && s.leaderId() !== leader) this.dropLeader();
    if (term > s.currentTerm) s.setHardState(term, null);
    s.role = { kind: 'follower', leader: s.leaderId() };
    this.resetElectionTimer(now.mono);
  }

  onLeaderHeartbeat(env: Envelope<LeaderHeartbeat>, now: Instant): void {
    const s = this.s;
    const hb = env.body;
    if (env.term < s.currentTerm) {
      // A stale leader: tell it our term so it steps down.
      s.out.sendTo(env.from, { type: 'heartbeatAck', configTerm: s.voterConfig.term, configVersion: s.voterConfig.version, accepted: false });
      return;
    }
    const followed = s.leaderId();
    if (s.isLeader()) {
      // Two leaders in one term can only come from a split bootstrap with minSize <= N/2;
      // resolve it deterministically: the lower id keeps the lead.
      if (env.from > s.id) return;
      s.leadership.stepDown(now, `leader ${env.from} holds the same term`);
    } else if (followed !== null && followed !== env.from) {
      if (env.from > followed) return;
      this.dropLeader();
    }
    s.role = { kind: 'follower', leader: s.leaderId() };
    this.setLeader(env.from);
    s.leaderContact = now.mono;
    s.campaignDeferred = false;
    this.resetElectionTimer(now.mono, s.leaderTimers());
    s.table.setEndpoint(env.from, hb.endpoint);
    // Only move forward: a reordered older heartbeat must not roll the configuration back.
    if (comparePosition(hb.config, s.voterConfig) > 0) s.leadership.setConfig(hb.config);
    s.out.sendTo(env.from, { type: 'heartbeatAck', configTerm: s.voterConfig.term, configVersion: s.voterConfig.version, accepted: true });
  }

  /** The leader's hand-over: campaign at once. */
  onTimeoutNow(env: Envelope, now: Instant): void {
    const s = this.s;
    // The hand-over travels on another socket than the leader's goodbye and may arrive after it,
    // when the sender is already a tombstone: judge it by who sent it, not by membership.
    if ((env.from === s.leaderId() || env.from === s.formerLeader) && env.term === s.currentTerm && !s.isLeader()) {
      this.startCampaign(now, 'real', true);
    }
  }

  // ---------------------------------------------------------------- campaigning

  /**
   * The election timer fired. A member yielding for its poor health (setCampaignYield) first
   * waits one more election timeout of its own: a healthier voter whose timer fires in the
   * meantime campaigns and wins, with this member's pre-vote. Only once per leaderless spell
   * (until it campaigns or hears a leader), so the group still elects when the healthier
   * voters cannot: liveness costs one election timeout more, safety nothing (no vote or term
   * changes here).
   */
  electionTimeout(now: Instant): void {
    const s = this.s;
    if (s.yieldCampaign && !s.campaignDeferred) {
      s.campaignDeferred = true;
      this.resetElectionTimer(now.mono);
      return;
    }
    this.startCampaign(now, 'pre', false);
  }

  startCampaign(now: Instant, phase: 'pre' | 'real', transfer: boolean): void {
    const s = this.s;
    s.campaignDeferred = false;
    this.resetElectionTimer(now.mono);
    // A campaign ends in a vote for ourselves: an amnesiac casts none yet, and later none at or below its floor.
    if (s.noVoteThrough === Infinity) return this.abandonCampaign();
    const nextTerm = Math.max(s.currentTerm, s.noVoteThrough) + 1;
    let voters: MemberId[];
    let proposed: MemberId[] = [];
    if (isBootstrap(s.voterConfig)) {
      // No configuration yet: propose the members we can hear, if there are enough of them.
      proposed = s.table.alive(now.mono, s.peerTimeoutOf);
      if (proposed.length < s.minSize) return this.abandonCampaign();
      voters = proposed;
    } else {
      voters = s.voterConfig.voters;
      if (!voters.includes(s.id)) return this.abandonCampaign();
    }
    if (phase === 'real') {
      this.dropLeader();
      s.counters.elections++;
      s.setHardState(nextTerm, s.id);
    }
    const term = phase === 'pre' ? nextTerm : s.currentTerm;
    s.role = { kind: 'candidate', campaign: { phase, term, voters, proposed, grants: new Set([s.id]), transfer }, leader: s.leaderId() };
    s.out.broadcast({
      type: 'voteRequest',
      preVote: phase === 'pre',
      electionTerm: term,
      configTerm: s.voterConfig.term,
      configVersion: s.voterConfig.version,
      proposedVoters: proposed,
      transfer,
    });
    this.checkCampaign(now);
  }

  private abandonCampaign(): void {
    const r = this.s.role;
    if (r.kind === 'candidate') this.s.role = { kind: 'follower', leader: r.leader };
  }

  private checkCampaign(now: Instant): void {
    const c = this.s.campaign();
    if (!c || !hasQuorum(c.voters, c.grants, this.s.minSize)) return;
    if (c.phase === 'pre') this.startCampaign(now, 'real', c.transfer);
    else this.s.leadership.becomeLeader(now, c);
  }

  onVoteReply(env: Envelope<VoteReply>, now: Instant): void {
    const s = this.s;
    const reply = env.body;
    // Any answer to a quarantine probe, granted or not, shows a running member.
    if (s.noVoteThrough === Infinity && reply.preVote && reply.electionTerm === s.probeTerm) s.answered.add(env.from);
    const c = s.campaign();
    if (!c || reply.preVote !== (c.phase === 'pre') || reply.electionTerm !== c.term) return;
    if (!reply.granted) return;
    c.grants.add(env.from);
    this.checkCampaign(now);
  }

  // ---------------------------------------------------------------- voting

  onVoteRequest(env: Envelope<VoteRequest>, now: Instant): void {
    const s = this.s;
    const req = env.body;
    const candidate = env.from;
    const upToDate = comparePosition({ term: req.configTerm, version: req.configVersion }, s.voterConfig) >= 0;
    if (req.preVote) {
      const granted = req.electionTerm > s.currentTerm && upToDate && (req.transfer || !this.inLease(now));
      s.out.sendTo(candidate, { type: 'voteReply', preVote: true, electionTerm: req.electionTerm, granted });
      return;
    }
    if (req.electionTerm < s.currentTerm) {
      s.out.sendTo(candidate, { type: 'voteReply', preVote: false, electionTerm: req.electionTerm, granted: false });
      return;
    }
    if (req.electionTerm > s.currentTerm) {
      // A member that hears a live leader ignores disruptive candidates (unless the leader handed over).
      if (!req.transfer && this.inLease(now)) return;
      this.becomeFollower(req.electionTerm, null, now);
    }
    if (req.electionTerm <= s.noVoteThrough && s.noVoteThrough !== Infinity && s.currentTerm < s.noVoteThrough) {
      // Refused for our amnesia floor: move up to it (safe: no vote), so the reply tells the
      // candidate which term to campaign above.
      this.becomeFollower(s.noVoteThrough, null, now);
    }
    const r = s.role;
    const canVote = (r.kind === 'follower' || (r.kind === 'candidate' && r.campaign.phase === 'pre')) && req.electionTerm > s.noVoteThrough;
    const granted = (s.votedFor === null || s.votedFor === candidate) && upToDate && canVote;
    if (granted) {
      this.abandonCampaign();
      s.setHardState(s.currentTerm, candidate);
      this.resetElectionTimer(now.mono);
    }
    s.out.sendTo(candidate, { type: 'voteReply', preVote: false, electionTerm: req.electionTerm, granted });
  }
}
