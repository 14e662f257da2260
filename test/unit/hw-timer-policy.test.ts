/** Timer adaptation (pure): stalls and load scale the timers, quiet brings them back, with hysteresis; hand-over; auto. */
import t from 'tap';
import fc from 'fast-check';
import { TIMER_PRESETS, validateTimers } from '../../agent/core/timers.js';
import { TimerAdaptation, chooseAutoPreset, chooseHandover, scaleTimers } from '../../hw/timer-policy.js';
import { validateConfig } from '../../agent/config.js';

const LAN = { ...TIMER_PRESETS.lan };

t.test('the issue\'s stall (700 ms on lan) scales the timers x4 at once, and they come back after quiet', async (t) => {
  const a = new TimerAdaptation(LAN, {}, 'preset lan');
  t.equal(a.observe({ atMono: 1000, stallMs: 5, cpuLoad: 0.1 }), null);
  const up = a.observe({ atMono: 2000, stallMs: 700, cpuLoad: 0.3 });
  t.equal(up?.scale, 4, '700 ms fits under half of electionMin only at x4 (2000 ms)');
  t.same(up?.timers, { heartbeat: 800, electionMin: 2000, electionMax: 3200, peerTimeout: 4800, consensusTimeout: 1000 });
  t.match(up?.reason, /preset lan, ×4: a 700 ms stall, over 50 % of electionMin \(500 ms\)/);
  t.equal(up?.health, 'strained');
  // Stalls every 3 s keep it up.
  let changed = 0;
  for (let at = 5000; at < 300_000; at += 3000) if (a.observe({ atMono: at, stallMs: 700, cpuLoad: 0.3 })) changed++;
  t.same([changed, a.profile().scale], [0, 4], 'stays x4 while the stalls go on');
  // Quiet: one step down per quietMs.
  const downs: number[] = [];
  for (let at = 300_000; at < 800_000; at += 1000) {
    const p = a.observe({ atMono: at, stallMs: 3, cpuLoad: 0.1 });
    if (p) downs.push(p.scale);
  }
  t.same(downs, [2, 1], 'x4 → x2 → x1');
  t.equal(a.profile().health, 'good');
  t.match(a.profile().reason, /quiet for 1[0-9]{2} s/);
});

t.test('hysteresis: stalls between the down and up thresholds hold the scale; no oscillation', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 2000, noNaN: true }), { minLength: 10, maxLength: 400 }), (stalls) => {
      const a = new TimerAdaptation(LAN, { quietMs: 10_000 });
      let changes = 0;
      let at = 0;
      let lastChangeAt = -Infinity;
      let minGap = Infinity;
      for (const s of stalls) {
        at += 1000;
        const p = a.observe({ atMono: at, stallMs: s, cpuLoad: 0.2 });
        if (p) {
          // Each scale keeps its timers valid.
          validateTimers({ ...p.timers });
          if (lastChangeAt > -Infinity && p.reason.includes('quiet')) minGap = Math.min(minGap, at - lastChangeAt);
          lastChangeAt = at;
          changes++;
        }
      }
      // Every step down comes at least quietMs after the previous change.
      return minGap >= 10_000 && changes <= stalls.length;
    }),
  );
  const a = new TimerAdaptation(LAN, { quietMs: 10_000 });
  a.observe({ atMono: 0, stallMs: 700, cpuLoad: 0 });
  // 300 ms stalls: over a quarter of the x2 electionMin (250), under half of x4's (1000): holds x4.
  for (let at = 1000; at < 100_000; at += 1000) a.observe({ atMono: at, stallMs: 300, cpuLoad: 0 });
  t.equal(a.profile().scale, 4);
});

t.test('load: this process saturating a core scales by 2; poor health at the largest scale; off means off', async (t) => {
  const a = new TimerAdaptation(LAN, { saturatedSamples: 3 });
  for (let i = 0; i < 2; i++) t.equal(a.observe({ atMono: i * 1000, stallMs: 1, cpuLoad: 0.99 }), null);
  const p = a.observe({ atMono: 3000, stallMs: 1, cpuLoad: 0.99 });
  t.equal(p?.scale, 2);
  t.match(p?.reason, /process CPU saturated \(99 % of a core for 3 samples\)/);
  t.equal(p?.health, 'poor', 'saturated is poor');
  const b = new TimerAdaptation(LAN, { maxScale: 4 });
  b.observe({ atMono: 0, stallMs: 5000, cpuLoad: 0 });
  t.same([b.profile().scale, b.profile().health], [4, 'poor'], 'a 5 s stall does not fit even x4: poor');
  const off = new TimerAdaptation(LAN, { enabled: false }, 'preset lan');
  t.equal(off.observe({ atMono: 0, stallMs: 5000, cpuLoad: 1 }), null);
  t.match(off.profile().reason, /adaptation off/);
  t.same(scaleTimers(LAN, 1), LAN);
});

t.test('hand-over: only a poor leader, after its tenure, to the healthiest live voter', async (t) => {
  const voters = [
    { id: 'b', alive: true, electionMin: 2000 },
    { id: 'c', alive: true, electionMin: 500 },
    { id: 'd', alive: false, electionMin: 500 },
  ];
  const base = { isLeader: true, health: 'poor' as const, leaderForMs: 10_000, minTenureMs: 5000, ownElectionMin: 4000, voters };
  t.equal(chooseHandover(base), 'c');
  t.equal(chooseHandover({ ...base, health: 'strained' }), null, 'strained but keeping up: keeps the lead');
  t.equal(chooseHandover({ ...base, leaderForMs: 1000 }), null, 'not before its tenure');
  t.equal(chooseHandover({ ...base, isLeader: false }), null);
  t.equal(chooseHandover({ ...base, ownElectionMin: 500 }), null, 'nobody healthier');
});

t.test('auto preset: board and round trip', async (t) => {
  t.equal(chooseAutoPreset({ model: 'TI AM335x BeagleBone Black', cores: 1 }, 0.5).preset, 'slow');
  t.equal(chooseAutoPreset({ model: 'Raspberry Pi 5 Model B Rev 1.0', cores: 4 }, 0.4).preset, 'lan');
  t.equal(chooseAutoPreset({ model: 'Raspberry Pi 5 Model B Rev 1.0', cores: 4 }, 12).preset, 'riaps');
  t.equal(chooseAutoPreset({ model: 'x', cores: 8 }, 80).preset, 'slow');
  t.match(chooseAutoPreset({ model: 'Docker Container', cores: 2 }, null).reason, /auto: Docker Container, 2 cores/);
});

t.test('config: timers auto picks a preset from this board and says why', async (t) => {
  const c = validateConfig({ node: 'x', stateDir: 'none', groups: [{ name: 'A.b', timers: 'auto' }, { name: 'A.c', timers: { preset: 'auto', consensusTimeout: 2000 } }] });
  const presets: number[] = Object.values(TIMER_PRESETS).map((p) => p.electionMin);
  t.ok(presets.includes(c.groups[0]!.timers.electionMin), `auto → electionMin ${c.groups[0]!.timers.electionMin}`);
  t.match(c.groups[0]!.timersReason, /^auto: .* \(timers auto\)$/);
  t.equal(c.groups[1]!.timers.consensusTimeout, 2000, 'explicit values still apply over auto');
  t.throws(() => validateConfig({ node: 'x', stateDir: 'none', timers: 'fast' }), new RegExp(`neither name=value nor a preset \\(${Object.keys(TIMER_PRESETS).join(', ')}, auto\\)`));
});
