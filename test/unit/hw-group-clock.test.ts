/** Property tests for the group-clock estimator and the step detector (pure, seeded by fast-check). */
import t from 'tap';
import fc from 'fast-check';
import { GroupClock, summarise } from '../../hw/group-clock.js';
import { StepDetector } from '../../hw/step.js';

const offset = fc.double({ min: -10_000, max: 10_000, noNaN: true });
const delay = fc.double({ min: 0, max: 50, noNaN: true });

t.test('one-way samples: the estimate never exceeds the true offset (a lower bound), and the fastest sample bounds it', async (t) => {
  fc.assert(
    fc.property(offset, fc.array(delay, { minLength: 1, maxLength: 30 }), (theta, delays) => {
      const c = new GroupClock();
      let at = 0;
      for (const d of delays) {
        const peerSend = 1_700_000_000_000 + at;
        // Our clock reads peer time − theta; the message arrives d later.
        c.oneWay('p', peerSend, peerSend - theta + d, at);
        at += 100;
      }
      const e = c.estimate('p', at)!;
      const minDelay = Math.min(...delays);
      return e.errorMs === null && e.offsetMs <= theta + 1e-3 && theta - e.offsetMs <= minDelay + 1e-3;
    }),
  );
});

t.test('with a round trip that bounds each one-way delay, the true offset lies within the error bound', async (t) => {
  fc.assert(
    fc.property(offset, fc.array(fc.tuple(delay, delay), { minLength: 1, maxLength: 20 }), (theta, trips) => {
      const c = new GroupClock();
      let at = 0;
      for (const [there, back] of trips) {
        const peerSend = 1_700_000_000_000 + at;
        c.oneWay('p', peerSend, peerSend - theta + back, at);
        c.roundTrip('p', there + back, at);
        at += 100;
      }
      // The smallest round trip must bound the delay of the sample chosen: true when one trip is both.
      const e = c.estimate('p', at)!;
      const minRtt = Math.min(...trips.map(([a, b]) => a + b));
      const fastest = Math.min(...trips.map(([, b]) => b));
      if (fastest > minRtt) return true; // physically impossible pairing; nothing to check
      return e.errorMs !== null && Math.abs(e.offsetMs - theta) <= e.errorMs + 1e-3;
    }),
  );
});

t.test('NTP exchanges: |estimate − offset| <= rtt / 2, whatever the asymmetry; the least-rtt exchange wins', async (t) => {
  fc.assert(
    fc.property(offset, fc.array(fc.tuple(delay, delay, fc.double({ min: 0, max: 5, noNaN: true })), { minLength: 1, maxLength: 20 }), (theta, xs) => {
      const c = new GroupClock();
      let at = 0;
      for (const [there, back, hold] of xs) {
        const t1 = 1_700_000_000_000 + at;
        const t2 = t1 + there + theta;
        const t3 = t2 + hold;
        const t4 = t3 - theta + back;
        c.exchange('p', t1, t2, t3, t4, at);
        at += 50;
      }
      const e = c.estimate('p', at)!;
      const best = Math.min(...xs.map(([a, b]) => a + b));
      return Math.abs(e.rttMs! - best) < 1e-3 && Math.abs(e.offsetMs - theta) <= e.errorMs! + 1e-3;
    }),
  );
});

t.test('the window forgets old samples: a peer whose clock stepped shows the new offset one window later', async (t) => {
  const c = new GroupClock({ windowMs: 1000 });
  c.oneWay('p', 10_000, 10_000, 0);
  t.equal(c.estimate('p', 500)!.offsetMs, 0);
  c.oneWay('p', 10_000 - 5000, 10_900, 900); // the peer stepped back 5.9 s
  t.equal(c.estimate('p', 950)!.offsetMs, 0, 'the old, larger lower bound still holds within the window');
  t.equal(c.estimate('p', 1500)!.offsetMs, -5900, 'then the new one');
  t.equal(c.estimate('p', 3000), null, 'no samples in the window: no estimate');
  c.oneWay('q', NaN, 1, 0);
  t.equal(c.estimate('q', 0), null, 'bad timestamps are not samples');
});

