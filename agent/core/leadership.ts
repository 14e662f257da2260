/**
 * What a leader does, and the voter configuration it owns (docs/protocol.md §4.1, §4.3, §4.5):
 * taking office, check-quorum and the stall check, heartbeats, committing a configuration, one
 * change at a time and only on top of a committed one, admitting joiners that acknowledged it,
 * handing over on a graceful leave, bootstrapping, and majority-loss recovery.
 */
import type { Envelope, HeartbeatAck, MemberId, VoterConfig } from './messages.js';
import type { Instant } from './events.js';
import type { MemberState } from './member-state.js';
import { EMPTY_CONFIG, comparePosition, hasQuorum, isBootstrap } from './quorum.js';
import type { Campaign, LeaderBooks } from './role.js';

export class Leadership {
  constructor(private readonly s: MemberState) {}

  // ---------------------------------------------------------------- taking and leaving office

  becomeLeader(now: Instant, c: Campaign): void {
    const s = this.s;
    const before = s.leaderId();
    const lastActive = new Map<MemberId, number>();
    for (const v of c.voters) lastActive.set(v, now.mono);
    s.role = {
      kind: 'leader',
      books: { lastActive, acked: new Map([[s.id, { term: s.currentTerm, version: 0 }]]), committedVersion: 0, departed: new Set(), polls: new Map(), leavingDeadline: null },
    };
    // Re-stamp the configuration in our term; it must commit before any membership change
    // (the single-server-change safety rule).
    // At bootstrap only members that voted are known to be real: the others join one at a time
    // later, like any joiner, once they acknowledge us (a silent id never becomes a voter).
    const voters = isBootstrap(s.voterConfig) ? c.voters.filter((v) => c.grants.has(v)) : c.voters;
    this.setConfig({ term: s.currentTerm, version: s.voterConfig.version + 1, voters: [...voters].sort() });
    if (before !== s.id) {
      s.counters.leaderChanges++;
      s.emit({ type: 'leaderElected', leader: s.id, term: s.currentTerm });
    }
    s.leaderContact = now.mono;
    this.sendHeartbeat(now);
    this.updateCommit();
  }

  /** Leader → follower on the same or a newer term: close the leader's books. */
  stepDown(now: Instant, why: string): void {
    const s = this.s;
    const books = s.books();
    const was = s.leaderId();
    s.role = { kind: 'follower', leader: was === s.id ? null : was };
    if (was === s.id) s.emit({ type: 'leaderExited', leader: s.id, term: s.currentTerm });
    if (books) s.polls.closeAll(books, `the leader stepped down: ${why}`, now);
    s.election.resetElectionTimer(now.mono);
    // A leader that was leaving still leaves, as a follower now.
    if (books?.leavingDeadline != null && !s.left) this.finishLeaving(now);
  }

  checkStall(now: Instant): void {
    const s = this.s;
    if (s.isLeader() && now.mono - s.lastLeaderHeartbeat >= s.timers.electionMin) {
      // Stalled (a frozen process, a blocked loop) past the lease its followers granted: another
      // leader may exist already. Step down before acting; the group re-elects (maybe us again).
      s.counters.stalls++;
      this.stepDown(now, `stalled ${Math.round(now.mono - s.lastLeaderHeartbeat)} ms since its last heartbeat, past the followers' lease (electionMin ${s.timers.electionMin} ms)`);
    }
  }

  tick(now: Instant): void {
    const s = this.s;
    const books = s.books();
    if (!books) return;
    s.polls.leaderTick(books, now);
    this.manageConfig(now);
    if (!s.isLeader()) return;
    // Check-quorum: a leader that cannot hear a quorum steps down, so a minority side has no leader.
    const active = new Set<MemberId>();
    for (const v of s.voterConfig.voters) {
      if (v === s.id || now.mono - (books.lastActive.get(v) ?? -Infinity) <= s.peerTimeoutOf(v)) active.add(v);
    }
    if (!hasQuorum(s.voterConfig.voters, active, s.minSize)) {
      this.stepDown(now, 'lost contact with a quorum');
      return;
    }
    if (books.leavingDeadline !== null && now.mono >= books.leavingDeadline) this.finishLeaving(now);
  }

