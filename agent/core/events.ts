/**
 * What the pure core gives back to its runtime: messages to send, state to
 * persist, and events for the application. The core never performs I/O.
 */
import type { Envelope, MemberId, PollKind, PollOutcome, PollSubject, Tally } from './messages.js';

/** The time an input happens at: monotonic ms for timers, wall-clock epoch ms for action instants. */
export interface Instant {
  mono: number;
  wall: number;
}

/** Injected randomness (election timeouts), so simulations replay exactly. Returns [0, 1). */
export interface Random {
  next(): number;
}

/** State a member must keep across restarts for vote safety (Raft's HardState). */
export interface HardState {
  term: number;
  votedFor: MemberId | null;
  /** An amnesiac member still in quarantine: it may not vote at all yet (docs/protocol.md §4.4). */
  quarantined?: boolean;
  /** An amnesiac member after quarantine: it votes in no term at or below this one. */
  voteFloor?: number;
}

export type Role = 'follower' | 'candidate' | 'leader';

export type AppEvent =
  | { type: 'memberJoined'; member: MemberId }
  | { type: 'memberLeft'; member: MemberId; reason: 'left' | 'timeout' }
  | { type: 'leaderElected'; leader: MemberId; term: number }
  | { type: 'leaderExited'; leader: MemberId; term: number }
  | { type: 'message'; from: MemberId; payload: Uint8Array; sentAt: number; receivedAt: number }
  | { type: 'messageToLeader'; from: MemberId; payload: Uint8Array; sentAt: number; receivedAt: number }
  | { type: 'messageFromLeader'; from: MemberId; payload: Uint8Array; sentAt: number; receivedAt: number }
  | {
      type: 'voteRequest';
      ballotId: string;
      requester: MemberId;
      topic: Uint8Array;
      kind: PollKind;
      subject: PollSubject;
      /** Action instant, epoch ms (subject 'action'). */
      when: number;
      /** Whether this member is in the poll's voter set (a non-voter's vote is ignored). */
      canVote: boolean;
    }
  | {
      type: 'voteResult';
      ballotId: string;
      outcome: PollOutcome;
      kind: PollKind;
      subject: PollSubject;
      when: number;
      tally: Tally;
      reason: string;
    }
  /** An action vote passed: the runtime fires the action at wall-clock `when` (once). */
  | { type: 'actionScheduled'; ballotId: string; when: number; topic: Uint8Array }
  /**
   * A member advertises group settings (minSize, protocol timers) that differ from ours: a
   * configuration error for the operator (docs/protocol.md §6). Rate-limited per sender; the
   * runtime logs it. `differences` names each setting, theirs and ours.
   */
  | { type: 'configMismatch'; member: MemberId; differences: string[] }
  /** leave() finished: the runtime may close this member's sockets. */
  | { type: 'left' };

export type Output =
  /** `envelope.to` '' goes to every member of the group (the group bus); otherwise to one member. */
  | { type: 'send'; envelope: Envelope }
  | { type: 'persist'; state: HardState }
  | { type: 'event'; event: AppEvent };
