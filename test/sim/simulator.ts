/**
 * A deterministic simulator of one group: N pure {@link GroupMember} cores, a
 * virtual clock, an event queue ordered by (time, sequence number) and a
 * {@link Network} that loses, delays, duplicates, reorders and partitions.
 * Nothing reads a real clock; every random choice comes from the seed, so a
 * run replays exactly.
 *
 * Each member has its own clocks: mono = virtual time + a per-member offset,
 * wall = base epoch + virtual time + a per-member skew. A crash drops the
 * member object and every message in flight to or from it, keeping only its
 * last persisted hard state; a restart builds a new object with the same id,
 * incarnation + 1 and that hard state. A pause stalls a member's process:
 * what arrives or falls due meanwhile is handled, in order, when it wakes.
 * Timers may fire late by up to `timerJitterMs`, as real ones do.
 */
import { GroupMember, type MemberOptions } from '../../agent/core/member.js';
import { BadArgumentsError, LeftGroupError, NoLeaderError, NotLeaderError } from '../../agent/core/errors.js';
import type { AppEvent, HardState, Instant, Output } from '../../agent/core/events.js';
import type { Envelope, MemberId, PollKind, PollSubject } from '../../agent/core/messages.js';
import type { TimerSettings } from '../../agent/core/timers.js';
import { decodeEnvelope, encodeEnvelope } from '../../proto/codec.js';
import { Checker } from './checker.js';
import { Network, type NetworkParams } from './network.js';
import { Rng } from './random.js';
import { Trace } from './trace.js';

/** The part of GroupMember the simulator drives (a test may wrap or subclass it). */
export type MemberLike = Pick<
  GroupMember,
  | 'id'
  | 'start'
  | 'receive'
  | 'tick'
  | 'nextDeadline'
  | 'takeOutputs'
  | 'send'
  | 'sendToLeader'
  | 'sendToMember'
  | 'requestPoll'
  | 'vote'
  | 'leave'
  | 'role'
  | 'term'
  | 'leader'
  | 'members'
  | 'size'
  | 'config'
  | 'hasLeft'
  | 'timers'
  | 'minSize'
  | 'setCampaignYield'
>;

export type MemberFactory = (opts: MemberOptions) => MemberLike;

/** One run of one member: a restart makes a new instance. */
export interface Instance {
  id: MemberId;
  incarnation: number;
  /** `id#incarnation`. */
  key: string;
  member: MemberLike;
  /** Started, not crashed, not left. */
  up: boolean;
  crashed: boolean;
  left: boolean;
  startedAt: number;
  monoOffset: number;
  wallOffset: number;
  wallBase: number;
  /** When its timer fires (virtual ms), and the deadline it fires for. */
  timerAt: number;
  timerDeadline: number;
  timerSeq: number;
  /** Livelock guard: ticks run at one virtual instant. */
  sameTimeTicks: number;
  lastTickAt: number;
  /** A stalled process (GC pause, overloaded board): nothing is handled before this time... */
  pausedUntil: number;
  /** ...and what arrived or fell due meanwhile waits here, in order. */
  backlog: Array<() => void>;
  /** When its last stall ended (-Infinity if never stalled). */
  lastPauseEnd: number;
  /** Started without its hard state (lost, damaged or reset). */
  amnesiac: boolean;
}

/** How simulated applications answer ballots: null = abstain. */
export type VotePolicy = (inst: Instance, ev: Extract<AppEvent, { type: 'voteRequest' }>, rng: Rng) => { delay: number; yes: boolean; again?: { delay: number; yes: boolean } } | null;

export interface SimOptions {
  seed: number;
  minSize: number;
  timers: TimerSettings;
  network: NetworkParams;
  group?: string;
  /** Round-trip every envelope through proto/codec (default true). */
  codec?: boolean;
  factory?: MemberFactory;
  /** Largest |wall-clock skew| of a member, ms (default 5). */
  skewMs?: number;
  /** Timers fire up to this many ms after their deadline, like real timers (default 0). */
  timerJitterMs?: number;
  votePolicy?: VotePolicy;
  /** Stop at the first violation (default true). */
  stopOnViolation?: boolean;
  /** Keep every application event in `log` (scenario tests). */
  recordEvents?: boolean;
  trace?: Trace;
  /** Checker rules to count but not report. */
  ignore?: readonly string[];
  /** Scripted tests: the delays of one message's copies ([] = lost), or null for the network's own choice. */
  shape?: (env: Envelope, from: MemberId, to: MemberId) => number[] | null;
}