  sendHeartbeat(now: Instant): void {
    const s = this.s;
    s.heartbeatAt = now.mono + s.timers.heartbeat;
    const books = s.books();
    if (books) {
      s.lastLeaderHeartbeat = now.mono;
      s.polls.repeatResults(now);
      s.out.broadcast({ type: 'leaderHeartbeat', config: s.voterConfig, committedVersion: books.committedVersion, endpoint: s.endpoint, timers: s.timers, minSize: s.minSize, sentAt: now.wall });
    } else {
      s.out.broadcast({ type: 'memberHeartbeat', timers: s.timers, minSize: s.minSize, sentAt: now.wall, leader: s.leaderId() ?? '', endpoint: s.endpoint });
    }
  }

  // ---------------------------------------------------------------- the voter configuration

  onHeartbeatAck(env: Envelope<HeartbeatAck>, now: Instant): void {
    const books = this.s.books();
    if (books && env.term === this.s.currentTerm && env.body.accepted) {
      books.acked.set(env.from, { term: env.body.configTerm, version: env.body.configVersion });
      this.updateCommit();
      this.manageConfig(now);
    }
  }

  setConfig(config: VoterConfig): void {
    const s = this.s;
    s.voterConfig = { term: config.term, version: config.version, voters: [...config.voters] };
    const books = s.books();
    if (books && config.voters.includes(s.id)) books.acked.set(s.id, { term: config.term, version: config.version });
  }

  private updateCommit(): void {
    const s = this.s;
    const books = s.books();
    if (!books) return;
    const cfg = s.voterConfig;
    const current = new Set<MemberId>();
    for (const v of cfg.voters) {
      const a = books.acked.get(v);
      if (a && a.term === cfg.term && a.version === cfg.version) current.add(v);
    }
    if (hasQuorum(cfg.voters, current, s.minSize)) books.committedVersion = cfg.version;
  }

  /**
   * A member may become a voter once it has acknowledged this leader's current configuration
   * (see manageConfig). An older acknowledgement does not count: a voter removed as dead whose
   * delayed heartbeat arrives later must show it is back by acknowledging the configuration
   * that removed it, or it would re-enter the quorum on one stray frame and leave it again.
   */
  mayBecomeVoter(member: MemberId): boolean {
    const a = this.s.books()?.acked.get(member);
    const cfg = this.s.voterConfig;
    return a !== undefined && a.term === cfg.term && a.version === cfg.version;
  }

  /** One configuration change at a time, and only on top of a committed configuration. */
  manageConfig(now: Instant): void {
    const s = this.s;
    const books = s.books();
    if (!books) return;
    this.updateCommit();
    if (books.committedVersion !== s.voterConfig.version) return;
    this.maybeFinishLeaving(now);
    if (s.left) return;
    const voters = s.voterConfig.voters;
    for (const d of books.departed) if (d !== s.id && !voters.includes(d)) books.departed.delete(d);
    const alive = new Set(s.table.alive(now.mono, s.peerTimeoutOf));
    const dead = voters.filter((v) => v !== s.id && (books.departed.has(v) || !alive.has(v) || now.mono - (books.lastActive.get(v) ?? -Infinity) > s.peerTimeoutOf(v)));
    let next: MemberId[] | null = null;
    if (books.departed.has(s.id) && voters.includes(s.id)) next = voters.filter((v) => v !== s.id);
    else if (dead.length > 0 && voters.length - 1 >= s.minSize) next = voters.filter((v) => v !== dead[0]);
    else {
      // A joiner becomes a voter once it has acknowledged this leader: an id that only sends
      // heartbeats (a phantom, a misconfigured board) never gets to hold the group's quorum.
      const joiner = [...alive].sort().find((m) => !voters.includes(m) && !books.departed.has(m) && this.mayBecomeVoter(m));
      if (joiner !== undefined && books.leavingDeadline === null) next = [...voters, joiner].sort();
    }
    if (!next) return;
    // A voter added now has just acknowledged us: its activity starts now (a stale entry from
    // an earlier spell as a voter would have it judged dead, and removed, at once).
    for (const v of next) if (!voters.includes(v)) books.lastActive.set(v, now.mono);
    this.setConfig({ term: s.currentTerm, version: s.voterConfig.version + 1, voters: next });
    if (s.voterConfig.voters.includes(s.id)) books.acked.set(s.id, { term: s.currentTerm, version: s.voterConfig.version });
    this.updateCommit();
    this.sendHeartbeat(now);
    if (books.committedVersion === s.voterConfig.version) this.manageConfig(now);
  }

