/**
 * The event-loop delay histogram's resolution follows the stall budgets of the groups an
 * agent hosts (hw/load.ts stallResolutionFor): fine enough to time the tightest budget,
 * no finer, since every period wakes the process. A coarser histogram still times a
 * stall (to within one period), even one that starts right after a sample, and its
 * readings are relative to the resolution in use.
 */
import t from 'tap';
import { Agent } from '../../agent/runtime/agent.js';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import { LoadSampler, stallResolutionFor, STALL_RESOLUTION_MAX_MS, STALL_RESOLUTION_MIN_MS } from '../../hw/load.js';
import { DEFAULT_ADAPTATION, TimerAdaptation } from '../../hw/timer-policy.js';

const budget = (preset: keyof typeof TIMER_PRESETS) => new TimerAdaptation(TIMER_PRESETS[preset]).stallBudgetMs();

t.test('an eighth of the tightest budget, within [10, 100] ms', async (t) => {
  t.equal(budget('riaps'), DEFAULT_ADAPTATION.upFraction * TIMER_PRESETS.riaps.electionMin, 'budget: the stall that scales the timers up');
  t.equal(stallResolutionFor([budget('riaps')]), Math.floor(budget('riaps') / 8), 'riaps');
  t.equal(stallResolutionFor([budget('riaps')]), 93);
  t.equal(stallResolutionFor([budget('wired')]), STALL_RESOLUTION_MIN_MS, 'wired: as fine as before');
  t.equal(stallResolutionFor([budget('slow')]), STALL_RESOLUTION_MAX_MS, 'slow: capped');
  t.equal(stallResolutionFor([budget('slow'), budget('lan'), budget('riaps')]), Math.floor(budget('lan') / 8), 'the tightest wins');
  t.equal(stallResolutionFor([]), STALL_RESOLUTION_MAX_MS, 'no groups: the coarsest');
  t.equal(stallResolutionFor([NaN, -1, 0]), STALL_RESOLUTION_MAX_MS, 'nonsense budgets are ignored');
  t.throws(() => new LoadSampler(1000).setResolution(0), RangeError);
});

t.test('a coarse histogram still times a stall, and a new resolution applies from the next sample', async (t) => {
  const s = new LoadSampler(60_000, 50); // the test closes the intervals itself
  t.teardown(() => s.stop());
  s.start();
  t.equal(s.resolutionMs, 50);
  await new Promise((r) => setTimeout(r, 120));
  const quiet = s.sample();
  t.ok(quiet.eventLoopDelay.maxMs < 50, `an idle loop reads near 0 (the resolution is subtracted): ${quiet.eventLoopDelay.maxMs.toFixed(1)} ms`);
  // Block in the very tick of the sample: monitorEventLoopDelay, reset at each sample, would
  // not see it (it forgets its last tick; measured: a 300 ms block read 7 ms at 50 ms).
  const end = Date.now() + 300;
  while (Date.now() < end);
  await new Promise((r) => setTimeout(r, 60));
  s.setResolution(20);
  t.equal(s.resolutionMs, 50, 'the running interval keeps its resolution');
  const blocked = s.sample();
  t.ok(blocked.eventLoopDelay.maxMs >= 300 - 50 - 10, `a 300 ms block reads ${blocked.eventLoopDelay.maxMs.toFixed(0)} ms at 50 ms resolution`);
  t.ok(blocked.eventLoopDelay.maxMs <= 300 + 200, 'and not much more (loose: a busy machine)');
  t.equal(s.resolutionMs, 20, 'the next interval uses the new one');
  await new Promise((r) => setTimeout(r, 100));
  t.ok(s.sample().eventLoopDelay.maxMs < 50, 'readings now relative to 20 ms');
});

t.test('an agent sets the resolution from the groups it hosts', async (t) => {
  const agent = new Agent({ node: 'stall1', probeMs: 0 });
  t.teardown(() => agent.stop());
  await agent.start();
  const hw = agent.hardware!;
  const riaps = agent.join('c1', 'G', 'a', { minSize: 1, timers: TIMER_PRESETS.riaps });
  await new Promise((r) => setTimeout(r, 1100)); // applied at the next sample (every second)
  t.equal(hw.stallResolution(), 93, 'riaps timers: 93 ms, not 10');
  const wired = agent.join('c2', 'G', 'b', { minSize: 1, timers: TIMER_PRESETS.wired });
  await new Promise((r) => setTimeout(r, 1100));
  t.equal(hw.stallResolution(), 10, 'a wired group joins: 10 ms');
  await wired.leave();
  await new Promise((r) => setTimeout(r, 1100));
  t.equal(hw.stallResolution(), 93, 'it leaves: back to 93');
  await riaps.leave();
});
