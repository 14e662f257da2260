/**
 * RIAPS acceptance scenarios 4, 10, 11, 12 and 13 (docs: riaps-reference.md §7)
 * over real ZeroMQ, with several `cohort agent` processes on loopback, observed
 * through their HTTP status and event log. Timer preset `lan`; bounds are loose
 * (they prove behaviour, not speed).
 */
import t from 'tap';
import { startCluster, waitFor, type AgentStatus, type LoggedEvent } from './agent-cluster.js';

const G = 'G.a';
type Asserts = Pick<typeof t, 'equal' | 'ok' | 'same' | 'fail'>;
const LAN = { heartbeat: 200, electionMin: 500, electionMax: 800, peerTimeout: 1200, consensusTimeout: 1000 };

function checkStatusContract(t: Asserts, s: AgentStatus, node: string): void {
  t.equal(s.node, node, 'status.node');
  t.ok(Array.isArray(s.groups), 'status.groups is an array');
  const g = s.groups.find((x) => x.group === G);
  if (!g) {
    t.fail(`status of ${node} has no ${G}`);
    return;
  }
  t.equal(typeof g.group, 'string', 'group: string');
  t.equal(g.memberId, `${node}/agent`, 'memberId: <node>/agent');
  t.ok(['leader', 'follower', 'candidate'].includes(g.role), `role is leader|follower|candidate (${g.role})`);
  t.ok(Number.isInteger(g.term) && g.term >= 1, 'term: whole number >= 1 once elected');
  t.equal(typeof g.leader, 'string', 'leader: string (member id) once elected');
  t.ok(Array.isArray(g.members) && g.members.every((m) => typeof m === 'string'), 'members: string[]');
  t.equal(g.minSize, 2, 'minSize: number');
  t.same(g.timers, LAN, 'timers: {heartbeat, electionMin, electionMax, peerTimeout, consensusTimeout} (lan preset)');
  for (const k of Object.keys(LAN)) t.equal(typeof (g.timers as unknown as Record<string, unknown>)[k], 'number', `timers.${k}: number`);
}

t.test('3 agents form one group with one leader; a late 4th learns it without a term change', async (t) => {
  const c = await startCluster(t, [{}, {}, {}, { deferStart: true }], { defaults: { autoVote: 'yes' } });
  const formed = await c.waitForCommonLeader(G, { among: [0, 1, 2], members: 3, timeoutMs: 15_000 });
  t.comment(`3 agents agree on leader ${formed.leader} (term ${formed.term})`);
  const ids = [0, 1, 2].map((i) => c.memberId(i));
  t.ok(ids.includes(formed.leader), 'the leader is one of the members');

  // Scenario 4/10: everyone agrees, exactly one leader role, all see all.
  const statuses = await c.statuses([0, 1, 2]);
  const roles = statuses.map((s) => s.groups.find((g) => g.group === G)!.role);
  t.equal(roles.filter((r) => r === 'leader').length, 1, 'exactly one agent has role leader');
  statuses.forEach((s, i) => {
    const g = s.groups.find((x) => x.group === G)!;
    t.same(g.members, [...ids].sort(), `${s.node} lists all 3 members`);
    t.equal(g.role, g.leader === g.memberId ? 'leader' : 'follower', `${s.node}'s role matches the leader it reports`);
    checkStatusContract(t, s, c.agent(i).node);
  });

  // Every member gets memberJoined for all 3, its own included, and leaderElected(L).
  for (const i of [0, 1, 2]) {
    const evs = await c.events(i);
    const joined = new Set(evs.filter((e) => e.group === G && e.type === 'memberJoined').map((e) => e.subject));
    t.same([...joined].sort(), [...ids].sort(), `${c.agent(i).node}: memberJoined for all 3 members, itself included`);
    const elected = evs.filter((e) => e.group === G && e.type === 'leaderElected');
    t.ok(elected.length >= 1, `${c.agent(i).node}: got leaderElected`);
    t.equal(elected[elected.length - 1]?.leader, formed.leader, `${c.agent(i).node}: last leaderElected names the common leader`);
  }

  // Scenario 13: the late joiner learns the existing leader; the term does not change.
  const before = await Promise.all([0, 1, 2].map((i) => c.lastSeq(i)));
  await c.start(3);
  const late = await c.waitForEvent(3, (e) => e.group === G && e.type === 'leaderElected', 10_000, 0, 'leaderElected on the late joiner');
  const selfJoin = (await c.events(3)).find((e) => e.type === 'memberJoined' && e.subject === c.memberId(3))!;
  const learnMs = Math.round(late.at - selfJoin.at);
  t.comment(`late joiner: leaderElected(${late.leader}) ${learnMs} ms after it joined (RIAPS scenario 13: within heartbeat + 0.5 s = 700 ms)`);
  t.ok(learnMs < 2000, `the late joiner learns the leader promptly (${learnMs} ms; loose bound 2 s)`);
  t.equal(late.leader, formed.leader, 'the late joiner learns the existing leader');
  t.equal(late.term, formed.term, 'with the existing term');
  const all = await c.waitForCommonLeader(G, { members: 4, timeoutMs: 10_000 });
  t.equal(all.leader, formed.leader, 'leader unchanged after the 4th joined');
  t.equal(all.term, formed.term, 'term unchanged after the 4th joined');
  const lateJoined = new Set((await c.events(3)).filter((e) => e.type === 'memberJoined').map((e) => e.subject));
  t.same([...lateJoined].sort(), [0, 1, 2, 3].map((i) => c.memberId(i)).sort(), 'the late joiner gets memberJoined for all 4, itself included');
  for (const i of [0, 1, 2]) {
    const evs: LoggedEvent[] = await c.events(i, before[i]);
    t.ok(evs.some((e) => e.type === 'memberJoined' && e.subject === c.memberId(3)), `${c.agent(i).node} saw the 4th join`);
    t.notOk(evs.some((e) => e.type === 'leaderExited' || e.type === 'leaderElected'), `${c.agent(i).node}: no leader change when the 4th joined`);
  }
  for (const i of [0, 1, 2, 3]) t.same(c.loggedErrors(i), [], `${c.agent(i).node} logged no errors`);
});