export const WALL_BASE = 1_700_000_000_000;

/** What a queued event does: run a function, fire a member's timer, or deliver one copy of a message. */
const RUN = 0;
const TIMER = 1;
const ARRIVAL = 2;

/**
 * One queued event, as data: the hot kinds (timers, deliveries: nearly every event) carry
 * their arguments instead of a closure made per timer arm or per copy sent.
 */
interface QueueItem {
  t: number;
  seq: number;
  kind: typeof RUN | typeof TIMER | typeof ARRIVAL;
  /** RUN: what to run. */
  run: (() => void) | null;
  /** TIMER: the member; ARRIVAL: the receiver. */
  to: Instance | null;
  /** ARRIVAL: the sender. */
  from: Instance | null;
  /** ARRIVAL: the message. */
  env: Envelope | null;
  /** TIMER: the arm it fires for (Instance.timerSeq). */
  timerSeq: number;
}

/** Binary min-heap on (t, seq): equal times run in the order they were queued. */
class EventQueue {
  private readonly items: QueueItem[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(t: number, run: () => void): void {
    this.insert({ t, seq: this.seq++, kind: RUN, run, to: null, from: null, env: null, timerSeq: 0 });
  }

  pushTimer(t: number, inst: Instance, timerSeq: number): void {
    this.insert({ t, seq: this.seq++, kind: TIMER, run: null, to: inst, from: null, env: null, timerSeq });
  }

  pushArrival(t: number, from: Instance, to: Instance, env: Envelope): void {
    this.insert({ t, seq: this.seq++, kind: ARRIVAL, run: null, to, from, env, timerSeq: 0 });
  }

  private insert(item: QueueItem): void {
    const items = this.items;
    const t = item.t;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as QueueItem;
      if (parent.t < t || (parent.t === t && parent.seq < item.seq)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = item;
  }

  peekTime(): number {
    return this.items[0]?.t ?? Infinity;
  }

  pop(): QueueItem | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (!top || !last || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const li = items[l] as QueueItem;
      const ri = items[r];
      const c = ri && (ri.t < li.t || (ri.t === li.t && ri.seq < li.seq)) ? ri : li;
      if (last.t < c.t || (last.t === c.t && last.seq < c.seq)) break;
      items[i] = c;
      i = c === li ? l : r;
    }
    items[i] = last;
    return top;
  }
}

/** Freeze a decoded message for sharing between receivers (typed arrays cannot be frozen; they stay shared). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

const EXPECTED_ERRORS = [NoLeaderError, NotLeaderError, BadArgumentsError, LeftGroupError];

export class Simulator {
  readonly network: Network;
  readonly checker: Checker;
  readonly trace: Trace;
  readonly rng: Rng;
  /** Every application event, when `recordEvents` is on. */
  readonly log: Array<{ t: number; id: MemberId; incarnation: number; event: AppEvent }> = [];
  readonly stats = { deliveries: 0, dropped: 0, events: 0 };
  private readonly queue = new EventQueue();
  private readonly instances = new Map<MemberId, Instance>();
  private readonly hardStates = new Map<MemberId, HardState>();
  private readonly clocks = new Map<MemberId, { mono: number; wall: number }>();
  private readonly memberRng: Rng;
  private readonly appRng: Rng;
  private readonly clockRng: Rng;
  private readonly timerRng: Rng;
  private readonly factory: MemberFactory;
  private readonly codec: boolean;
  private readonly group: string;
  private time = 0;
  private stopped = false;
  private readonly baseDelayMax: number;
  private quietSince = 0;
  private strangerSeq = 0;

