/**
 * Liveness in the stable phase: once everything is healed and up, one leader
 * known to every running member must appear within the bound, and then nothing
 * changes: no other leader, term or leader event until the end of the run.
 */
import type { Envelope, MemberId } from '../../agent/core/messages.js';
import type { Output } from '../../agent/core/events.js';
import type { CheckerHooks, Fail } from './checker.js';
import type { Instance } from './simulator.js';

export interface LivenessStats {
  /** Virtual ms from the start of the stable phase to a leader known by all; null if never. */
  establishedAfter: number | null;
  bound: number;
}

export class LivenessCheck {
  private stable: { from: number; bound: number; established: number | null; leader: MemberId | null; term: number } | null = null;
  /** Per instance: the last leader heartbeat it received. */
  private readonly heardLeader = new Map<string, { from: MemberId; term: number }>();
  /** Per instance: the members it heard from since the stable phase began. */
  private readonly heardFrom = new Map<string, Set<MemberId>>();

  constructor(
    private readonly hooks: CheckerHooks,
    private readonly fail: Fail,
  ) {}

  /** From now on everything is healed and up: expect one leader known to all within `bound` ms, then no change. */
  begin(bound: number): void {
    const from = this.hooks.now();
    this.stable = { from, bound, established: null, leader: null, term: 0 };
    this.hooks.at(from + bound, () => {
      const s = this.stable;
      if (s && s.established === null) this.fail('liveness', `no leader known to all up members ${bound} ms after the network stabilised (${this.describeUp()})`);
    });
  }

  get active(): boolean {
    return this.stable !== null;
  }

  stats(): LivenessStats | null {
    const s = this.stable;
    return s ? { establishedAfter: s.established === null ? null : s.established - s.from, bound: s.bound } : null;
  }

  /** The leader all up members agree on, once established. */
  leader(): MemberId | null {
    return this.stable?.established != null ? this.stable.leader : null;
  }

  received(inst: Instance, env: Envelope): void {
    if (!this.stable) return;
    if (env.body.type === 'leaderHeartbeat') this.heardLeader.set(inst.key, { from: env.from, term: env.term });
    let from = this.heardFrom.get(inst.key);
    if (!from) this.heardFrom.set(inst.key, (from = new Set()));
    from.add(env.from);
  }

  private describeUp(): string {
    return this.hooks
      .up()
      .map((i) => `${i.id}:${i.member.role()}/t${i.member.term()}/L=${i.member.leader() ?? '-'}`)
      .join(' ');
  }

  afterStep(inst: Instance, term: number, leader: MemberId | null, outputs: readonly Output[]): void {
    const s = this.stable;
    if (!s) return;
    if (s.established === null) {
      if (leader === null) return;
      const up = this.hooks.up();
      const l = up.find((i) => i.id === leader);
      if (!l || l.member.role() !== 'leader') return;
      const lt = l.member.term();
      // Every member must also have heard the leader since the network stabilised (one that still
      // follows it from before may be about to time it out), and the leader every member (one whose
      // check-quorum still counts on stale contacts may be about to step down).
      const leaderHeard = this.heardFrom.get(l.key);
      for (const i of up) {
        if (i !== l && !leaderHeard?.has(i.id)) return;
        if (i.member.leader() !== leader || i.member.term() !== lt) return;
        const h = this.heardLeader.get(i.key);
        if (i !== l && (!h || h.from !== leader || h.term !== lt)) return;
      }
      s.established = this.hooks.now();
      s.leader = leader;
      s.term = lt;
      this.hooks.note(s.established, leader, `stable leader established after ${s.established - s.from} ms (bound ${s.bound})`);
      return;
    }
    if (term !== s.term || leader !== s.leader) {
      this.fail('no-flapping', `${inst.id} moved to term ${term} leader ${leader ?? 'none'} after ${s.leader} was established in term ${s.term}`);
      return;
    }
    for (const o of outputs) {
      if (o.type === 'event' && (o.event.type === 'leaderElected' || o.event.type === 'leaderExited') && inst.startedAt < s.established) {
        this.fail('no-flapping', `${inst.id} got ${o.event.type}(${o.event.leader}) after ${s.leader} was established`);
      }
    }
  }
}
