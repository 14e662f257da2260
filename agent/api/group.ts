/**
 * A component's membership in one group instance: the RIAPS `Group` object in
 * idiomatic TypeScript. Every call goes into the pure core through the member's
 * driver; events come back as typed EventEmitter events.
 */
import { EventEmitter } from 'node:events';
import { BadArgumentsError, LeftGroupError, NoLeaderError } from '../core/errors.js';
import type { AppEvent } from '../core/events.js';
import type { MemberId, PollKind } from '../core/messages.js';
import type { TimerSettings } from '../core/timers.js';
import type { ActionFiring } from '../runtime/action-timer.js';
import type { MemberDriver } from '../runtime/member-driver.js';
import type { GroupEventMap, GroupMessage } from './events.js';
import { decodeObject, encodeObject } from './objects.js';

export interface VoteOptions {
  kind?: PollKind;
  /** Poll timeout in milliseconds (default: the group's consensusTimeout). */
  timeoutMs?: number;
}

/** What the agent gives a Group: its member's driver and how to leave. */
export interface GroupHost {
  driver: MemberDriver;
  timed: boolean;
  leave(group: Group): Promise<void>;
}

function asBytes(payload: Uint8Array, what: string): Uint8Array {
  if (!(payload instanceof Uint8Array)) throw new BadArgumentsError(`${what} must be a Uint8Array (use the *Object variant for values)`);
  return payload;
}

export class Group extends EventEmitter<GroupEventMap> {
  private leaving: Promise<void> | null = null;
  /** @internal Ballots the agent's clock guard already voted no on, with its reason. */
  readonly refusedByGuard = new Map<string, string>();

  constructor(
    readonly type: string,
    readonly instance: string,
    private readonly host: GroupHost,
  ) {
    super();
  }

  private get driver(): MemberDriver {
    return this.host.driver;
  }

  // ------------------------------------------------------------- queries
  name(): string {
    return `${this.type}.${this.instance}`;
  }
  memberId(): MemberId {
    return this.driver.core.id;
  }
  hasLeader(): boolean {
    return this.driver.core.leader() !== null;
  }
  isLeader(): boolean {
    return this.driver.core.isLeader();
  }
  leaderId(): MemberId | null {
    return this.driver.core.leader();
  }
  /** Number of members, this one included (as in RIAPS). */
  size(): number {
    return this.driver.core.size();
  }
  members(): MemberId[] {
    return this.driver.core.members();
  }
  term(): number {
    return this.driver.core.term();
  }
  timers(): TimerSettings {
    return { ...this.driver.core.timers };
  }
  hasLeft(): boolean {
    return this.driver.core.hasLeft();
  }

  // ------------------------------------------------------------- messaging
  /** To every member (this one included unless deliverToSelf is false). */
  send(payload: Uint8Array): void {
    const bytes = asBytes(payload, 'payload');
    this.driver.step((core, now) => core.send(bytes, now));
  }
  sendObject(value: unknown): void {
    this.send(encodeObject(value));
  }
  /** To the leader; throws NoLeaderError when there is none. */
  sendToLeader(payload: Uint8Array): void {
    const bytes = asBytes(payload, 'payload');
    this.driver.step((core, now) => core.sendToLeader(bytes, now));
  }
  sendToLeaderObject(value: unknown): void {
    this.sendToLeader(encodeObject(value));
  }
  /** Leader only (throws NotLeaderError otherwise): to one member. */
  sendToMember(payload: Uint8Array, member: MemberId): void {
    const bytes = asBytes(payload, 'payload');
    this.driver.step((core, now) => core.sendToMember(bytes, member, now));
  }
  sendToMemberObject(value: unknown, member: MemberId): void {
    this.sendToMember(encodeObject(value), member);
  }

  // ------------------------------------------------------------- votes
  /** Ask the group to vote on a topic; returns the ballot id. Throws NoLeaderError when there is no leader. */
  requestVote(topic: Uint8Array, opts: VoteOptions = {}): string {
    const bytes = asBytes(topic, 'topic');
    return this.driver.step((core, now) => core.requestPoll({ topic: bytes, kind: opts.kind ?? 'majority', subject: 'value', timeoutMs: opts.timeoutMs }, now));
  }
  requestVoteObject(topic: unknown, opts: VoteOptions = {}): string {
    return this.requestVote(encodeObject(topic), opts);
  }
  /**
   * Ask the group to agree on an action at wall-clock instant `when` (epoch ms).
   * Default kind is consensus (as in RIAPS). On 'yes' every member gets an `action` event at `when`.
   */
  requestActionVote(action: Uint8Array, when: number, opts: VoteOptions = {}): string {
    const bytes = asBytes(action, 'action');
    return this.driver.step((core, now) => core.requestPoll({ topic: bytes, kind: opts.kind ?? 'consensus', subject: 'action', when, timeoutMs: opts.timeoutMs }, now));
  }
  requestActionVoteObject(action: unknown, when: number, opts: VoteOptions = {}): string {
    return this.requestActionVote(encodeObject(action), when, opts);
  }
  /**
   * Vote on a ballot. Returns false when the vote no longer matters (already voted or decided).
   * A 'no' may give a reason: the requester and every member see it in the result's `refusals`.
   */
  vote(ballotId: string, yes: boolean, reason?: string): boolean {
    if (typeof yes !== 'boolean') throw new BadArgumentsError(`a vote is true or false, got ${String(yes)}`);
    if (reason !== undefined && typeof reason !== 'string') throw new BadArgumentsError(`a vote's reason is a string, got ${typeof reason}`);
    return this.driver.step((core, now) => core.vote(ballotId, yes, now, reason));
  }

