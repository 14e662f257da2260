/**
 * The shared test-support module (test/support/): the one definition of "one leader"
 * that every harness uses, and the one waitFor.
 */
import t from 'tap';
import { commonLeader, judgeLeader } from '../support/leader.js';
import { until, waitFor } from '../support/wait.js';

const view = (name: string, role: string, leader: string | null, term: number) => ({ name, memberId: `${name}/agent`, role, leader, term });

t.test('one leader: same leader id and term on every member, and the leader says it leads', async (t) => {
  const ok = [view('a', 'leader', 'a/agent', 3), view('b', 'follower', 'a/agent', 3), view('c', 'follower', 'a/agent', 3)];
  t.same(commonLeader(ok), { leader: 'a/agent', term: 3 });
  t.equal(commonLeader([view('a', 'leader', 'a/agent', 3), view('b', 'follower', 'a/agent', 2)]), null, 'terms differ: not agreed');
  t.match(judgeLeader([view('a', 'leader', 'a/agent', 3), view('b', 'follower', 'a/agent', 2)]).problems, [/disagree on the term/]);
  t.equal(commonLeader([view('a', 'leader', 'a/agent', 3), view('b', 'follower', 'b/agent', 3)]), null, 'leaders differ');
  t.match(judgeLeader([view('a', 'follower', 'a/agent', 3), view('b', 'follower', 'a/agent', 3)]).problems, [/a is named leader but reports role follower/], 'the named leader must lead');
  t.equal(commonLeader([view('a', 'follower', null, 3), view('b', 'follower', null, 3)]), null, 'nobody has a leader');
  t.equal(commonLeader([]), null, 'nobody looked at');
  const without = [view('b', 'follower', 'a/agent', 3), view('c', 'follower', 'a/agent', 3)];
  t.same(commonLeader(without), { leader: 'a/agent', term: 3 }, 'a leader outside the looked-at members counts (a cluster looks at some hosts)...');
  t.equal(commonLeader(without, { leaderAmong: true }), null, '...unless it must be among them (the simulator looks at all)');
});

t.test('waitFor returns the first truthy value, retries a throwing probe, and names what timed out', async (t) => {
  let n = 0;
  t.equal(await waitFor(() => (++n >= 3 ? n : null), 5000, 'n', { intervalMs: 1 }), 3);
  let m = 0;
  t.equal(await waitFor(() => { if (++m < 2) throw new Error('not yet'); return 'ok'; }, 5000, 'm', { intervalMs: 1 }), 'ok');
  await t.rejects(waitFor(() => { throw new Error('still broken'); }, 30, 'the broken thing', { intervalMs: 5 }), /timed out after 30 ms waiting for the broken thing \(last error: still broken\)/);
  let pokes = 0;
  let ready = false;
  const ms = await until('a poke to help', () => ready, 5000, { intervalMs: 1, poke: () => { pokes++; ready = pokes >= 2; } });
  t.equal(pokes, 2, 'poke runs after each probe that did not hold');
  t.ok(ms >= 0, `until reports the time it took (${ms.toFixed(1)} ms)`);
});
