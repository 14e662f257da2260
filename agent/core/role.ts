/**
 * A member's role, as a tagged union: each variant carries that role's own state, so a
 * follower with a leader's books, or a leader with a campaign, cannot be represented.
 */
import type { MemberId } from './messages.js';
import type { Poll } from './polls.js';

/** An election campaign: the pre-vote round (no term change) or the real one. */
export interface Campaign {
  phase: 'pre' | 'real';
  term: number;
  voters: MemberId[];
  /** Bootstrap only: the voter set this candidate proposes. */
  proposed: MemberId[];
  grants: Set<MemberId>;
  /** Started by a leader's hand-over (timeoutNow): voters skip the lease check. */
  transfer: boolean;
}

/** What a leader keeps while it leads, and drops when it stops. */
export interface LeaderBooks {
  /** Last time each voter was heard from in this term (check-quorum, removal of dead voters). */
  lastActive: Map<MemberId, number>;
  /** Configuration position each member last acknowledged. */
  acked: Map<MemberId, { term: number; version: number }>;
  committedVersion: number;
  /** Members that said goodbye and must leave the configuration. */
  departed: Set<MemberId>;
  /** Open polls, by ballot id. */
  polls: Map<string, Poll>;
  /** Set while the leader leaves gracefully: when to give up waiting for its own removal. */
  leavingDeadline: number | null;
}

export type MemberRole =
  /** `leader`: the member this one follows, or null when it knows none. */
  | { kind: 'follower'; leader: MemberId | null }
  /**
   * `leader`: a pre-candidate still follows the leader it had (the lease may hold; nothing is
   * decided before the real campaign); a real candidate follows no one.
   */
  | { kind: 'candidate'; campaign: Campaign; leader: MemberId | null }
  | { kind: 'leader'; books: LeaderBooks };