  /**
   * Resolves with the leader's id as soon as this member knows one (at once if it does).
   * Votes and sendToLeader need a leader; a member that has just joined has none until it
   * hears the group's (about a heartbeat) or one is elected (up to electionMax more).
   * Rejects with NoLeaderError after `timeoutMs` (default: 10 × peerTimeout), and with
   * LeftGroupError if the member leaves first.
   */
  whenLeader(timeoutMs: number = 10 * this.driver.core.timers.peerTimeout): Promise<MemberId> {
    const now = this.leaderId();
    if (now !== null) return Promise.resolve(now);
    if (this.hasLeft()) return Promise.reject(new LeftGroupError(this.name()));
    return new Promise<MemberId>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.off('leaderElected', onElected);
        fn();
      };
      const onElected = ({ leader }: { leader: MemberId }) => done(() => resolve(leader));
      // A member that leaves emits no leaderElected: notice it (and a leader learnt without an event).
      const poll = setInterval(() => {
        const leader = this.leaderId();
        if (leader !== null) done(() => resolve(leader));
        else if (this.hasLeft()) done(() => reject(new LeftGroupError(this.name())));
      }, 50);
      const timer = setTimeout(() => done(() => reject(new NoLeaderError(this.name()))), timeoutMs);
      this.on('leaderElected', onElected);
    });
  }

  // ------------------------------------------------------------- leaving
  /** Leave the group (a leader hands over first). The Group is dead afterwards. */
  leave(): Promise<void> {
    this.leaving ??= this.host.leave(this);
    return this.leaving;
  }

  // ------------------------------------------------------------- from the runtime
  /** @internal Called by the agent for each core event of this member. */
  deliver(event: AppEvent): void {
    switch (event.type) {
      case 'message':
      case 'messageToLeader':
      case 'messageFromLeader':
        // Nobody listening: nothing to build (the hot path of a member that only sends).
        if (this.listenerCount(event.type) === 0) return;
        this.emit(event.type, new DeliveredMessage(event.from, event.payload, this.host.timed, event.sentAt, event.receivedAt));
        return;
      case 'voteRequest': {
        const base = { ballotId: event.ballotId, requester: event.requester, topic: event.topic, object: <T>() => decodeObject<T>(event.topic), kind: event.kind, canVote: event.canVote };
        if (event.subject === 'action') this.emit('actionVoteRequest', { ...base, when: event.when, ...(this.refusedByGuard.has(event.ballotId) ? { refused: this.refusedByGuard.get(event.ballotId) as string } : {}) });
        else this.emit('voteRequest', base);
        return;
      }
      case 'voteResult':
        this.refusedByGuard.delete(event.ballotId);
        this.emit('voteResult', { ballotId: event.ballotId, outcome: event.outcome, kind: event.kind, subject: event.subject, when: event.when, tally: event.tally, reason: event.reason, refusals: event.refusals ?? [] });
        return;
      case 'memberJoined':
        this.emit('memberJoined', { member: event.member });
        return;
      case 'memberLeft':
        this.emit('memberLeft', { member: event.member, reason: event.reason });
        return;
      case 'leaderElected':
      case 'leaderExited':
        this.emit(event.type, { leader: event.leader, term: event.term });
        return;
      case 'actionScheduled':
      case 'left':
        return; // handled by the agent
    }
  }

  /** @internal The agent fires a scheduled action. */
  fireAction(ballotId: string, topic: Uint8Array, firing: ActionFiring): void {
    this.emit('action', { ballotId, action: topic, object: <T>() => decodeObject<T>(topic), ...firing });
  }
}

/** A delivered group message. A class, so a message costs one object and no closures. */
class DeliveredMessage implements GroupMessage {
  sentAt?: number;
  receivedAt?: number;
  constructor(
    readonly from: MemberId,
    readonly payload: Uint8Array,
    timed: boolean,
    sentAt: number,
    receivedAt: number,
  ) {
    if (timed) {
      this.sentAt = sentAt;
      this.receivedAt = receivedAt;
    }
  }

  object<T = unknown>(): T {
    return decodeObject<T>(this.payload);
  }
}
