/**
 * The action guard (pure) and the action timer's step handling (real timers, an injected
 * wall clock that can be shifted or stepped while the monotonic clock runs on).
 */
import t from 'tap';
import { DEFAULT_CLOCK_POLICY, judgeAction, onStep, validateClockPolicy, ClockPolicyError, type GuardInput } from '../../hw/action-guard.js';
import { summarise } from '../../hw/group-clock.js';
import { UNSYNCHRONISED, type ClockQuality } from '../../hw/clock/quality.js';
import { ActionTimer, type ActionFiring, type ActionStepSeen } from '../../agent/runtime/action-timer.js';

const SYNCED: ClockQuality = { source: 'chrony', synchronised: true, errorMs: 0.5, leapPending: null, detail: 'chrony: test' };
const NOW = 1_800_000_000_000;
const peersAt = (selfShiftMs: number) => summarise(['b', 'c', 'd', 'e'].map((peer) => ({ peer, offsetMs: -selfShiftMs, errorMs: 0.3, rttMs: 0.6, samples: 5 })));
const input = (over: Partial<GuardInput> = {}): GuardInput => ({ when: NOW + 3000, nowWall: NOW, clock: SYNCED, group: peersAt(0), sameHost: false, loopDelayMs: 1, ...over });

t.test('a clock shifted 2 s off the group refuses under a 100 ms tolerance; 50 ms passes', async (t) => {
  const off = judgeAction(input({ group: peersAt(2000) }));
  t.equal(off.ok, false);
  t.match(!off.ok && off.reason, /this clock is 2000 ms off the group's \(median of 5 clocks, ±0\.3 ms\), above the group's tolerance \(100 ms\)/);
  t.same(judgeAction(input({ group: peersAt(50) })), { ok: true });
  t.same(judgeAction(input({ group: peersAt(-50) })), { ok: true });
  t.equal(judgeAction(input({ group: peersAt(-150) })).ok, false, 'behind counts as much as ahead');
});

t.test('daemon error bound above the tolerance, too little lead', async (t) => {
  const bad = judgeAction(input({ clock: { ...SYNCED, errorMs: 250 } }));
  t.match(!bad.ok && bad.reason, /chrony bounds this clock's error at 250 ms/);
  const soon = judgeAction(input({ when: NOW + 15, loopDelayMs: 4 }));
  t.match(!soon.ok && soon.reason, /too little lead time: the instant is 15 ms away, this member needs 24 ms/);
  t.same(judgeAction(input({ when: NOW + 30, loopDelayMs: 4 })), { ok: true });
});

t.test('unsynchronised: refuse / allow-same-host / allow', async (t) => {
  const u = { clock: { ...UNSYNCHRONISED, detail: 'no daemon' } };
  t.match(judgeAction(input({ ...u, sameHost: false })), { ok: false, reason: /unsynchronised \(no daemon\); policy unsynchronised: allow-same-host, and members run on other hosts/ }, 'default: refused across hosts');
  t.same(judgeAction(input({ ...u, sameHost: true })), { ok: true }, 'default: one host shares one clock (the local demo fires)');
  t.match(judgeAction(input({ ...u, sameHost: true }), { ...DEFAULT_CLOCK_POLICY, unsynchronised: 'refuse' }), { ok: false, reason: /policy unsynchronised: refuse/ });
  t.same(judgeAction(input({ ...u, sameHost: false }), { ...DEFAULT_CLOCK_POLICY, unsynchronised: 'allow' }), { ok: true });
  t.equal(judgeAction(input({ ...u, sameHost: true, group: peersAt(2000) })).ok, false, 'same host but a shifted (faked) clock is still caught by the offsets');
});

t.test('policy validation and the step decision', async (t) => {
  t.same(validateClockPolicy({}), DEFAULT_CLOCK_POLICY);
  t.equal(validateClockPolicy({ clockToleranceMs: 5, unsynchronised: 'refuse' }).clockToleranceMs, 5);
  t.throws(() => validateClockPolicy({ unsynchronised: 'sometimes' }), ClockPolicyError);
  t.throws(() => validateClockPolicy({ clockToleranceMs: -1 }), /clockToleranceMs must be/);
  t.throws(() => validateClockPolicy({ tolerance: 1 } as never), /unknown clock setting "tolerance"/);
  t.same([onStep(50), onStep(-50), onStep(10_000), onStep(-10_000)], ['rearm', 'rearm', 'cancel', 'cancel']);
  t.equal(onStep(10_000, { ...DEFAULT_CLOCK_POLICY, onStep: 'rearm' }), 'rearm');
});

/** A wall clock that follows real time plus a shift the test can step. */
function steppable() {
  let shift = 0;
  return { wall: () => Date.now() + shift, step: (ms: number) => void (shift += ms) };
}

function waitFor(timer: ActionTimer, when: number, step: (ms: number) => 'rearm' | 'cancel') {
  return new Promise<{ fired: ActionFiring | null; steps: ActionStepSeen[] }>((resolve) => {
    const steps: ActionStepSeen[] = [];
    timer.at(when, (f) => resolve({ fired: f, steps }), { onStep: step, stepped: (s) => (steps.push(s), s.decision === 'cancel' && resolve({ fired: null, steps })) });
  });
}

t.test('action timer: a step of ±10 s mid-wait is caught and cancels; a 50 ms step re-arms and the firing says so', async (t) => {
  for (const size of [10_000, -10_000]) {
    const c = steppable();
    const timer = new ActionTimer(c.wall);
    const when = c.wall() + 400;
    setTimeout(() => c.step(size), 150);
    const r = await waitFor(timer, when, (s) => onStep(s));
    t.equal(r.fired, null, `stepped ${size > 0 ? '+' : ''}${size} ms: not fired`);
    t.equal(r.steps.length, 1);
    t.ok(Math.abs(r.steps[0]!.stepMs - size) < 20, `the step is measured: ${r.steps[0]!.stepMs.toFixed(1)} ms`);
    t.equal(r.steps[0]!.decision, 'cancel');
    timer.close();
  }
  const c = steppable();
  const timer = new ActionTimer(c.wall);
  const when = c.wall() + 400;
  const t0 = Date.now();
  setTimeout(() => c.step(50), 150);
  const r = await waitFor(timer, when, (s) => onStep(s));
  t.ok(r.fired, 're-armed and fired');
  t.equal(r.steps[0]!.decision, 'rearm');
  t.ok(Math.abs(r.fired!.stepMs - 50) < 20, `the firing reports the step it lived through (${r.fired!.stepMs.toFixed(1)} ms)`);
  t.ok(Math.abs(r.fired!.errorMs) < 50, `on time by the stepped clock (${r.fired!.errorMs.toFixed(2)} ms)`);
  t.ok(Date.now() - t0 < 400, 'which, the clock having jumped forward 50 ms, is ~50 ms early by real time');
  timer.close();
});

t.test('action timer: no step, no step reported', async (t) => {
  const timer = new ActionTimer();
  const r = await waitFor(timer, Date.now() + 120, () => 'cancel');
  t.ok(r.fired && r.fired.stepMs === 0 && r.steps.length === 0, `fired, error ${r.fired?.errorMs.toFixed(2)} ms`);
  timer.close();
});
