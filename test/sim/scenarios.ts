/**
 * Scripted scenarios shared by the regression tests and the mutation tests: each builds a
 * precise schedule that random seeds rarely produce, and returns the simulator after it.
 */
import { GroupMember } from '../../agent/core/member.js';
import { PROTOCOL_VERSION, type MemberId } from '../../agent/core/messages.js';
import { group, runUntilTrue, settle } from './scripted.js';
import type { MemberFactory, Simulator } from './simulator.js';

/**
 * An amnesiac among phantoms (seed 3477, made deliberate): F voted in term 2, which only it and
 * the leader it voted for hold; the leader crashes, F restarts without its record, and while
 * every other real member is down strangers heart-beat at it. Then O, down since term 1, comes
 * back and campaigns for term 2. F must not grant it: the phantoms told it nothing.
 */
export function amnesiacAmongPhantoms(factory: MemberFactory | undefined): { sim: Simulator; amnesiac: MemberId; returning: MemberId } {
  const sim = group(['m1/a', 'm2/a', 'm3/a'], { ...(factory ? { factory } : {}) });
  const L1 = settle(sim);
  const term1 = sim.member(L1).term();
  const O = sim.ids().find((i) => i !== L1) as MemberId;
  sim.crash(O);
  // The two left elect again, in a term O never sees: crash and restart the leader.
  sim.crash(L1);
  sim.start(L1);
  const L2at = runUntilTrue(sim, () => sim.up().some((i) => i.member.role() === 'leader' && i.member.term() > term1), 20_000);
  if (L2at === null) throw new Error('no second election');
  const L2 = sim.up().find((i) => i.member.role() === 'leader')?.id as MemberId;
  const F = sim.up().find((i) => i.id !== L2)?.id as MemberId;
  const votedTerm = sim.member(L2).term();
  if (sim.hardState(F)?.votedFor !== L2 || sim.hardState(F)?.term !== votedTerm) throw new Error(`${F} did not vote for ${L2} in term ${votedTerm}`);
  sim.crash(L2);
  sim.crash(F);
  sim.start(F, { amnesiac: true });
  // Phantoms: ids nobody started, heart-beating at term 0 for a while, then silent for ever.
  const hb = sim.opts.timers.heartbeat;
  for (const k of [1, 2]) {
    for (let at = 0; at < 4 * sim.opts.timers.peerTimeout; at += hb) {
      sim.at(sim.now() + at, () =>
        sim.forge({ version: PROTOCOL_VERSION, group: 'G.a', from: `x${k}/stranger`, incarnation: 1, term: 0, to: '', body: { type: 'memberHeartbeat', timers: sim.opts.timers, minSize: sim.opts.minSize, sentAt: 0, leader: '', endpoint: '' } }),
      );
    }
  }
  sim.runFor(6 * sim.opts.timers.peerTimeout);
  // O comes back with its term-1 record and campaigns for term 2.
  sim.start(O);
  sim.runFor(6 * sim.opts.timers.peerTimeout);
  return { sim, amnesiac: F, returning: O };
}

/**
 * A misconfigured board (docs/protocol.md §6.1): m3 was given minSize 3, the others 2. Every
 * member that hears it (and m3, hearing them) must report the mismatch, again after a minute.
 */
export function misconfiguredMember(factory: MemberFactory | undefined): Simulator {
  const make: MemberFactory = factory ?? ((o) => new GroupMember(o));
  const sim = group(['m1/a', 'm2/a', 'm3/a'], { factory: (o) => make(o.id === 'm3/a' ? { ...o, minSize: 3 } : o) });
  // The group still elects a leader; a mutant fails at the first heartbeat, so do not insist.
  sim.runFor(70_000);
  return sim;
}
