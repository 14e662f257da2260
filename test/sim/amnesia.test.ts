/**
 * The amnesiac's quarantine (docs/protocol.md §4.4) against ids nobody admitted. Seed 3477 of
 * the 10,000-seed sweep: every real member down or amnesiac, forged traffic from strangers
 * armed the amnesiac's quarantine, it ended with a floor learned from nobody, and the first
 * real member back (with an older term) got a second vote in a term the amnesiac had voted in.
 */
import t from 'tap';
import { runSeed } from './run.js';
import { amnesiacAmongPhantoms } from './scenarios.js';

t.test('seed 3477 (phantoms arm an amnesiac quarantine) replays without a violation', async (t) => {
  const r = runSeed(3477);
  t.same(r.violations.map((v) => `[${v.rule}] at ${v.t}: ${v.text}`), [], 'no violation');
});

t.test('phantoms heart-beating to an amnesiac do not end its quarantine; a real member that answers does', async (t) => {
  const { sim, amnesiac, returning } = amnesiacAmongPhantoms(undefined);
  t.same(sim.checker.violations.map((v) => `[${v.rule}] ${v.text}`), [], 'no violation (one vote per term across the amnesia)');
  const m = sim.member(amnesiac);
  t.ok(sim.member(returning).term() > 2 || m.leader() !== null, `the group recovers (${returning} term ${sim.member(returning).term()}, ${amnesiac} follows ${m.leader()})`);
  t.ok(sim.up().some((i) => i.member.role() === 'leader'), 'a leader is elected once a real member is back');
});
