/**
 * The connection-closed hint (GroupMember.peerClosed): when a leader's process dies the
 * kernel closes its connections and the runtime tells each survivor at once. Here the
 * simulator crashes the leader and delivers the hint to survivors a few ms later (a fault
 * of its own, scripted), with the checker's invariants (one leader per term...) underneath.
 */
import t from 'tap';
import type { GroupMember } from '../../agent/core/member.js';
import type { MemberId } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS, TIMER_PRESETS } from '../../agent/core/timers.js';
import { agreedLeader, report, runUntilTrue, settle, group } from './scripted.js';
import type { Simulator } from './simulator.js';

const IDS = ['a/c', 'b/c', 'c/c', 'd/c', 'e/c'];

/** Hint `member`'s connection closed at `id`, `delay` ms from now. */
function hint(sim: Simulator, id: MemberId, member: MemberId, delay: number): void {
  sim.at(sim.now() + delay, () => {
    const inst = sim.instance(id);
    if (inst?.up) sim.checker.rules.peerClosed(inst, member);
    sim.call(id, `peerClosed ${member}`, (m, now) => (m as unknown as GroupMember).peerClosed(member, now));
  });
}

function clean(t: Pick<typeof import("tap").default, "equal" | "comment">, sim: Simulator): void {
  if (!t.equal(sim.checker.violations.length, 0, 'no invariant violated')) t.comment(report(sim));
}

t.test('leader crash with the hint: survivors agree on a new leader far sooner than the election timeout', async (t) => {
  const times: number[] = [];
  for (let seed = 1; seed <= 40; seed++) {
    const sim = group(IDS, { seed });
    const old = settle(sim);
    sim.runFor(Math.floor(DEFAULT_TIMERS.heartbeat * (seed % 10) / 10)); // anywhere in a heartbeat period
    const t0 = sim.now();
    sim.crash(old);
    for (const id of IDS) if (id !== old) hint(sim, id, old, 1 + (seed % 3));
    const at = runUntilTrue(sim, () => { const l = agreedLeader(sim); return l !== null && l !== old; }, 10_000, 1);
    t.not(at, null, `seed ${seed}: a new leader`);
    if (at !== null) times.push(at - t0);
    clean(t, sim);
  }
  times.sort((a, b) => a - b);
  const p50 = times[Math.floor(times.length / 2)]!;
  t.comment(`hinted failover (sim, quiet LAN 1-5 ms): p50 ${p50} ms, max ${times[times.length - 1]} ms`);
  t.ok(p50 < DEFAULT_TIMERS.electionMin, `p50 ${p50} ms is below electionMin (${DEFAULT_TIMERS.electionMin} ms)`);
});

t.test('a hint at a minority never deposes a live leader', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const sim = group(IDS, { seed });
    const leader = settle(sim);
    const term = sim.member(leader).term();
    const followers = IDS.filter((id) => id !== leader);
    // Two of five (with the leader, three still hear it): their pre-votes cannot pass.
    for (const id of followers.slice(0, 2)) hint(sim, id, leader, 1);
    sim.runFor(5 * DEFAULT_TIMERS.peerTimeout);
    t.equal(agreedLeader(sim), leader, `seed ${seed}: same leader`);
    t.equal(sim.member(leader).term(), term, `seed ${seed}: same term`);
    clean(t, sim);
  }
});

t.test('a hint for a member that is not the leader changes nothing', async (t) => {
  const sim = group(IDS, { seed: 3 });
  const leader = settle(sim);
  const term = sim.member(leader).term();
  const other = IDS.find((id) => id !== leader)!;
  for (const id of IDS) if (id !== other) hint(sim, id, other, 1);
  sim.runFor(3 * DEFAULT_TIMERS.peerTimeout);
  t.equal(agreedLeader(sim), leader);
  t.equal(sim.member(leader).term(), term);
  clean(t, sim);
});

t.test('a stale hint (the leader was heard after it) waives no lease', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const sim = group(IDS, { seed, timers: TIMER_PRESETS.lan });
    const leader = settle(sim);
    const term = sim.member(leader).term();
    const followers = IDS.filter((id) => id !== leader);
    // One follower is hinted early; the rest much later, after a leader heartbeat reached them all.
    hint(sim, followers[0]!, leader, 1);
    sim.runFor(TIMER_PRESETS.lan.heartbeat * 2);
    for (const id of followers.slice(1, 2)) hint(sim, id, leader, 1);
    sim.runFor(5 * TIMER_PRESETS.lan.peerTimeout);
    t.equal(agreedLeader(sim), leader, `seed ${seed}: same leader`);
    t.equal(sim.member(leader).term(), term, `seed ${seed}: same term`);
    clean(t, sim);
  }
});

t.test('a graceful leave whose connection closes before its Leave arrives still hands over without a split vote', async (t) => {
  const times: number[] = [];
  for (let seed = 1; seed <= 30; seed++) {
    // The close is seen at once; the Leave and the hand-over take the network's 3-12 ms.
    const sim = group(IDS, { seed, network: { loss: 0, duplicate: 0, delayMin: 3, delayMax: 12 } });
    const old = settle(sim);
    sim.runFor(Math.floor(DEFAULT_TIMERS.heartbeat * (seed % 10) / 10));
    const t0 = sim.now();
    sim.leave(old);
    for (const id of IDS) if (id !== old) hint(sim, id, old, 0);
    const at = runUntilTrue(sim, () => { const l = agreedLeader(sim); return l !== null && l !== old && sim.up().length === IDS.length - 1; }, 10_000, 1);
    t.not(at, null, `seed ${seed}: a new leader`);
    if (at !== null) times.push(at - t0);
    clean(t, sim);
  }
  times.sort((a, b) => a - b);
  t.comment(`hand-over with early hints (sim): p50 ${times[Math.floor(times.length / 2)]} ms, max ${times[times.length - 1]} ms`);
  t.ok(times[times.length - 1]! < DEFAULT_TIMERS.electionMin, `max ${times[times.length - 1]} ms: no split vote (that would cost an election timeout)`);
});
