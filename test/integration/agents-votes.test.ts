/**
 * RIAPS acceptance scenarios 21, 22, 23, 25 and 26 (riaps-reference.md §7) over
 * real ZeroMQ with `cohort agent` processes: votes are requested through
 * POST /groups/G.a/vote|action, members answer with --auto-vote, and every
 * member's view is read back from GET /events. Timer preset `lan`
 * (consensusTimeout 1000 ms); bounds are loose.
 */
import t from 'tap';
import { startCluster, waitFor, type AgentCluster, type LoggedEvent } from './agent-cluster.js';

const G = 'G.a';

interface Tally {
  yes: number;
  no: number;
  voters: number;
}

/** Wait until every live agent logged an event of `type` for `ballotId`; returns them by agent index. */
function onAll(c: AgentCluster, type: string, ballotId: string, timeoutMs: number, among = c.live()): Promise<Map<number, LoggedEvent>> {
  return c.onAll(type, ballotId, timeoutMs, among);
}

/** A follower of the formed group (requests from a follower travel to the leader). */
async function formedFollower(c: AgentCluster): Promise<{ follower: number; leader: string }> {
  const f = await c.waitForCommonLeader(G, { members: c.live().length, timeoutMs: 20_000 });
  return { follower: c.live().find((i) => c.memberId(i) !== f.leader)!, leader: f.leader };
}

t.test('3 agents voting yes: majority and consensus pass everywhere; an agreed action fires on every agent at one instant', async (t) => {
  const c = await startCluster(t, 3, { defaults: { autoVote: 'yes' } });
  const { follower } = await formedFollower(c);
  const ids = c.live().map((i) => c.memberId(i));

  for (const kind of ['majority', 'consensus'] as const) {
    const r = await c.post<{ ballotId: string }>(follower, `/groups/${G}/vote`, { topic: `all yes ${kind}`, kind });
    t.equal(r.status, 200, `${kind}: POST vote answers 200`);
    const ballotId = r.body.ballotId;
    t.match(ballotId, new RegExp(`^${c.memberId(follower)}#\\d+\\.\\d+$`), `${kind}: ballot id <member>#<incarnation>.<seq>`);
    const requests = await onAll(c, 'voteRequest', ballotId, 5000);
    for (const [i, e] of requests) {
      t.equal(e.topic, `all yes ${kind}`, `${c.agent(i).node}: voteRequest carries the topic`);
      t.equal(e.requester, c.memberId(follower), `${c.agent(i).node}: voteRequest names the requester`);
      t.equal(e.canVote, true, `${c.agent(i).node}: can vote`);
    }
    const results = await onAll(c, 'voteResult', ballotId, 5000);
    for (const [i, e] of results) {
      t.equal(e.outcome, 'yes', `${kind}: 'yes' on ${c.agent(i).node}`);
      t.equal(e.kind, kind, `${kind}: result kind`);
    }
    const tally = results.get(follower)!.tally as Tally;
    t.equal(tally.voters, 3, `${kind}: 3 voters`);
    if (kind === 'consensus') t.equal(tally.yes, 3, 'consensus: all 3 voted yes');
    else t.ok(tally.yes >= 2, `majority: decided once yes reached a majority (${tally.yes} of 3)`);
  }

  // Scenario 26: action vote (consensus by default) at an agreed instant.
  const inMs = 2500;
  const r = await c.post<{ ballotId: string; when: number }>(follower, `/groups/${G}/action`, { action: 'blink the LED', inMs });
  t.equal(r.status, 200, 'POST action answers 200');
  const { ballotId, when } = r.body;
  t.ok(Math.abs(when - (Date.now() + inMs)) < 1000, 'when = now + inMs');
  const requests = await onAll(c, 'voteRequest', ballotId, 5000);
  for (const [i, e] of requests) {
    t.equal(e.subject, 'action', `${c.agent(i).node}: action vote request`);
    t.equal(e.when, when, `${c.agent(i).node}: identical when`);
    t.equal(e.kind, 'consensus', `${c.agent(i).node}: action votes default to consensus`);
  }
  const results = await onAll(c, 'voteResult', ballotId, 5000);
  for (const [i, e] of results) {
    t.equal(e.outcome, 'yes', `${c.agent(i).node}: action vote passed`);
    t.ok(e.at < when, `${c.agent(i).node}: result ${Math.round(when - e.at)} ms before the instant`);
  }
  const fired = await onAll(c, 'action', ballotId, when - Date.now() + 5000);
  const errors: string[] = [];
  for (const [i, e] of fired) {
    t.equal(e.when, when, `${c.agent(i).node}: fired for the agreed instant`);
    t.ok((e.firedAt as number) >= when, `${c.agent(i).node}: not early`);
    t.ok(Math.abs(e.errorMs as number) < 100, `${c.agent(i).node}: firing error small (${e.errorMs} ms)`);
    errors.push(`${c.agent(i).node} ${(e.errorMs as number).toFixed(2)} ms`);
  }
  const firedAts = [...fired.values()].map((e) => e.firedAt as number);
  t.comment(`ACTION firing error per agent (firedAt - when): ${errors.join(', ')}; spread ${(Math.max(...firedAts) - Math.min(...firedAts)).toFixed(2)} ms`);
  for (const i of c.live()) {
    const st = await c.status(i);
    t.equal(typeof st.groups[0]!.lastActionErrorMs, 'number', `${c.agent(i).node}: status reports lastActionErrorMs`);
  }
  t.same(new Set(ids), new Set(c.live().map((i) => c.memberId(i))), 'nobody left during the test');
  for (const i of c.live()) t.same(c.loggedErrors(i), [], `${c.agent(i).node} logged no errors`);
});

