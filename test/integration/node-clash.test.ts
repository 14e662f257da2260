/**
 * Two agents under one node id (docs: README "Node ids"). Member ids are
 * `<node>/<component>`, so the second agent's member would merge into the first
 * one's board; instead the later agent detects the clash, logs it as an error naming
 * both direct endpoints, shows it in status, and does not join under that id.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { groupOf, startCluster, type AgentStatus } from './agent-cluster.js';

const G = 'G.a';
const PEER_TIMEOUT = 1200; // lan preset
const ep = (port: number) => `tcp://127.0.0.1:${port}`;

t.test('a later agent with a node id already in use does not join under it', async (t) => {
  const c = await startCluster(t, [{ node: 'dup' }, { node: 'n2' }, { node: 'n3' }, { node: 'dup', deferStart: true }], { defaults: { autoVote: 'yes' } });
  const before = await c.waitForCommonLeader(G, { among: [0, 1, 2], members: 3, timeoutMs: 15_000 });
  t.comment(`formed: leader ${before.leader}, term ${before.term}`);
  const stale0 = before.statuses.map((s) => groupOf(s, G)!.counters.staleDropped);

  await c.start(3);
  const b = await c.waitFor(async () => {
    const s = await c.status(3);
    return s.clashes.length > 0 ? s : null;
  }, 10_000, 'B to report the clash');
  const [clash] = b.clashes;
  t.match(clash, { group: G, memberId: 'dup/agent', ownEndpoint: ep(c.agent(3).directPort), otherEndpoint: ep(c.agent(0).directPort), outcome: 'refused' }, 'B status names the clash and both endpoints');
  t.ok(typeof clash!.since === 'number' && clash!.since > 0, 'since: wall-clock ms');
  t.equal(groupOf(b, G), undefined, 'B hosts no member of the group');
  const errors = await c.waitFor(() => {
    const e = c.loggedErrors(3).filter((l) => l.includes('node id clash'));
    return e.length ? e : null;
  }, 5000, 'the clash error in B log');
  t.ok(errors[0]!.includes(ep(c.agent(3).directPort)) && errors[0]!.includes(ep(c.agent(0).directPort)), 'the error line names both endpoints');

  await sleep(2 * PEER_TIMEOUT);
  const after = await c.waitForCommonLeader(G, { among: [0, 1, 2], members: 3, timeoutMs: 5000 });
  t.equal(after.leader, before.leader, 'the leader is unchanged');
  t.equal(after.term, before.term, 'no election happened');
  after.statuses.forEach((s: AgentStatus, k) => {
    const g = groupOf(s, G)!;
    t.same(g.members.sort(), ['dup/agent', 'n2/agent', 'n3/agent'], `${s.node}: the same three members`);
    t.equal(g.counters.staleDropped, stale0[k], `${s.node}: no incarnation flapping`);
  });
  t.same((await c.status(0)).clashes, [], 'A never heard B speak under its id');
  t.ok(c.agent(3).alive, 'B keeps running (its other work is unaffected)');
});

t.test('two agents with one node id started together: exactly one member survives', async (t) => {
  const c = await startCluster(t, [{ node: 'twin' }, { node: 'twin' }, { node: 'm2' }, { node: 'm3' }], { defaults: { autoVote: 'yes' } });
  const clashed = await c.waitFor(async () => {
    const ss = await c.statuses([0, 1]);
    const hosting = ss.filter((s) => groupOf(s, G));
    return hosting.length === 1 && ss.some((s) => s.clashes.some((x) => x.outcome !== 'kept')) ? ss : null;
  }, 15_000, 'one twin to give way');
  const loser = clashed.find((s) => !groupOf(s, G))!;
  t.comment(`the twin on ${loser.endpoints.direct} gave way: ${JSON.stringify(loser.clashes)}`);
  t.ok(['refused', 'stopped'].includes(loser.clashes[0]!.outcome));
  t.not(loser.clashes[0]!.otherEndpoint, loser.endpoints.direct);
  await sleep(2 * PEER_TIMEOUT);
  const winner = clashed.indexOf(clashed.find((s) => groupOf(s, G))!);
  const formed = await c.waitForCommonLeader(G, { among: [winner, 2, 3], members: 3, timeoutMs: 10_000 });
  t.comment(`group: leader ${formed.leader}, term ${formed.term}`);
  t.ok(c.agent(0).alive && c.agent(1).alive, 'both processes keep running');
});