  /**
   * Majority-loss recovery: a member that has known no leader for {@link recoverAfter} while
   * fewer than a quorum of its voters are alive (a majority lost power at once, or a long
   * partition) forgets its voter configuration and bootstraps again from the members it hears,
   * which needs minSize of them. With minSize above half the group this cannot split it; with a
   * smaller minSize a side cut off for that long may form its own group (docs/protocol.md §4.5).
   */
  maybeRecover(now: Instant): void {
    const s = this.s;
    if (s.leaderId() !== null) {
      s.leaderlessSince = null;
      return;
    }
    s.leaderlessSince ??= now.mono;
    if (isBootstrap(s.voterConfig) || now.mono - s.leaderlessSince < this.recoverAfter()) return;
    const alive = new Set(s.table.alive(now.mono, s.peerTimeoutOf));
    if (hasQuorum(s.voterConfig.voters, alive, s.minSize)) return;
    s.leaderlessSince = now.mono;
    s.voterConfig = EMPTY_CONFIG;
  }

  private recoverAfter(): number {
    return 3 * this.s.timers.peerTimeout;
  }

  // ---------------------------------------------------------------- a graceful leave

  /**
   * A leader leaving with others to take over first removes itself from the configuration, so
   * the successor's quorum does not count it. Returns false when there is nothing to hand over.
   */
  startLeaving(now: Instant): boolean {
    const s = this.s;
    const books = s.books();
    if (!books || books.leavingDeadline !== null) return false;
    const others = s.voterConfig.voters.filter((v) => v !== s.id);
    if (others.length < s.minSize || others.length === 0) return false;
    books.departed.add(s.id);
    books.leavingDeadline = now.mono + s.timers.heartbeat;
    this.manageConfig(now);
    this.maybeFinishLeaving(now);
    return true;
  }

  /** A leaving leader hands over once its own removal is committed (or it stops waiting). */
  private maybeFinishLeaving(now: Instant): void {
    const s = this.s;
    const books = s.books();
    if (!books || books.leavingDeadline === null) return;
    if (!s.voterConfig.voters.includes(s.id) && books.committedVersion === s.voterConfig.version) this.finishLeaving(now);
  }

  finishLeaving(now: Instant): void {
    const s = this.s;
    const books = s.books();
    if (books) {
      // Hand over to the most up-to-date live voter, which campaigns at once (no election timeout);
      // among equals the healthiest, i.e. the one advertising the smallest electionMin (a member
      // that scaled its timers for its stalls says so), then by id.
      const healthier = (a: MemberId, b: MemberId): number => {
        const [ea, eb] = [s.advertised.get(a)?.electionMin, s.advertised.get(b)?.electionMin];
        return ea !== undefined && eb !== undefined ? ea - eb : 0;
      };
      const target = s.voterConfig.voters
        .filter((v) => v !== s.id && now.mono - (books.lastActive.get(v) ?? -Infinity) <= s.peerTimeoutOf(v))
        .sort((a, b) => comparePosition(position(books, b), position(books, a)) || healthier(a, b) || (a < b ? -1 : 1))[0];
      if (target !== undefined) s.out.sendTo(target, { type: 'timeoutNow' });
      s.polls.closeAll(books, 'the leader left the group', now);
      s.role = { kind: 'follower', leader: null };
      s.emit({ type: 'leaderExited', leader: s.id, term: s.currentTerm });
    }
    s.out.broadcast({ type: 'leave' });
    s.out.silence();
    s.emit({ type: 'left' });
  }
}

function position(books: LeaderBooks, member: MemberId): { term: number; version: number } {
  return books.acked.get(member) ?? { term: 0, version: 0 };
}