t.test('one agent voting no: consensus is no everywhere, majority still yes, and a refused action never fires', async (t) => {
  const c = await startCluster(t, [{ autoVote: 'yes' }, { autoVote: 'yes' }, { autoVote: 'no' }]);
  const { follower } = await formedFollower(c);

  const cons = await c.postOk<{ ballotId: string }>(follower, `/groups/${G}/vote`, { topic: 'one says no', kind: 'consensus' });
  const consResults = await onAll(c, 'voteResult', cons.ballotId, 5000);
  for (const [i, e] of consResults) t.equal(e.outcome, 'no', `consensus: 'no' on ${c.agent(i).node}`);
  t.ok((consResults.get(follower)!.tally as Tally).no >= 1, 'the tally has the no');

  const maj = await c.postOk<{ ballotId: string }>(follower, `/groups/${G}/vote`, { topic: 'majority with one no', kind: 'majority' });
  const majResults = await onAll(c, 'voteResult', maj.ballotId, 5000);
  for (const [i, e] of majResults) t.equal(e.outcome, 'yes', `majority (2 yes of 3): 'yes' on ${c.agent(i).node}`);

  const act = await c.postOk<{ ballotId: string; when: number }>(follower, `/groups/${G}/action`, { action: 'do not do it', inMs: 2000 });
  const actResults = await onAll(c, 'voteResult', act.ballotId, 5000);
  for (const [i, e] of actResults) t.equal(e.outcome, 'no', `action vote: 'no' on ${c.agent(i).node}`);
  // Wait past the instant (plus margin): nobody may run the refused action.
  await new Promise((r) => setTimeout(r, Math.max(0, act.when - Date.now()) + 500));
  for (const i of c.live()) {
    const evs = await c.events(i);
    t.notOk(evs.some((e) => e.type === 'action' && e.ballotId === act.ballotId), `${c.agent(i).node}: the refused action did not fire`);
    t.equal((await c.status(i)).groups[0]!.lastActionErrorMs, null, `${c.agent(i).node}: no action ever fired`);
  }
});

