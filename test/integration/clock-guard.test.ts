/**
 * The action guard end to end, in one process: three agents on loopback, one of whose
 * wall clocks is shifted or stepped through an injected clock (the monotonic clock runs
 * on, as under an NTP step or libfaketime). All three run on this host, so the kernel
 * clock's being unsynchronised is no reason to refuse; a shifted clock is.
 * - shifted 50 ms: under the 100 ms tolerance, the action passes and fires everywhere;
 * - shifted 2 s: the shifted member votes no, and every member sees its reason;
 * - stepped ±10 s while waiting: the stepped member cancels (an actionStep event says so),
 *   the others fire; stepped 50 ms: it re-arms and fires, reporting the step.
 */
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { Agent } from '../../agent/runtime/agent.js';
import type { Group } from '../../agent/api/group.js';
import type { ActionEvent, ActionStepEvent, VoteResultEvent } from '../../agent/api/events.js';
import { preciseWallClock, type Clock } from '../../agent/runtime/clock.js';
import { StaticDiscovery } from '../../discovery/static.js';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import { HardwareMonitor } from '../../hw/monitor.js';
import { UNSYNCHRONISED } from '../../hw/clock/quality.js';
import { freePorts } from './agent-cluster.js';

function shiftable(): Clock & { shift: number } {
  const wall = preciseWallClock();
  const c = { shift: 0, now: () => ({ mono: performance.now(), wall: wall() + c.shift }) };
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('clock guard: shifted 50 ms passes, 2 s refuses with the reason, steps of ±10 s cancel', async (t) => {
  const ports = await freePorts(3);
  const peers = ports.map((p) => `127.0.0.1:${p}`);
  const clocks = [shiftable(), shiftable(), shiftable()];
  const agents: Agent[] = [];
  const groups: Group[] = [];
  t.teardown(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  for (let i = 0; i < 3; i++) {
    const clock = clocks[i]!;
    // The real clock tools are not run (unsynchronised, as on this machine); samples every 200 ms.
    const hardware = new HardwareMonitor({ clock: { ...UNSYNCHRONISED, detail: 'test: no daemon' }, sampleEveryMs: 200, wall: () => clock.now().wall, mono: () => clock.now().mono });
    const a = new Agent({ node: `cg${i + 1}`, busPort: ports[i], clock, hardware, probeMs: 0, discovery: new StaticDiscovery(peers) });
    agents.push(a);
    await a.start();
    const g = a.join('app', 'Clock', 'guard', { minSize: 2, timers: { ...TIMER_PRESETS.lan }, clock: { clockToleranceMs: 100 } });
    g.on('actionVoteRequest', (r) => {
      if (!r.refused) g.vote(r.ballotId, true);
    });
    groups.push(g);
  }
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !(groups.every((g) => g.hasLeader() && g.leaderId() === groups[0]!.leaderId()) && groups.every((g) => g.size() === 3))) await sleep(50);
  t.ok(groups.every((g) => g.hasLeader()), `a leader: ${groups[0]!.leaderId()}`);

  /** Request an action from agent 0 and collect every member's result, firing and steps. */
  async function act(inMs: number, during?: () => void) {
    const results = groups.map((g) => new Promise<VoteResultEvent>((r) => g.once('voteResult', r)));
    const fired: Array<ActionEvent | null> = [null, null, null];
    const steps: Array<ActionStepEvent | null> = [null, null, null];
    const onFire = groups.map((g, i) => (e: ActionEvent) => void (fired[i] = e));
    const onStep = groups.map((g, i) => (e: ActionStepEvent) => void (steps[i] = e));
    groups.forEach((g, i) => (g.on('action', onFire[i]!), g.on('actionStep', onStep[i]!)));
    const when = clocks[0]!.now().wall + inMs;
    groups[0]!.requestActionVote(new Uint8Array([1]), when, { kind: 'consensus', timeoutMs: Math.min(2000, inMs - 1000) });
    const rs = await Promise.all(results);
    during?.();
    await sleep(Math.max(0, inMs) + 600);
    groups.forEach((g, i) => (g.off('action', onFire[i]!), g.off('actionStep', onStep[i]!)));
    return { rs, fired, steps };
  }

  // Let heartbeats build the clock estimates.
  clocks[2]!.shift = 50;
  await sleep(3000);
  const s50 = agents[2]!.status().groups[0]!.clock!;
  t.ok(Math.abs(s50.selfOffsetMs - 50) < 20, `the shifted member sees itself ${s50.selfOffsetMs.toFixed(1)} ms off the group`);
  const a50 = await act(4000);
  t.same(a50.rs.map((r) => r.outcome), ['yes', 'yes', 'yes'], `shifted 50 ms: the action passes ${JSON.stringify(a50.rs.map((r) => [r.reason, r.refusals]))}`);
  t.ok(a50.fired.every((f) => f !== null), 'and fires on every member');
  t.comment(`shifted 50 ms: errorMs by each member's own clock ${a50.fired.map((f) => f?.errorMs.toFixed(2)).join(', ')}`);

  clocks[2]!.shift = 2000;
  await sleep(1500);
  const a2s = await act(5000);
  t.same(a2s.rs.map((r) => r.outcome), ['no', 'no', 'no'], 'shifted 2 s: the action is refused');
  for (const [i, r] of a2s.rs.entries()) {
    t.equal(r.refusals.length, 1, `member ${i + 1} sees one refusal`);
    t.equal(r.refusals[0]?.member, 'cg3/app');
    t.match(r.refusals[0]?.reason, /^clock guard: this clock is (19|20)\d\d(\.\d)? ms off the group's \(median of 3 clocks/, `member ${i + 1} sees the guard's reason`);
  }
  t.comment(`shifted 2 s: ${a2s.rs[0]!.refusals[0]?.reason}`);
  t.ok(a2s.fired.every((f) => f === null), 'nothing fires');
  const skew = agents[0]!.status().groups[0]!.clock!.skewMs;
  t.ok(skew > 1900, `the group's skew shows on the others too: ${skew.toFixed(0)} ms`);

  for (const step of [10_000, -10_000, 50]) {
    clocks[2]!.shift = 0;
    await sleep(1500);
    const r = await act(4000, () => setTimeout(() => (clocks[2]!.shift += step), 400));
    t.same(r.rs.map((x) => x.outcome), ['yes', 'yes', 'yes'], `step ${step}: agreed before the step`);
    t.ok(r.fired[0] && r.fired[1], `step ${step}: the others fire`);
    t.equal(r.steps[0], null);
    const seen = r.steps[2];
    t.ok(seen && Math.abs(seen.stepMs - step) < 30, `step ${step}: the stepped member saw it (${seen?.stepMs.toFixed(1)} ms)`);
    if (Math.abs(step) > 100) {
      t.equal(seen?.decision, 'cancel', `step ${step}: cancelled`);
      t.equal(r.fired[2], null, `step ${step}: the stepped member does not fire`);
    } else {
      t.equal(seen?.decision, 'rearm', `step ${step}: re-armed`);
      t.ok(r.fired[2] && Math.abs(r.fired[2].stepMs - step) < 30, `step ${step}: fired, reporting the step (errorMs ${r.fired[2]?.errorMs.toFixed(2)}, stepMs ${r.fired[2]?.stepMs.toFixed(1)})`);
    }
  }
});
