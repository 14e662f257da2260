/** The events a {@link Group} emits, with the RIAPS meanings (see README, "RIAPS names"). */
import type { MemberId, PollKind, PollOutcome, Tally } from '../core/messages.js';

/** A delivered message. `sentAt`/`receivedAt` (wall-clock epoch ms) are set in timed groups only. */
export interface GroupMessage {
  from: MemberId;
  /**
   * The bytes sent: a fresh copy, never shared with another message. Like Node's pooled
   * Buffers, a small payload is a view into a larger ArrayBuffer: read it through its
   * byteOffset and byteLength, not through `payload.buffer` alone.
   */
  payload: Uint8Array;
  /** The payload decoded from MessagePack (for messages sent with the *Object methods). */
  object<T = unknown>(): T;
  sentAt?: number;
  receivedAt?: number;
}

export interface VoteRequestEvent {
  ballotId: string;
  requester: MemberId;
  topic: Uint8Array;
  object<T = unknown>(): T;
  kind: PollKind;
  /** False when this member is not in the poll's voter set (e.g. it joined after the poll opened). */
  canVote: boolean;
}

export interface ActionVoteRequestEvent extends VoteRequestEvent {
  /** The agreed instant, wall-clock epoch ms. */
  when: number;
  /**
   * Set when this member's clock guard already voted no (its reason): the clock cannot
   * honour the instant (README "Hardware and clocks"). A vote() now returns false.
   */
  refused?: string;
}

export interface VoteResultEvent {
  ballotId: string;
  outcome: PollOutcome;
  kind: PollKind;
  subject: 'value' | 'action';
  when: number;
  tally: Tally;
  /** Why a poll ended without being decided by votes ('' otherwise). */
  reason: string;
  /** The reasons voters gave with their 'no' votes, e.g. the clock guard's (empty: none). */
  refusals: Array<{ member: MemberId; reason: string }>;
}

export interface ActionEvent {
  ballotId: string;
  action: Uint8Array;
  object<T = unknown>(): T;
  when: number;
  firedAt: number;
  /** firedAt − when in ms: how late this member acted, by its wall clock at firing. */
  errorMs: number;
  /** Wall-clock steps this member lived through while waiting, ms (0: none; see README "Hardware and clocks"). */
  stepMs: number;
}

/** The wall clock stepped while this member waited to fire an agreed action. */
export interface ActionStepEvent {
  ballotId: string;
  when: number;
  /** The step, ms (positive: forward). */
  stepMs: number;
  /** Wall clock after the step. */
  at: number;
  /** `rearm`: it fires at `when` by the stepped clock; `cancel`: it will not fire. */
  decision: 'rearm' | 'cancel';
}

/** The group passed an action this member's clock guard voted no on: it does not fire here. */
export interface ActionSkippedEvent {
  ballotId: string;
  when: number;
  /** The guard's reason. */
  reason: string;
}

export interface GroupEventMap {
  message: [GroupMessage];
  messageToLeader: [GroupMessage];
  messageFromLeader: [GroupMessage];
  voteRequest: [VoteRequestEvent];
  actionVoteRequest: [ActionVoteRequestEvent];
  voteResult: [VoteResultEvent];
  action: [ActionEvent];
  actionStep: [ActionStepEvent];
  actionSkipped: [ActionSkippedEvent];
  memberJoined: [{ member: MemberId }];
  memberLeft: [{ member: MemberId; reason: 'left' | 'timeout' }];
  leaderElected: [{ leader: MemberId; term: number }];
  leaderExited: [{ leader: MemberId; term: number }];
}

export type GroupEventName = keyof GroupEventMap;