t.test('summary: a member shifted by X sees itself X off the group, and the skew is X', async (t) => {
  fc.assert(
    fc.property(offset, fc.integer({ min: 2, max: 6 }), (x, peers) => {
      // Our clock is x ahead of every peer: each peer appears at −x.
      const s = summarise(Array.from({ length: peers }, (_, i) => ({ peer: `p${i}`, offsetMs: -x, errorMs: 0.5, rttMs: 1, samples: 3 })));
      return Math.abs(s.selfOffsetMs - x) < 1e-9 && Math.abs(s.skewMs - Math.abs(x)) < 1e-9 && s.errorMs === 0.5;
    }),
  );
  // One peer off by 2 s among five in step: the others are not off the group.
  const s = summarise([{ peer: 'a', offsetMs: 2000, errorMs: null, rttMs: null, samples: 1 }, ...['b', 'c', 'd'].map((peer) => ({ peer, offsetMs: 0.2, errorMs: 0.3, rttMs: 0.6, samples: 4 }))]);
  t.ok(Math.abs(s.selfOffsetMs) < 1, `self offset ${s.selfOffsetMs}`);
  t.equal(s.skewMs, 2000);
  t.equal(s.errorMs, null, 'one-way only somewhere: no overall bound');
  t.same(summarise([]).skewMs, 0);
});

t.test('step detector: slews within 500 ppm are not steps; a jump beyond the threshold is, with its size', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.double({ min: 1, max: 2000, noNaN: true }), fc.double({ min: -0.5, max: 0.5, noNaN: true })), { minLength: 2, maxLength: 40 }),
      fc.integer({ min: 0, max: 39 }),
      fc.double({ min: 6, max: 20_000, noNaN: true }),
      fc.boolean(),
      (steps, at, size, forward) => {
        const d = new StepDetector({ thresholdMs: 5 });
        let mono = 1000;
        let wall = 1_700_000_000_000;
        const jump = forward ? size : -size;
        const where = at % steps.length;
        d.observe(mono, wall);
        for (let i = 0; i < steps.length; i++) {
          const [dt, slewPerSec] = steps[i]!;
          mono += dt;
          wall += dt + (slewPerSec * dt) / 1000; // slew <= 500 ppm
          if (i === where) wall += jump;
          const r = d.observe(mono, wall);
          if (i === where) {
            const allowed = 5 + 0.0005 * dt;
            const expectSeen = size > allowed + 0.5 * dt / 1000;
            if (expectSeen && (!r || Math.abs(r.stepMs - jump) > 1 + dt / 1000)) return false;
          } else if (r) return false;
        }
        return true;
      },
    ),
  );
});

t.test('a stream of messages does not push the tightest one-way sample out of the window', async (t) => {
  const c = new GroupClock(); // 20 s window, 64 samples
  c.oneWay('p', 1_000_010, 1_000_000, 0); // a fast message: the bound +10 ms
  for (let i = 0; i < 20_000; i++) c.oneWay('p', 1_000_000 + 5000 + i * 0.05, 1_000_000 + 5000 + i * 0.05 + 30, 5000 + i * 0.05); // then 20k slow ones (-30 ms) within 1 s
  const e = c.estimate('p', 6100)!;
  t.equal(e.offsetMs, 10, 'the fast sample still bounds the offset');
  t.ok(e.samples <= 64, `samples kept: ${e.samples}`);
  c.oneWay('p', 2_000_000, 2_000_000 - 50, 6101); // a tighter one later, within the same slot as nothing: its own
  t.equal(c.estimate('p', 6200)!.offsetMs, 50, 'a tighter later sample wins');
  t.equal(c.estimate('p', 20_100)!.offsetMs, 50, 'the first one has left the window');
});