t.test('a silent member: consensus times out within the poll timeout (+ slack), with and without timeoutMs', async (t) => {
  const c = await startCluster(t, [{ autoVote: 'yes' }, { autoVote: 'yes' }, { autoVote: 'abstain' }]);
  const { follower } = await formedFollower(c);

  for (const [timeoutMs, lo, hi] of [
    [800, 780, 3000],
    [undefined, 980, 3000], // consensusTimeout of the lan preset: 1000 ms
  ] as const) {
    const t0 = Date.now();
    const r = await c.postOk<{ ballotId: string }>(follower, `/groups/${G}/vote`, { topic: 'silent member', kind: 'consensus', ...(timeoutMs ? { timeoutMs } : {}) });
    const results = await onAll(c, 'voteResult', r.ballotId, 6000);
    const lags: string[] = [];
    for (const [i, e] of results) {
      t.equal(e.outcome, 'timeout', `timeoutMs ${timeoutMs ?? 'default'}: 'timeout' on ${c.agent(i).node}`);
      const ms = Math.round(e.at - t0);
      lags.push(`${c.agent(i).node} ${ms} ms`);
      t.ok(ms >= lo && ms <= hi, `timeoutMs ${timeoutMs ?? 'default (1000)'}: result on ${c.agent(i).node} after ${ms} ms, within ${lo}..${hi} ms`);
    }
    t.comment(`silent member, timeoutMs ${timeoutMs ?? 'default'}: 'timeout' after ${lags.join(', ')}`);
    const tally = results.get(follower)!.tally as Tally;
    t.equal(tally.yes, 2, 'the two voters said yes');
  }

  // The leader dies with the poll open: every surviving member still gets a definite result.
  const { leader } = await formedFollower(c);
  const asker = c.live().find((i) => c.memberId(i) !== leader)!;
  const t0 = Date.now();
  const r = await c.postOk<{ ballotId: string }>(asker, `/groups/${G}/vote`, { topic: 'leader dies', kind: 'consensus', timeoutMs: 2000 });
  await onAll(c, 'voteRequest', r.ballotId, 5000);
  await c.kill(c.indexOf(leader), 'SIGKILL');
  const survivors = c.live();
  const results = await onAll(c, 'voteResult', r.ballotId, 8000, survivors);
  for (const [i, e] of results) {
    t.equal(e.outcome, 'timeout', `leader killed mid-poll: 'timeout' on ${c.agent(i).node} after ${Math.round(e.at - t0)} ms`);
    t.ok(e.at - t0 < 2000 + 200 + 2000, `${c.agent(i).node}: no later than timeoutMs + heartbeat grace (+ slack)`);
  }
});

t.test('no leader (1 agent, min-size 2): vote and action answer 409 NoLeaderError; group messages still work', async (t) => {
  const c = await startCluster(t, [{ minSize: 2, autoVote: 'yes' }]);
  await waitFor(async () => (await c.status(0)).groups[0]?.members.length === 1, 5000, 'the agent to join');
  await new Promise((r) => setTimeout(r, 1000)); // more than an election timeout: still no leader
  t.equal((await c.status(0)).groups[0]!.leader, null, 'no leader with 1 of min-size 2');

  const vote = await c.post<{ error: string; message: string }>(0, `/groups/${G}/vote`, { topic: 'anyone?' });
  t.equal(vote.status, 409, 'vote: HTTP 409');
  t.equal(vote.body.error, 'NoLeaderError', 'vote: NoLeaderError');
  t.match(vote.body.message, /no leader/);
  const action = await c.post<{ error: string }>(0, `/groups/${G}/action`, { action: 'x', inMs: 3000 });
  t.equal(action.status, 409, 'action: HTTP 409');
  t.equal(action.body.error, 'NoLeaderError', 'action: NoLeaderError');
  const bad = await c.post<{ error: string }>(0, `/groups/${G}/vote`, { topic: 'x', kind: 'plurality' });
  t.equal(bad.status, 400, 'a bad kind is HTTP 400');
  t.equal(bad.body.error, 'BadArgumentsError');
  const unknown = await c.post(0, '/groups/G.nope/vote', { topic: 'x' });
  t.equal(unknown.status, 404, 'a group the agent is not in is HTTP 404');

  const evs = await c.events(0);
  t.notOk(evs.some((e) => e.type === 'voteRequest' || e.type === 'voteResult'), 'no vote callbacks fired');

  // Scenario 9: a leaderless group still delivers messages (here to the sender itself).
  const send = await c.post(0, `/groups/${G}/send`, { object: { hello: 'nobody leads' } });
  t.equal(send.status, 200, 'send works without a leader');
  const msg = await c.waitForEvent(0, (e) => e.type === 'message', 3000);
  t.equal(msg.from, c.memberId(0), 'delivered to the sender itself');
});