  constructor(readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.memberRng = this.rng.fork('members');
    this.appRng = this.rng.fork('app');
    this.clockRng = this.rng.fork('clocks');
    this.timerRng = this.rng.fork('timers');
    this.network = new Network(this.rng.fork('network'), { ...opts.network });
    this.trace = opts.trace ?? new Trace(200);
    this.factory = opts.factory ?? ((o) => new GroupMember(o));
    this.codec = opts.codec ?? true;
    this.group = opts.group ?? 'G.a';
    this.baseDelayMax = opts.network.delayMax;
    this.updateQuiet();
    this.checker = new Checker({
      seed: opts.seed,
      minSize: opts.minSize,
      timers: opts.timers,
      slack: opts.timerJitterMs ?? 0,
      now: () => this.time,
      at: (t, fn) => this.at(t, fn),
      up: () => this.up(),
      note: (t, member, text) => this.trace.note(t, member, text),
      known: (id) => this.instances.has(id),
      quiet: () => ({ since: this.quietSince, delayMax: this.baseDelayMax }),
      running: (id) => {
        const i = this.instances.get(id);
        return i?.up ? i : undefined;
      },
      ...(opts.ignore ? { ignore: opts.ignore } : {}),
    });
  }

  // ------------------------------------------------------------ queries

  now(): number {
    return this.time;
  }

  instance(id: MemberId): Instance | undefined {
    return this.instances.get(id);
  }

  /** The running member with this id (throws if it is not running: a test bug). */
  member(id: MemberId): MemberLike {
    const inst = this.instances.get(id);
    if (!inst?.up) throw new Error(`member ${id} is not running`);
    return inst.member;
  }

  up(): Instance[] {
    const out: Instance[] = [];
    for (const i of this.instances.values()) if (i.up) out.push(i);
    return out;
  }

  ids(): MemberId[] {
    return [...this.instances.keys()];
  }

  hardState(id: MemberId): HardState | undefined {
    return this.hardStates.get(id);
  }

  get failed(): boolean {
    return this.checker.violations.length > 0;
  }

  instantOf(inst: Instance): Instant {
    return { mono: this.time + inst.monoOffset, wall: inst.wallBase + this.time + inst.wallOffset };
  }

  // ------------------------------------------------------------ time

  /** Run `fn` at virtual time `t` (not before now). */
  at(t: number, fn: () => void): void {
    this.queue.push(Math.max(t, this.time), fn);
  }

  /** Process every event up to and including time `t`; stops early on a violation. */
  runUntil(t: number): void {
    while (!this.stopped && this.queue.peekTime() <= t) {
      const item = this.queue.pop() as QueueItem;
      this.time = item.t;
      if (item.kind === TIMER) this.fire(item.to as Instance, item.timerSeq);
      else if (item.kind === ARRIVAL) this.arrive(item.from as Instance, item.to as Instance, item.env as Envelope);
      else (item.run as () => void)();
      if (this.failed && (this.opts.stopOnViolation ?? true)) this.stopped = true;
    }
    if (!this.stopped) this.time = Math.max(this.time, t);
  }

  runFor(ms: number): void {
    this.runUntil(this.time + ms);
  }

  // ------------------------------------------------------------ membership faults

