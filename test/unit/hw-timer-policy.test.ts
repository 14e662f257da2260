/** Timer adaptation (pure): stalls and load scale the timers, quiet brings them back, with hysteresis; hand-over; auto. */
import t from 'tap';
import fc from 'fast-check';
import { TIMER_PRESETS, validateTimers } from '../../agent/core/timers.js';
import { AutoTimerChoice, DEFAULT_AUTO_RTT, TimerAdaptation, chooseAutoPreset, chooseHandover, groupRoundTrip, healthierVoter, presetForRoundTrip, recogniseAutoPreset, scaleTimers } from '../../hw/timer-policy.js';
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

t.test('config: auto carries every preset it may switch to, explicit values applied; values that do not fit one are refused', async (t) => {
  const c = validateConfig({ node: 'x', stateDir: 'none', timers: 'auto', groups: [{ name: 'A.b' }, { name: 'A.c', timers: 'auto,consensusTimeout=2000' }, { name: 'A.d', timers: 'lan' }] });
  const [inherited, explicit, fixed] = c.groups;
  t.same(inherited?.autoTimers?.bases, { lan: TIMER_PRESETS.lan, riaps: TIMER_PRESETS.riaps, slow: TIMER_PRESETS.slow }, 'a group inherits the agent\'s auto');
  t.same(inherited?.timers, inherited?.autoTimers?.bases[inherited.autoTimers.start], 'it starts on the board\'s choice');
  t.same(Object.values(explicit?.autoTimers?.bases ?? {}).map((b) => b.consensusTimeout), [2000, 2000, 2000]);
  t.equal(fixed?.autoTimers, undefined, 'a fixed preset does not switch');
  t.throws(() => validateConfig({ node: 'x', stateDir: 'none', timers: 'auto,heartbeat=1200' }), /heartbeat \(1200\) must be < electionMin \(500\).*with auto, explicit values must fit every preset auto may choose: lan, riaps, slow; this with lan/);
});

t.test('auto: the group round trip is the slowest peer\'s median (p90 of per-peer medians), from peers with enough samples', async (t) => {
  const few = new Map([['b', [1, 1, 1]]]);
  t.equal(groupRoundTrip(few, 8), null, 'too few samples: no answer');
  // One stalled turn (700 ms) among 0.3 ms samples does not move the median.
  const b = [0.3, 0.4, 0.3, 700, 0.3, 0.5, 0.4, 0.3, 0.3];
  const c = [12, 11, 13, 12, 12, 14, 11, 12];
  t.same(groupRoundTrip(new Map([['b', b]]), 8), { rttMs: 0.3, peers: 1 });
  t.same(groupRoundTrip(new Map([['b', b], ['c', c], ['d', [1]]]), 8), { rttMs: 12, peers: 2 }, 'the slow link counts, the peer without enough samples does not');
  const many = new Map(Array.from({ length: 10 }, (_, i) => [`p${i}`, Array(8).fill(i === 9 ? 100 : 1) as number[]]));
  t.equal(groupRoundTrip(many, 8)?.rttMs, 1, 'with 10 peers the 90th percentile leaves out the single worst');
});

t.test('auto: thresholds with hysteresis (up past 5 / 50 ms, down only under half of them), never below the board', async (t) => {
  t.equal(presetForRoundTrip(0.4, 'lan', 'lan'), 'lan');
  t.equal(presetForRoundTrip(5.1, 'lan', 'lan'), 'riaps');
  t.equal(presetForRoundTrip(51, 'lan', 'lan'), 'slow');
  t.equal(presetForRoundTrip(4, 'riaps', 'lan'), 'riaps', '4 ms: under 5, not under 2.5: riaps holds');
  t.equal(presetForRoundTrip(2.4, 'riaps', 'lan'), 'lan');
  t.equal(presetForRoundTrip(30, 'slow', 'lan'), 'slow', '30 ms: not under 25: slow holds');
  t.equal(presetForRoundTrip(20, 'slow', 'lan'), 'riaps');
  t.equal(presetForRoundTrip(1, 'slow', 'lan'), 'lan');
  t.equal(presetForRoundTrip(0.3, 'slow', 'slow'), 'slow', 'a slow board stays slow');
});

