/**
 * A member in poor health yields its candidacy (GroupMember.setCampaignYield, set by the
 * runtime when a healthier voter is alive): when the leader goes, the healthier survivors
 * campaign first and win, with the yielding member's pre-vote; a group whose every
 * survivor yields still elects, one election timeout later. The checker's invariants run
 * underneath every scenario.
 */
import t from 'tap';
import type { GroupMember } from '../../agent/core/member.js';
import type { MemberId } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS, scaleTimers } from '../../agent/core/timers.js';
import { agreedLeader, report, runUntilTrue, settle, group } from './scripted.js';
import type { Simulator } from './simulator.js';

const IDS = ['a/c', 'b/c', 'c/c', 'd/c', 'e/c'];

function setYield(sim: Simulator, id: MemberId, on: boolean): void {
  sim.call(id, `setCampaignYield ${on}`, (m) => (m as unknown as GroupMember).setCampaignYield(on));
}

function hintAll(sim: Simulator, old: MemberId): void {
  for (const id of IDS) {
    if (id === old) continue;
    sim.at(sim.now() + 1, () => {
      const inst = sim.instance(id);
      if (inst?.up) sim.checker.rules.peerClosed(inst, old);
      sim.call(id, `peerClosed ${old}`, (m, now) => (m as unknown as GroupMember).peerClosed(old, now));
    });
  }
}

function clean(t: Pick<typeof import('tap').default, 'equal' | 'comment'>, sim: Simulator): void {
  if (!t.equal(sim.checker.violations.length, 0, 'no invariant violated')) t.comment(report(sim));
}

/** Crash the leader (with or without the connection-closed hint); returns who won next, and when. */
function failover(seed: number, opts: { yieldFirst: boolean; hint: boolean }): { sim: Simulator; sick: MemberId; next: MemberId | null; ms: number | null } {
  const sim = group(IDS, { seed });
  const old = settle(sim);
  // The member that would ask first: the lowest id among the survivors (rank 0 of the hint).
  const sick = IDS.filter((id) => id !== old).sort()[0] as MemberId;
  if (opts.yieldFirst) setYield(sim, sick, true);
  sim.runFor(Math.floor((DEFAULT_TIMERS.heartbeat * (seed % 10)) / 10));
  const t0 = sim.now();
  sim.crash(old);
  if (opts.hint) hintAll(sim, old);
  const at = runUntilTrue(sim, () => { const l = agreedLeader(sim); return l !== null && l !== old; }, 20_000, 1);
  return { sim, sick, next: at === null ? null : agreedLeader(sim), ms: at === null ? null : at - t0 };
}

for (const hint of [true, false]) {
  t.test(`leader crash${hint ? ' with the hint' : ', silent'}: a yielding member does not win while healthier ones campaign`, async (t) => {
    let sickWinsWithout = 0;
    let sickWinsWith = 0;
    const times: number[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const base = failover(seed, { yieldFirst: false, hint });
      if (base.next === base.sick) sickWinsWithout++;
      const r = failover(seed, { yieldFirst: true, hint });
      t.not(r.next, null, `seed ${seed}: a new leader`);
      if (r.next === r.sick) sickWinsWith++;
      if (r.ms !== null) times.push(r.ms);
      clean(t, r.sim);
    }
    times.sort((a, b) => a - b);
    t.comment(`the lowest-id survivor won ${sickWinsWithout}/40 without yielding, ${sickWinsWith}/40 yielding; failover p50 ${times[times.length >> 1]} ms, max ${times[times.length - 1]} ms`);
    t.equal(sickWinsWith, 0, 'the yielding member never wins');
    if (hint) t.ok(sickWinsWithout > 20, 'without yielding it (rank 0 of the hint) usually wins: the scenario tests something');
    else t.ok(sickWinsWithout > 0, 'without yielding it sometimes wins: the scenario tests something');
  });
}

t.test('every survivor yielding: the group still elects, about one election timeout later', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const sim = group(IDS, { seed });
    const old = settle(sim);
    for (const id of IDS) if (id !== old) setYield(sim, id, true);
    const t0 = sim.now();
    sim.crash(old);
    const at = runUntilTrue(sim, () => { const l = agreedLeader(sim); return l !== null && l !== old; }, 20_000, 5);
    t.not(at, null, `seed ${seed}: a leader`);
    if (at !== null) t.ok(at - t0 < DEFAULT_TIMERS.peerTimeout + 2 * DEFAULT_TIMERS.electionMax, `seed ${seed}: a leader ${at - t0} ms after the crash`);
    clean(t, sim);
  }
});

t.test('yield off again: the member campaigns as before', async (t) => {
  const sim = group(['a/c', 'b/c'], { seed: 3 });
  const old = settle(sim);
  const other = old === 'a/c' ? 'b/c' : 'a/c';
  setYield(sim, other, true);
  setYield(sim, other, false);
  t.equal((sim.member(other) as unknown as GroupMember).yieldsCampaign(), false);
  clean(t, sim);
});

t.test('a leaving leader hands over to the healthier of equally up-to-date voters (smaller advertised timers)', async (t) => {
  let healthierWon = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const sim = group(['a/c', 'b/c', 'c/c'], { seed });
    const old = settle(sim);
    const [strained, healthy] = ['a/c', 'b/c', 'c/c'].filter((id) => id !== old).sort() as [MemberId, MemberId];
    // The lower id (the old tie-break's pick) runs x8 timers, and says so in its heartbeats.
    sim.call(strained, 'setTimers x8', (m, now) => (m as unknown as GroupMember).setTimers(scaleTimers(DEFAULT_TIMERS, 8), now));
    sim.runFor(3 * DEFAULT_TIMERS.heartbeat);
    sim.call(old, 'leave', (m, now) => (m as unknown as GroupMember).leave(now));
    const at = runUntilTrue(sim, () => { const l = agreedLeader(sim); return l !== null && l !== old; }, 10_000, 1);
    t.not(at, null, `seed ${seed}: a new leader`);
    if (agreedLeader(sim) === healthy) healthierWon++;
    clean(t, sim);
  }
  t.equal(healthierWon, 20, 'the healthier voter took over every time');
});