  /** Start a member (a new id, or a crashed/left one again with incarnation + 1 and its hard state). */
  start(id: MemberId, opts: { amnesiac?: boolean } = {}): Instance {
    const prev = this.instances.get(id);
    if (prev?.up) throw new Error(`member ${id} is already running`);
    let clock = this.clocks.get(id);
    if (!clock) {
      // Monotonic clocks start anywhere; wall clocks are a few ms apart (NTP-grade sync).
      const skew = this.opts.skewMs ?? 5;
      clock = { mono: this.clockRng.int(0, 1_000_000), wall: skew > 0 ? this.clockRng.int(-skew, skew) : 0 };
      this.clocks.set(id, clock);
    }
    const incarnation = (prev?.incarnation ?? 0) + 1;
    const amnesiac = opts.amnesiac ?? false;
    if (amnesiac) {
      // Its record is gone (lost, damaged, reset by the operator): the runtime says so to the core.
      this.hardStates.delete(id);
      this.checker.amnesiacRestart(id);
    }
    const hardState = this.hardStates.get(id);
    const member = this.factory({
      group: this.group,
      id,
      incarnation,
      minSize: this.opts.minSize,
      timers: this.opts.timers,
      random: this.memberRng.fork(`${id}#${incarnation}`),
      ...(hardState ? { hardState: { ...hardState } } : {}),
      ...(amnesiac ? { amnesiac: true } : {}),
    });
    const inst: Instance = {
      id,
      incarnation,
      key: `${id}#${incarnation}`,
      member,
      up: true,
      crashed: false,
      left: false,
      startedAt: this.time,
      monoOffset: clock.mono,
      wallOffset: clock.wall,
      wallBase: WALL_BASE,
      timerAt: Infinity,
      timerDeadline: Infinity,
      timerSeq: 0,
      sameTimeTicks: 0,
      lastTickAt: -1,
      pausedUntil: -Infinity,
      backlog: [],
      lastPauseEnd: -Infinity,
      amnesiac,
    };
    this.instances.set(id, inst);
    this.trace.note(this.time, id, `start incarnation ${incarnation}${amnesiac ? ' AMNESIAC (hard state lost)' : ''}${hardState ? ` hardState term=${hardState.term} votedFor=${hardState.votedFor ?? '-'}` : ''}`);
    this.step(inst, 'start', (m, now) => m.start(now));
    return inst;
  }

  /** Kill a member: its object and in-flight messages are gone, its persisted hard state stays. */
  crash(id: MemberId): void {
    const inst = this.instances.get(id);
    if (!inst?.up) return;
    inst.up = false;
    inst.crashed = true;
    inst.timerSeq++;
    this.trace.note(this.time, id, `CRASH (was ${inst.member.role()} term ${inst.member.term()})`);
  }

  /** Graceful leave: the member says goodbye and stops once it emits 'left'. */
  leave(id: MemberId): void {
    const inst = this.instances.get(id);
    if (!inst?.up || inst.pausedUntil > this.time) return; // a stalled application calls nothing
    this.trace.note(this.time, id, 'leave()');
    this.step(inst, 'leave', (m, now) => m.leave(now));
    // A leaving leader may wait one heartbeat for its hand-over; then it must be gone.
    const limit = this.opts.timers.heartbeat + (this.opts.timerJitterMs ?? 0);
    const since = this.time;
    const check = (pausedBefore: number): void => {
      if (!inst.up) return;
      if (inst.pausedUntil > pausedBefore) {
        // Stalled meanwhile: give it its time again from when it woke.
        const woke = inst.pausedUntil;
        return void this.at(woke + limit + 1, () => check(woke));
      }
      this.checker.simulatorFault('leave-completes', `${id} called leave() ${this.time - since} ms ago and has not left`);
    };
    this.at(this.time + limit + 1, () => check(since));
  }

  /** Stall a member's process: messages and timers wait until `ms` from now, then run in order. */
  pause(id: MemberId, ms: number): void {
    const inst = this.instances.get(id);
    if (!inst?.up) return;
    inst.pausedUntil = Math.max(inst.pausedUntil, this.time + ms);
    inst.lastPauseEnd = inst.pausedUntil;
    this.trace.note(this.time, id, `PAUSE for ${ms} ms (was ${inst.member.role()} term ${inst.member.term()})`);
    this.at(inst.pausedUntil, () => this.wake(inst));
  }

  /** End every pause now. */
  resumeAll(): void {
    for (const i of this.instances.values()) {
      if (i.pausedUntil <= this.time) continue;
      i.pausedUntil = this.time;
      i.lastPauseEnd = this.time;
      this.wake(i);
    }
  }

  private wake(inst: Instance): void {
    if (inst.pausedUntil > this.time) return; // paused again for longer: a later wake-up comes
    for (const run of inst.backlog.splice(0)) run();
  }

  partition(...groups: MemberId[][]): void {
    this.network.partition(groups);
    this.updateQuiet();
    this.trace.note(this.time, 'net', `partition ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`);
  }

  cutOneWay(from: MemberId, to: MemberId): void {
    this.network.cutOneWay(from, to);
    this.updateQuiet();
    this.trace.note(this.time, 'net', `cut ${from} -> ${to}`);
  }

  heal(): void {
    this.network.heal();
    this.updateQuiet();
    this.trace.note(this.time, 'net', 'heal');
  }

