/**
 * Polls (RIAPS requestVote / requestActionVote). The leader keeps a {@link Poll}
 * per open ballot and decides it as soon as the result is certain; every member
 * keeps a {@link BallotBook} so it delivers exactly one result per ballot it saw
 * (the leader's, or a local `timeout` when the leader's never comes).
 */
import type { MemberId, PollKind, PollOutcome, PollSpec, Refusal, Tally } from './messages.js';

/** The outcome once it is certain, or null while votes could still change it. */
export function decide(kind: PollKind, voterCount: number, yes: number, no: number): PollOutcome | null {
  if (kind === 'consensus') {
    if (no > 0) return 'no';
    return yes >= voterCount ? 'yes' : null;
  }
  const majority = Math.floor(voterCount / 2) + 1;
  if (yes >= majority) return 'yes';
  if (no > voterCount - majority) return 'no';
  return null;
}

/**
 * Characters of refusal reasons (and their member ids) one result carries at most: 1024 voters
 * each giving a 1024-character reason would not fit MAX_ENVELOPE_BYTES, so the rest are left out.
 */
export const REFUSALS_BUDGET = 128 * 1024;

/** Leader side: one open poll. */
export class Poll {
  private readonly votes = new Map<MemberId, boolean>();
  /** Reasons voters gave with a 'no' (the action guard's), in the order they came. */
  private readonly reasons = new Map<MemberId, string>();
  readonly voters: ReadonlySet<MemberId>;
  /** When each member's vote was last heard (monotonic ms), counted or not: tells a vote's second copy from a repeat. */
  readonly heard = new Map<MemberId, number>();

  constructor(
    readonly spec: PollSpec,
    readonly requester: MemberId,
    voters: readonly MemberId[],
    /** Leader's monotonic deadline. */
    readonly deadline: number,
    /** When to broadcast the ballot again (for members that missed it). */
    public rebroadcastAt = Infinity,
  ) {
    this.voters = new Set(voters);
  }

  /** Count a vote once per voter; non-voters and repeats are ignored. Returns whether it counted. */
  cast(voter: MemberId, yes: boolean, reason?: string): boolean {
    if (!this.voters.has(voter) || this.votes.has(voter)) return false;
    this.votes.set(voter, yes);
    if (!yes && reason) this.reasons.set(voter, reason);
    return true;
  }

  /** The reasons, within {@link REFUSALS_BUDGET} characters so a result always fits a frame. */
  refusals(): Refusal[] {
    const out: Refusal[] = [];
    let used = 0;
    for (const [member, reason] of this.reasons) {
      used += member.length + reason.length;
      if (used > REFUSALS_BUDGET) break;
      out.push({ member, reason });
    }
    return out;
  }

  tally(): Tally {
    let yes = 0;
    for (const v of this.votes.values()) if (v) yes++;
    return { yes, no: this.votes.size - yes, voters: this.voters.size };
  }

  outcome(): PollOutcome | null {
    const t = this.tally();
    return decide(this.spec.kind, t.voters, t.yes, t.no);
  }
}

/** Member side: what this member knows about a ballot. */
export interface BallotEntry {
  spec: PollSpec;
  /** The leader that opened it: votes go there, whoever leads now. */
  leader: MemberId | null;
  /** Local monotonic time after which a missing result is delivered as `timeout`. */
  deadline: number;
  seen: boolean;
  voted: boolean;
  /** This member's vote, repeated to the leader until a result comes (votes are idempotent). */
  vote?: boolean;
  /** The reason it gave with a 'no', repeated with it. */
  reason?: string;
  /** Next time to repeat the vote, or (not voted) to ask the leader for its result. */
  resendAt?: number;
  /**
   * The requester's ballot never came by its deadline: it asks the leader what became of the
   * request (a PollRequest with timeoutMs 0) and waits up to a peerTimeout more for the answer.
   */
  asking?: boolean;
}

/** Finished ballot ids are remembered this long, to drop late duplicates. */
const FINISHED_MS = 120_000;

export class BallotBook {
  private readonly open = new Map<string, BallotEntry>();
  private readonly finished = new Map<string, number>();

  get(id: string): BallotEntry | undefined {
    return this.open.get(id);
  }

  isFinished(id: string): boolean {
    return this.finished.has(id);
  }

  track(entry: BallotEntry): void {
    this.open.set(entry.spec.ballotId, entry);
  }

  /** Mark finished; returns the entry if this member still owed the application a result. */
  finish(id: string, now: number): BallotEntry | undefined {
    const entry = this.open.get(id);
    this.open.delete(id);
    this.finished.set(id, now + FINISHED_MS);
    return entry;
  }

  /** Entries whose local deadline has passed. */
  overdue(now: number): BallotEntry[] {
    return [...this.open.values()].filter((e) => now >= e.deadline);
  }

  nextDeadline(): number {
    let next = Infinity;
    for (const e of this.open.values()) next = Math.min(next, e.deadline, e.resendAt ?? Infinity);
    return next;
  }

  /** Open entries due for a repeated vote or a result request. */
  dueForResend(now: number): BallotEntry[] {
    return [...this.open.values()].filter((e) => e.resendAt !== undefined && now >= e.resendAt);
  }

  prune(now: number): void {
    for (const [id, until] of this.finished) if (now >= until) this.finished.delete(id);
  }
}
