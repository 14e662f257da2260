/**
 * Timers that adapt, end to end (3 agent processes, `lan` timers, adaptation on):
 * - the stall case (each component blocks its loop 700 ms every 3 s while its
 *   member leads): once the timers have adapted the leadership stays put (loosely: at most
 *   one change after the first 25 s of a 50 s run; fixed timers change ~27 times a minute,
 *   see `npm run bench:stall`);
 * - a healthy leader's crash is still detected within lan's bound while its followers run
 *   scaled-up timers (they stall while following): they judge the leader by the timers it
 *   advertises, not by their own.
 */
import t from 'tap';
import { runStall, stallCluster } from './stall-scenario.js';

t.test('stall case with adaptive timers: the leadership settles', async (t) => {
  const run = await runStall({ adapt: true, durationMs: 50_000 });
  const late = run.changes.filter((c) => c >= 25_000);
  t.comment(`leader changes at ${run.changes.map((c) => (c / 1000).toFixed(1)).join(', ')} s; final timer scales ${run.scales.join(', ')}`);
  t.ok(late.length <= 1, `at most one leader change after the first 25 s (${late.length})`);
  t.ok(run.scales.some((s) => s > 1), 'the stalling leader runs scaled-up timers');
});

t.test("a healthy leader's crash is detected within lan's bound by followers with scaled-up timers", async (t) => {
  const cluster = await stallCluster({ adapt: true, while: 'following', blockMs: 700, everyMs: 10_000 });
  t.teardown(() => cluster.close());
  const first = await cluster.waitForCommonLeader('Stall.a', { members: 3, timeoutMs: 30_000 }, 'worker');
  // Wait for the followers' first stall (within 10 s) to scale their timers.
  const leaderIdx = cluster.indexOf(first.leader);
  const followers = cluster.live().filter((i) => i !== leaderIdx);
  await cluster.waitFor(async () => {
    const scales = await Promise.all(followers.map(async (i) => (await cluster.status(i)).groups.find((g) => g.group === 'Stall.a')?.timerProfile?.scale ?? 1));
    return scales.every((s) => s >= 4);
  }, 20_000, 'the followers to scale their timers');
  const leaderScale = (await cluster.status(leaderIdx)).groups.find((g) => g.group === 'Stall.a')?.timerProfile?.scale;
  t.equal(leaderScale, 1, 'the leader itself is healthy (x1)');
  const t0 = performance.now();
  await cluster.kill(leaderIdx, 'SIGKILL');
  const next = await cluster.waitForCommonLeader('Stall.a', { exclude: [first.leader], timeoutMs: 20_000 }, 'worker');
  const ms = performance.now() - t0;
  // lan: heartbeat 200 + electionMax 800 + a pre-vote round; the followers' own x4 timers would need >= 2000.
  t.ok(ms < 1900, `new leader ${next.leader} ${Math.round(ms)} ms after the kill (followers' own electionMin is 2000 ms)`);
});