  setNetwork(params: Partial<NetworkParams>): void {
    this.network.params = { ...this.network.params, ...params };
    this.updateQuiet();
    this.trace.note(this.time, 'net', `params ${JSON.stringify(this.network.params)}`);
  }

  private updateQuiet(): void {
    const p = this.network?.params ?? this.opts.network;
    const quiet = (this.network?.isHealed() ?? true) && p.loss === 0 && p.delayMax <= this.baseDelayMax;
    if (!quiet) this.quietSince = Infinity;
    else if (this.quietSince === Infinity) this.quietSince = this.time;
  }

  /** Step one member's wall clock (an NTP step); its monotonic clock is untouched. */
  stepClock(id: MemberId, ms: number): void {
    const inst = this.instances.get(id);
    const clock = this.clocks.get(id);
    if (!inst || !clock) return;
    clock.wall += ms;
    inst.wallOffset += ms;
    this.trace.note(this.time, id, `WALL CLOCK STEP ${ms > 0 ? '+' : ''}${ms} ms`);
  }

  /**
   * A stranger on the network: an envelope from an id nobody started, sent to one member or
   * to all. It goes through the codec like any frame (the decoder may refuse it: a counted drop
   * in the runtime) and then the network, like any other message.
   */
  forge(env: Envelope, to: MemberId | '' = ''): void {
    this.strangerSeq++;
    let wire: Envelope;
    if (this.codec) {
      let frame: Uint8Array;
      try {
        frame = encodeEnvelope(env);
      } catch {
        // Beyond what the wire can carry: a hostile sender writes its own bytes; what matters is the decoder.
        this.stats.dropped++;
        return;
      }
      const r = decodeEnvelope(frame);
      if (!r.ok) return void this.stats.dropped++;
      wire = deepFreeze(r.envelope);
    } else {
      wire = deepFreeze(structuredClone(env));
    }
    this.trace.note(this.time, env.from, `FORGED ${env.body.type} term ${env.term} inc ${env.incarnation} to ${to || 'all'}`);
    for (const inst of this.instances.values()) {
      if (!inst.up || (to !== '' && inst.id !== to)) continue;
      const delays = this.network.fate(env.from, inst.id);
      for (const d of delays) {
        const target = inst;
        const handle = (): void => {
          if (!target.up) return;
          if (target.pausedUntil > this.time) return void target.backlog.push(handle);
          this.trace.add({ t: this.time, kind: 'recv', member: target.id, env: wire });
          this.checker.received(target, wire);
          this.step(target, 'receive', (m, now) => m.receive(wire, now));
        };
        this.queue.push(this.time + d, handle);
      }
    }
  }

  /** Hand `env` to member `to` now, as if it had just arrived (scripted tests forge or replay messages). */
  deliver(to: MemberId, env: Envelope): void {
    const inst = this.instances.get(to);
    if (!inst?.up) throw new Error(`member ${to} is not running`);
    this.trace.add({ t: this.time, kind: 'recv', member: to, env });
    this.checker.received(inst, env);
    this.step(inst, 'receive', (m, now) => m.receive(env, now));
  }

  // ------------------------------------------------------------ application calls

  /** Call the member's API like an application; expected typed errors are returned, anything else is a violation. */
  call<T>(id: MemberId, what: string, fn: (m: MemberLike, now: Instant) => T): T | Error | undefined {
    const inst = this.instances.get(id);
    if (!inst?.up || inst.pausedUntil > this.time) return undefined; // a stalled application calls nothing
    let result: T | Error | undefined;
    this.step(inst, what, (m, now) => {
      try {
        result = fn(m, now);
      } catch (err) {
        if (!EXPECTED_ERRORS.some((E) => err instanceof E)) throw err;
        result = err as Error;
      }
    });
    return result;
  }

  requestPoll(id: MemberId, req: { topic?: Uint8Array; kind: PollKind; subject: PollSubject; when?: number; timeoutMs?: number }): string | Error | undefined {
    const r = this.call(id, 'requestPoll', (m, now) => {
      const ballotId = m.requestPoll({ topic: new Uint8Array([1, 2, 3]), ...req }, now);
      const inst = this.instances.get(id) as Instance;
      this.checker.polls.pollRequested(inst, ballotId, req.timeoutMs ?? this.opts.timers.consensusTimeout, req.when ?? 0);
      return ballotId;
    });
    if (typeof r === 'string') this.trace.note(this.time, id, `requestPoll ${r} ${req.kind}/${req.subject}`);
    return r;
  }

