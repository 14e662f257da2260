/**
 * The state one group member shares between its parts (election, leadership, polls, the
 * facade in member.ts): identity and settings, the durable vote record, the role, the voter
 * configuration, and the outbox. The parts hold a reference to it and to each other through it.
 */
import type { AppEvent, HardState, Random, Role } from './events.js';
import { MAX_COUNTER } from './limits.js';
import { MemberTable } from './membership.js';
import type { MemberId, VoterConfig } from './messages.js';
import { Outbox } from './outbox.js';
import { EMPTY_CONFIG } from './quorum.js';
import type { Campaign, LeaderBooks, MemberRole } from './role.js';
import type { TimerSettings } from './timers.js';
import type { Election } from './election.js';
import type { Leadership } from './leadership.js';
import type { Polling } from './polling.js';
import type { SettingsCheck } from './settings-check.js';

export interface MemberOptions {
  group: string;
  id: MemberId;
  /** Grows with every (re)start of this member. */
  incarnation: number;
  /** Least number of members that may elect a leader (RIAPS groupMinSize). */
  minSize: number;
  timers: TimerSettings;
  /**
   * Other group timers a peer may advertise without a configuration mismatch (each times one
   * of TIMER_SCALES, like our own): a group on `auto` accepts every preset auto may choose,
   * since its members switch between them at slightly different moments.
   */
  acceptedTimers?: TimerSettings[];
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
  /** Heartbeats whose sender's minSize or protocol timers differ from ours (a configuration error). */
  configMismatches: number;
  pollsOpened: number;
  pollResults: Record<'yes' | 'no' | 'timeout', number>;
}

export class MemberState {
  readonly id: MemberId;
  readonly group: string;
  readonly incarnation: number;
  readonly minSize: number;
  /** This member's own timers: the group's, scaled by the runtime's adaptation (setTimers). */
  timers: TimerSettings;
  /** The group's timers as configured (the starting point of any adaptation). */
  readonly baseTimers: TimerSettings;
  /** baseTimers, then any other group timers a peer may advertise (MemberOptions.acceptedTimers). */
  readonly acceptedTimers: TimerSettings[];
  /** The timers each peer advertises in its heartbeats: each peer is judged by its own. */
  readonly advertised = new Map<MemberId, TimerSettings>();
  readonly random: Random;
  readonly endpoint: string;
  readonly deliverToSelf: boolean;
  readonly out: Outbox;
  readonly table: MemberTable;
  readonly counters: MemberCounters = {
    elections: 0,
    leaderChanges: 0,
    staleDropped: 0,
    misrouted: 0,
    notFromLeader: 0,
    absurd: 0,
    stalls: 0,
    ignoredVotes: 0,
    configMismatches: 0,
    pollsOpened: 0,
    pollResults: { yes: 0, no: 0, timeout: 0 },
  };

  // The parts, wired by GroupMember's constructor.
  election!: Election;
  leadership!: Leadership;
  polls!: Polling;
  settings!: SettingsCheck;

  currentTerm: number;
  votedFor: MemberId | null;
  role: MemberRole = { kind: 'follower', leader: null };
  /** The last leader this member lost (accepts its hand-over). */
  formerLeader: MemberId | null = null;
  leaderContact = -Infinity;
  voterConfig: VoterConfig = EMPTY_CONFIG;
  started = false;
  /** Amnesia (see MemberOptions.amnesiac): no votes before this monotonic time (Infinity until armed)... */
  amnesiaUntil = Infinity;
  /** ...and none for a term up to this one (Infinity while the quarantine lasts). */
  noVoteThrough = -1;
  /** The term of an amnesiac's last quarantine probe (a pre-vote request it broadcast), or -1. */
  probeTerm = -1;
  /** Members that answered an amnesiac's probe: only they (and the leader it follows) arm its quarantine. */
  readonly answered = new Set<MemberId>();
  /** Highest term seen on any accepted envelope (an amnesiac's floor). */
  maxSeenTerm = 0;
  /** When this member, as leader, last sent a leader heartbeat: its followers' lease runs from there. */
  lastLeaderHeartbeat = -Infinity;
  /**
   * The runtime says this member is in poor health while a healthier voter is alive
   * (GroupMember.setCampaignYield): it lets the others campaign first.
   */
  yieldCampaign = false;
  /** An election timeout was already deferred for the yield since the last campaign or leader heartbeat. */
  campaignDeferred = false;
  /** Since when this member has known no leader (majority-loss recovery), or null. */
  leaderlessSince: number | null = null;
  heartbeatAt = Infinity;
  electionAt = Infinity;
  /**
   * The runtime saw our leader's connection close (Election.peerClosed), at this monotonic
   * time, and we have heard nothing from it since; null otherwise. It waives our lease.
   */
  leaderClosed: { leader: MemberId; at: number } | null = null;

