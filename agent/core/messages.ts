/**
 * The group protocol's messages as the core sees them (decoded, validated).
 * `proto/cohort.proto` is the wire form of exactly these types; `proto/codec.ts`
 * maps between the two. Every message travels in an {@link Envelope}.
 */
import type { TimerSettings } from './timers.js';

/** Stable, fleet-unique member id: `<node>/<component>` (the group is the envelope's). */
export type MemberId = string;

/** Wire protocol version carried by every envelope. */
export const PROTOCOL_VERSION = 1;

export type PollKind = 'majority' | 'consensus';
export type PollSubject = 'value' | 'action';
export type PollOutcome = 'yes' | 'no' | 'timeout';

/** A voter configuration, published by the leader. Ordered by (term, version). */
export interface VoterConfig {
  /** Term of the leader that created this configuration (0 = none yet). */
  term: number;
  /** Per-group sequence number of configurations. */
  version: number;
  /** Sorted member ids that vote in elections and polls. */
  voters: MemberId[];
}

export interface Envelope<B extends Body = Body> {
  version: number;
  group: string;
  from: MemberId;
  /** Sender's incarnation: grows each time the member restarts. */
  incarnation: number;
  /** Sender's current term. */
  term: number;
  /** Addressee for directed messages ('' = every member). */
  to: MemberId;
  body: B;
}

/** Every member, every `heartbeat` ms (the leader sends LeaderHeartbeat instead). */
export interface MemberHeartbeat {
  type: 'memberHeartbeat';
  timers: TimerSettings;
  minSize: number;
  /** Sender's wall clock, epoch ms (diagnostics and clock-offset estimates). */
  sentAt: number;
  /** Leader the sender follows ('' = none). */
  leader: MemberId;
  /** Where the sender's agent takes directed messages (transport-specific, may be ''). */
  endpoint: string;
}

/** Election: pre-vote (no term change) and real vote requests. */
export interface VoteRequest {
  type: 'voteRequest';
  /** True for the pre-vote phase: asks "would you vote for me in `electionTerm`?". */
  preVote: boolean;
  /** The term the candidate campaigns for. */
  electionTerm: number;
  /** Candidate's configuration position (its "log"): voters refuse stale candidates. */
  configTerm: number;
  configVersion: number;
  /** Bootstrap only (empty configuration): the voter set the candidate proposes. */
  proposedVoters: MemberId[];
  /** Sent after a leadership transfer: voters skip the leader-lease check. */
  transfer: boolean;
}

export interface VoteReply {
  type: 'voteReply';
  preVote: boolean;
  electionTerm: number;
  granted: boolean;
}

/** The leader's authority and heartbeat. */
export interface LeaderHeartbeat {
  type: 'leaderHeartbeat';
  config: VoterConfig;
  /** The configuration version known committed (acknowledged by a quorum). */
  committedVersion: number;
  /** Where members reach the leader channel (transport-specific, may be ''). */
  endpoint: string;
  timers: TimerSettings;
  minSize: number;
  sentAt: number;
}

/** Follower → leader, in reply to each LeaderHeartbeat. */
export interface HeartbeatAck {
  type: 'heartbeatAck';
  configTerm: number;
  configVersion: number;
  /** False when the sender rejects the heartbeat (stale term). */
  accepted: boolean;
}

/** A graceful goodbye: the sender is gone at once. */
export interface Leave {
  type: 'leave';
}

/** Leader → chosen successor: campaign now (leadership transfer). */
export interface TimeoutNow {
  type: 'timeoutNow';
}

/** Application data: to all members, to the leader, or from the leader to one member. */
export interface GroupData {
  type: 'data';
  channel: 'group' | 'toLeader' | 'fromLeader';
  payload: Uint8Array;
  /** Sender's wall clock at send, epoch ms. */
  sentAt: number;
}

export interface PollSpec {
  ballotId: string;
  topic: Uint8Array;
  kind: PollKind;
  subject: PollSubject;
  /** Action instant, epoch ms (subject 'action'; 0 otherwise). */
  when: number;
  timeoutMs: number;
}

/** Member → leader: please open a poll. */
export interface PollRequest extends PollSpec {
  type: 'pollRequest';
}

/** Leader → all: a poll is open. */
export interface Ballot extends PollSpec {
  type: 'ballot';
  requester: MemberId;
  voters: MemberId[];
  /** Milliseconds left until the leader's deadline when this was sent. */
  remainingMs: number;
}

/** Member → leader: my vote. */
export interface MemberVote {
  type: 'memberVote';
  ballotId: string;
  yes: boolean;
  /** Why a 'no' (the action guard's reason); absent when none was given. */
  reason?: string;
}

/** One voter's reason for its 'no', carried in the result. */
export interface Refusal {
  member: MemberId;
  reason: string;
}

export interface Tally {
  yes: number;
  no: number;
  voters: number;
}

/** Leader → all: the poll's result. */
export interface PollResult {
  type: 'pollResult';
  ballotId: string;
  requester: MemberId;
  outcome: PollOutcome;
  kind: PollKind;
  subject: PollSubject;
  when: number;
  tally: Tally;
  /** Why the poll ended without a vote ('' when it was decided by votes or deadline). */
  reason: string;
  /** The reasons voters gave with their 'no' votes; absent when none did. */
  refusals?: Refusal[];
  /** An action's topic, so a member that missed the ballot can act on the result (absent: none, or an older leader). */
  topic?: Uint8Array;
}

export type Body =
  | MemberHeartbeat
  | VoteRequest
  | VoteReply
  | LeaderHeartbeat
  | HeartbeatAck
  | Leave
  | TimeoutNow
  | GroupData
  | PollRequest
  | Ballot
  | MemberVote
  | PollResult;

export type BodyType = Body['type'];