  vote(id: MemberId, ballotId: string, yes: boolean): boolean | Error | undefined {
    return this.call(id, `vote ${ballotId}`, (m, now) => {
      const sent = m.vote(ballotId, yes, now) as unknown;
      if (sent !== false) this.checker.polls.voteCast(this.instances.get(id) as Instance, ballotId, yes);
      return sent !== false;
    });
  }

  // ------------------------------------------------------------ the step loop

  private step(inst: Instance, what: string, fn: (m: MemberLike, now: Instant) => void): void {
    try {
      fn(inst.member, this.instantOf(inst));
    } catch (err) {
      this.checker.unexpectedError(inst, what, err);
    }
    this.flush(inst);
  }

  private flush(inst: Instance): void {
    let outputs: Output[];
    try {
      outputs = inst.member.takeOutputs();
    } catch (err) {
      this.checker.unexpectedError(inst, 'takeOutputs', err);
      return;
    }
    // The runtime's drain order (MemberDriver): persist and send first, in order; events after.
    let leftNow = false;
    for (const out of outputs) {
      if (out.type === 'send') {
        this.trace.add({ t: this.time, kind: 'send', member: inst.id, env: out.envelope });
        if (leftNow || inst.left) this.checker.simulatorFault('silent-after-left', `${inst.id} sent ${out.envelope.body.type} after its 'left' event`);
        this.route(inst, out.envelope);
      } else if (out.type === 'persist') {
        this.trace.add({ t: this.time, kind: 'persist', member: inst.id, state: out.state });
        this.hardStates.set(inst.id, { ...out.state });
      } else if (out.event.type === 'left') {
        leftNow = true;
      }
    }
    leftNow = false;
    for (const out of outputs) {
      if (out.type === 'event') {
        this.stats.events++;
        const ev = out.event;
        if (ev.type !== 'message' && ev.type !== 'messageToLeader' && ev.type !== 'messageFromLeader') this.trace.add({ t: this.time, kind: 'event', member: inst.id, event: ev });
        if (this.opts.recordEvents) this.log.push({ t: this.time, id: inst.id, incarnation: inst.incarnation, event: ev });
        if (ev.type === 'left') leftNow = true;
        else if (ev.type === 'voteRequest') this.answerBallot(inst, ev);
      }
    }
    const changed = this.checker.changed(inst);
    this.checker.afterStep(inst, outputs);
    if (changed) this.trace.add({ t: this.time, kind: 'role', member: inst.id, role: inst.member.role(), term: inst.member.term(), leader: inst.member.leader() });
    if (leftNow || inst.member.hasLeft()) {
      if (!inst.left) this.trace.note(this.time, inst.id, 'has left');
      inst.left = true;
      inst.up = false;
      inst.timerSeq++;
      return;
    }
    this.scheduleTimer(inst);
  }

  /** (Re)arm the member's timer for its nextDeadline(); a late timer stays late by the same amount until the deadline changes. */
  private scheduleTimer(inst: Instance): void {
    if (!inst.up) return;
    const next = inst.member.nextDeadline();
    if (next === Infinity) {
      if (inst.timerAt !== Infinity) inst.timerSeq++;
      inst.timerAt = Infinity;
      inst.timerDeadline = Infinity;
      return;
    }
    const deadline = Math.ceil(next - inst.monoOffset);
    if (deadline === inst.timerDeadline && inst.timerAt !== Infinity) return;
    inst.timerDeadline = deadline;
    const jitter = this.opts.timerJitterMs ?? 0;
    let t = Math.max(this.time, deadline + (jitter > 0 ? this.timerRng.int(0, jitter) : 0));
    if (t === this.time && inst.sameTimeTicks > 100) {
      this.checker.simulatorFault('tick-progress', `${inst.id}: nextDeadline() stays at or before now after 100 ticks at t=${this.time}`);
      t = this.time + 1;
    }
    if (t === inst.timerAt) return;
    const seq = ++inst.timerSeq;
    inst.timerAt = t;
    this.queue.pushTimer(t, inst, seq);
  }

