/** The hardware monitor: samples reach listeners after the warm-up, a wall-clock step is seen and counted, the snapshot holds plain numbers. */
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { HardwareMonitor } from '../../hw/monitor.js';
import { UNSYNCHRONISED } from '../../hw/clock/quality.js';
import type { ClockStep } from '../../hw/step.js';

t.test('monitor: samples, a step, the snapshot', async (t) => {
  let shift = 0;
  const m = new HardwareMonitor({ sampleEveryMs: 50, warmupMs: 120, clock: { ...UNSYNCHRONISED, detail: 'test' }, wall: () => Date.now() + shift, mono: () => performance.now() });
  const samples: number[] = [];
  const steps: ClockStep[] = [];
  m.onSample((s) => samples.push(s.at));
  m.onStep((s) => steps.push(s));
  const t0 = performance.now();
  m.start();
  t.teardown(() => m.stop());
  await new Promise((r) => setTimeout(r, 300));
  t.ok(samples.length >= 1, `samples after the warm-up (${samples.length})`);
  t.ok(samples.every((at) => at - t0 >= 120), 'none during it');
  shift = 10_000;
  await new Promise((r) => setTimeout(r, 150));
  t.equal(steps.length, 1, 'the step is seen once');
  t.ok(Math.abs(steps[0]!.stepMs - 10_000) < 20, `of ${steps[0]?.stepMs.toFixed(1)} ms`);
  const snap = m.snapshot();
  t.equal(snap.steps.count, 1);
  t.same([snap.clock.source, snap.clock.synchronised, snap.clock.errorMs], ['none', false, null]);
  t.ok(snap.load.cpu >= 0 && snap.load.cpu <= 1 && snap.eventLoopDelay.maxMs >= 0);
});