t.test('auto choice: a switch needs confirmMs of agreement and dwellMs since the last; the reason names the round trip', async (t) => {
  const a = new AutoTimerChoice('lan', 'auto: PC, 2 cores (timers auto)');
  t.equal(a.reason, 'auto: PC, 2 cores (timers auto)');
  t.equal(a.observe(null, 0), null, 'no measurement yet');
  for (let at = 1000; at < 1000 + DEFAULT_AUTO_RTT.confirmMs; at += 1000) t.equal(a.observe(12.34, at), null, `not yet at ${at}`);
  const up = a.observe(12.34, 1000 + DEFAULT_AUTO_RTT.confirmMs);
  t.same(up, { preset: 'riaps', reason: 'auto: round trip 12.3 ms > 5 ms' });
  t.equal(a.preset, 'riaps');
  // Back down: under 2.5 ms, but not within dwellMs of the switch.
  let down = null;
  let at = 1000 + DEFAULT_AUTO_RTT.confirmMs;
  while (!down) down = a.observe(1, (at += 1000));
  t.ok(at - (1000 + DEFAULT_AUTO_RTT.confirmMs) >= DEFAULT_AUTO_RTT.dwellMs, `down after ${at - 16_000} ms, at least dwellMs`);
  t.same(down, { preset: 'lan', reason: 'auto: round trip 1.0 ms < 2.5 ms' });
  // A single differing sample resets the confirmation.
  const b = new AutoTimerChoice('lan', 'x', { confirmMs: 3000, dwellMs: 0 });
  for (const [rtt, ms] of [[9, 0], [9, 1000], [9, 2000], [1, 2500], [9, 3000], [9, 5000]] as const) t.equal(b.observe(rtt, ms), null, `${rtt} ms at ${ms}`);
  t.equal(b.observe(9, 6000)?.preset, 'riaps');
});

t.test('auto choice: a round trip wandering around one threshold switches at most once (hysteresis)', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 2.6, max: 49, noNaN: true }), { minLength: 1, maxLength: 500 }), (rtts) => {
      const a = new AutoTimerChoice('lan', 'x', { confirmMs: 2000, dwellMs: 0 });
      let switches = 0;
      rtts.forEach((r, i) => a.observe(r, i * 1000) && switches++);
      return switches <= 1;
    }),
  );
});

t.test('auto choice as follower: adopts the leader\'s preset at once (any scale), never below its board', async (t) => {
  const bases = { lan: TIMER_PRESETS.lan, riaps: TIMER_PRESETS.riaps, slow: TIMER_PRESETS.slow };
  t.equal(recogniseAutoPreset(scaleTimers(TIMER_PRESETS.riaps, 4), bases), 'riaps');
  t.equal(recogniseAutoPreset(scaleTimers(TIMER_PRESETS.lan, 8), bases), 'lan');
  t.equal(recogniseAutoPreset({ ...TIMER_PRESETS.lan, electionMin: 600 }, bases), null);
  const f = new AutoTimerChoice('lan', 'auto: PC');
  t.same(f.follow('riaps', 'n1/agent', 0), { preset: 'riaps', reason: 'auto: riaps, as leader n1/agent chose from its round trips' });
  t.equal(f.follow('riaps', 'n1/agent', 1), null, 'already there');
  t.equal(f.follow(null, 'n1/agent', 2), null, 'an unrecognised leader changes nothing');
  const slowBoard = new AutoTimerChoice('slow', 'auto: BeagleBone (1 core) is a slow board');
  t.equal(slowBoard.follow('lan', 'n1/agent', 0), null, 'a slow board stays slow under a lan leader');
});

t.test('rebase: auto\'s new preset keeps the adaptation scale', async (t) => {
  const a = new TimerAdaptation(TIMER_PRESETS.lan, {}, 'auto: PC');
  a.observe({ atMono: 0, stallMs: 300, cpuLoad: 0 });
  t.equal(a.profile().scale, 2);
  const p = a.rebase(TIMER_PRESETS.riaps, 'auto: round trip 12.3 ms > 5 ms');
  t.same([p.scale, p.timers.electionMin, p.base.electionMin], [2, 3000, 1500]);
  t.match(p.reason, /^auto: round trip 12\.3 ms > 5 ms, ×2/);
});

t.test('poor health lasts quietMs after its last cause (a member stalling beyond x8 every few seconds is poor between stalls)', async (t) => {
  const a = new TimerAdaptation(LAN, { quietMs: 60_000 });
  a.observe({ atMono: 0, stallMs: 2500, cpuLoad: 0 });
  t.same([a.profile().scale, a.profile().health], [8, 'poor'], '2500 ms > half of x8 electionMin (2000): poor');
  a.observe({ atMono: 1000, stallMs: 1, cpuLoad: 0 });
  t.equal(a.profile().health, 'poor', 'a quiet sample right after: still poor');
  a.observe({ atMono: 59_999, stallMs: 1, cpuLoad: 0 });
  t.equal(a.profile().health, 'poor');
  a.observe({ atMono: 60_000, stallMs: 1, cpuLoad: 0 });
  t.equal(a.profile().health, 'strained', 'quietMs later: strained (still x8)');
  t.equal(healthierVoter(4000, [{ id: 'b', alive: true, electionMin: 4000 }, { id: 'c', alive: false, electionMin: 500 }]), null, 'equal timers or dead: none healthier');
  t.equal(healthierVoter(4000, [{ id: 'c', alive: true, electionMin: 1000 }, { id: 'b', alive: true, electionMin: 1000 }]), 'b', 'ties by id');
});