t.test('2 agents with min-size 2 elect a leader (RIAPS B5: never)', async (t) => {
  const c = await startCluster(t, 2, { defaults: { minSize: 2 } });
  const r = await c.waitForCommonLeader(G, { members: 2, timeoutMs: 15_000 });
  t.ok([c.memberId(0), c.memberId(1)].includes(r.leader), `leader ${r.leader} (term ${r.term}) after ${r.ms} ms`);
});

t.test('1 agent with min-size 1 elects itself', async (t) => {
  const c = await startCluster(t, [{ minSize: 1 }]);
  const r = await c.waitForCommonLeader(G, { members: 1, timeoutMs: 10_000 });
  t.equal(r.leader, c.memberId(0), 'the single member leads');
  const g = r.statuses[0]!.groups[0]!;
  t.equal(g.role, 'leader');
  t.ok(g.term >= 1, 'term >= 1');
});

t.test('min-size 4: 3 agents elect no leader; a 4th makes a leader', async (t) => {
  const c = await startCluster(t, [{}, {}, {}, { deferStart: true }], { defaults: { minSize: 4 } });
  // Everyone sees everyone, yet nobody leads: watch for several election timeouts (electionMax 800 ms).
  await waitFor(async () => (await c.statuses([0, 1, 2])).every((s) => s.groups[0]!.members.length === 3), 10_000, '3 members seen everywhere');
  const watchUntil = performance.now() + 3000;
  while (performance.now() < watchUntil) {
    const st = await c.statuses([0, 1, 2]);
    const leaders = st.map((s) => s.groups[0]!.leader).filter((l) => l !== null);
    if (leaders.length > 0) {
      t.fail(`a leader appeared with 3 members and min-size 4: ${JSON.stringify(leaders)}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const i of [0, 1, 2]) {
    const evs = await c.events(i);
    t.notOk(evs.some((e) => e.type === 'leaderElected'), `${c.agent(i).node}: no leaderElected with 3 of min-size 4`);
  }
  await c.start(3);
  const r = await c.waitForCommonLeader(G, { members: 4, timeoutMs: 15_000 });
  t.comment(`with the 4th member: leader ${r.leader} (term ${r.term}) ${r.ms} ms after it started`);
  t.ok(r.leader.endsWith('/agent'), 'a leader is elected once 4 members are up');
});