  constructor(opts: MemberOptions) {
    this.id = opts.id;
    this.group = opts.group;
    this.incarnation = opts.incarnation;
    this.minSize = opts.minSize;
    this.timers = { ...opts.timers };
    this.baseTimers = { ...opts.timers };
    this.acceptedTimers = [this.baseTimers, ...(opts.acceptedTimers ?? []).map((t) => ({ ...t }))];
    this.random = opts.random;
    this.endpoint = opts.endpoint ?? '';
    this.deliverToSelf = opts.deliverToSelf ?? true;
    this.currentTerm = opts.hardState?.term ?? 0;
    this.votedFor = opts.hardState?.votedFor ?? null;
    this.table = new MemberTable(this.id);
    this.out = new Outbox(this.group, this.id, this.incarnation, () => this.currentTerm);
    // Amnesia is itself durable: a member that crashes in quarantine is still amnesiac after.
    if (opts.amnesiac || opts.hardState?.quarantined) this.noVoteThrough = Infinity;
    else if (Number.isSafeInteger(opts.hardState?.voteFloor)) this.noVoteThrough = opts.hardState?.voteFloor as number;
  }

  /**
   * How long a peer may be silent: its own advertised peerTimeout (a member that scaled its
   * timers for its stalls says so), never less than ours. An arrow: handed to the member table.
   */
  readonly peerTimeoutOf = (member: MemberId): number => Math.max(this.timers.peerTimeout, this.advertised.get(member)?.peerTimeout ?? 0);

  /** The timers our leader advertises, by which we judge it (ours while we lead or know none). */
  leaderTimers(): TimerSettings {
    const leader = this.role.kind === 'leader' ? null : this.role.leader;
    return (leader !== null ? this.advertised.get(leader) : undefined) ?? this.timers;
  }

  get left(): boolean {
    return this.out.silenced;
  }

  isLeader(): boolean {
    return this.role.kind === 'leader';
  }

  /** The leader this member knows: itself when it leads. */
  leaderId(): MemberId | null {
    return this.role.kind === 'leader' ? this.id : this.role.leader;
  }

  /** A non-leader's followed leader changes (a leader always follows itself). */
  setFollowed(leader: MemberId | null): void {
    if (this.role.kind !== 'leader') this.role.leader = leader;
  }

  /** The leader's books, or null when not leading. */
  books(): LeaderBooks | null {
    return this.role.kind === 'leader' ? this.role.books : null;
  }

  campaign(): Campaign | null {
    return this.role.kind === 'candidate' ? this.role.campaign : null;
  }

  /** A pre-candidate has not changed its term and still reports as a follower. */
  publicRole(): Role {
    const r = this.role;
    return r.kind === 'candidate' && r.campaign.phase === 'pre' ? 'follower' : r.kind;
  }

  emit(event: AppEvent): void {
    this.out.emit(event);
  }

  setHardState(term: number, votedFor: MemberId | null): void {
    if (term === this.currentTerm && votedFor === this.votedFor) return;
    this.currentTerm = term;
    this.votedFor = votedFor;
    this.persistHardState();
  }

  persistHardState(): void {
    const state: HardState = { term: this.currentTerm, votedFor: this.votedFor };
    if (this.noVoteThrough === Infinity) state.quarantined = true;
    else if (this.noVoteThrough >= 0) state.voteFloor = this.noVoteThrough;
    this.out.persist(state);
  }
}