  /** A timer armed as `seq` falls due (a later arm, a crash or a leave made it stale). */
  private fire(inst: Instance, seq: number): void {
    if (!inst.up || inst.timerSeq !== seq) return;
    if (inst.pausedUntil > this.time) return void inst.backlog.push(() => this.fire(inst, seq));
    inst.sameTimeTicks = inst.lastTickAt === this.time ? inst.sameTimeTicks + 1 : 0;
    inst.lastTickAt = this.time;
    inst.timerAt = Infinity;
    inst.timerDeadline = Infinity;
    try {
      inst.member.tick(this.instantOf(inst));
    } catch (err) {
      this.checker.unexpectedError(inst, 'tick', err);
    }
    this.flush(inst);
  }

  /**
   * Put one output envelope on the network. It goes through the codec once (encode,
   * then decode: what every receiver gets) and is deep-frozen, so receivers share
   * it read-only and a core that mutated a received message would throw.
   */
  private route(from: Instance, env: Envelope): void {
    let wire: Envelope;
    if (this.codec) {
      let frame: Uint8Array;
      try {
        frame = encodeEnvelope(env);
      } catch (err) {
        this.checker.simulatorFault('wire-encodable', `${from.id} produced an envelope the codec refuses: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      const r = decodeEnvelope(frame);
      if (!r.ok) {
        this.checker.simulatorFault('wire-decodable', `${env.body.type} from ${from.id} does not decode: ${r.error.message}`);
        return;
      }
      wire = deepFreeze(r.envelope);
    } else {
      wire = deepFreeze(structuredClone(env));
    }
    if (env.to === '') {
      for (const to of this.instances.values()) if (to.up) this.transmit(from, to, wire);
    } else {
      const to = this.instances.get(env.to);
      if (to?.up) this.transmit(from, to, wire);
      else this.stats.dropped++;
    }
  }

  private transmit(from: Instance, to: Instance, env: Envelope): void {
    const delays = this.opts.shape?.(env, from.id, to.id) ?? this.network.fate(from.id, to.id);
    if (delays.length === 0) this.stats.dropped++;
    for (const d of delays) this.queue.pushArrival(this.time + d, from, to, env);
  }

  /** One copy of a message reaches `to`'s host. */
  private arrive(from: Instance, to: Instance, env: Envelope): void {
    // In flight when either end crashed, or cut by a partition meanwhile: lost.
    if (from.crashed || !this.network.connected(from.id, to.id)) return void this.stats.dropped++;
    this.handle(from, to, env);
  }

  private handle(from: Instance, to: Instance, env: Envelope): void {
    if (!to.up) return void this.stats.dropped++;
    // A stalled receiver finds it in its socket buffer when it wakes, in arrival order.
    if (to.pausedUntil > this.time) return void to.backlog.push(() => this.handle(from, to, env));
    this.stats.deliveries++;
    // A member's own broadcasts come back on its bus (and the core drops them): not worth a trace line.
    if (to !== from) this.trace.add({ t: this.time, kind: 'recv', member: to.id, env });
    this.checker.received(to, env);
    try {
      to.member.receive(env, this.instantOf(to));
    } catch (err) {
      this.checker.unexpectedError(to, 'receive', err);
    }
    this.flush(to);
  }

  /** The simulated application's answer to a ballot (the vote policy), later. */
  private answerBallot(inst: Instance, ev: Extract<AppEvent, { type: 'voteRequest' }>): void {
    const policy = this.opts.votePolicy;
    if (!policy) return;
    const answer = policy(inst, ev, this.appRng);
    if (!answer) return;
    const cast = (delay: number, yes: boolean) =>
      this.at(this.time + delay, () => {
        if (this.instances.get(inst.id) === inst && inst.up) this.vote(inst.id, ev.ballotId, yes);
      });
    cast(answer.delay, answer.yes);
    if (answer.again) cast(answer.delay + answer.again.delay, answer.again.yes);
  }
}
