/**
 * Bounded fuzzing (a few seconds per mode): random, truncated and mutated frames, including
 * mutated envelopes captured from the group's own bus, on an agent's bus and direct channel.
 * The agent stays up, keeps its member in the group with a leader, and its RSS stays
 * bounded; in secure mode the whole group keeps its leader and term. (In plaintext, replayed
 * frames claiming another agent's member id make that agent stop its member as a node-id
 * clash, by design: README "Node ids"; that is what secure mode prevents.) The long run is `npm run fuzz -- --frames N`.
 */
import t from 'tap';
import { runFuzz } from '../fuzz/fuzzer.js';

for (const secure of [false, true]) {
  t.test(`fuzz, security ${secure ? 'on' : 'off'}: 30 000 frames`, async (t) => {
    const r = await runFuzz(t, { secure, frames: 30_000, seed: 7, rate: 15_000, log: (l) => t.comment(l) });
    t.comment(JSON.stringify(r));
    t.ok(r.alive, 'every agent is still running');
    t.ok(r.targetAfter?.leader, `the fuzzed agent keeps its member in the group, with a leader (${JSON.stringify(r.targetAfter)})`);
    if (secure) {
      t.ok(r.after, 'the group has a common leader with every member');
      t.equal(r.after?.leader, r.before.leader, 'security on: the leader is unchanged');
      t.equal(r.after?.term, r.before.term, 'security on: the term is unchanged');
    }
    const grew = (r.rssAfter ?? 0) - (r.rssBefore ?? 0);
    t.ok(grew < 100 * 1024 * 1024, `RSS bounded: ${Math.round((r.rssBefore ?? 0) / 1e6)} -> ${Math.round((r.rssAfter ?? 0) / 1e6)} MB`);
  });
}
