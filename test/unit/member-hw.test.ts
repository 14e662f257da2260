/**
 * The core's side of the hardware layer (rule tests, messages injected by hand): peers
 * judged by the timers they advertise, setTimers, handOver, and a no vote's reason
 * reaching the result.
 */
import t from 'tap';
import { GroupMember } from '../../agent/core/member.js';
import type { AppEvent, Instant, Output } from '../../agent/core/events.js';
import { PROTOCOL_VERSION, type Body, type Envelope } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS, type TimerSettings } from '../../agent/core/timers.js';

const G = 'G.1';
const at = (mono: number): Instant => ({ mono, wall: 1_700_000_000_000 + mono });
const fixed = { next: () => 0.5 };
const X4: TimerSettings = { heartbeat: 4000, electionMin: 6000, electionMax: 8000, peerTimeout: 12000, consensusTimeout: 1500 };

function member(id: string, timers = DEFAULT_TIMERS, minSize = 2) {
  const m = new GroupMember({ group: G, id, incarnation: 1, minSize, timers, random: fixed });
  m.start(at(0));
  m.takeOutputs();
  return m;
}
const env = (from: string, term: number, body: Body, to = ''): Envelope => ({ version: PROTOCOL_VERSION, group: G, from, incarnation: 1, term, to, body });
const sends = (out: Output[]) => out.flatMap((o) => (o.type === 'send' ? [o.envelope] : []));
const events = (out: Output[]) => out.flatMap((o) => (o.type === 'event' ? [o.event] : []));
const leaderHb = (from: string, term: number, voters: string[], timers: TimerSettings) =>
  env(from, term, { type: 'leaderHeartbeat', config: { term, version: 1, voters }, committedVersion: 1, endpoint: '', timers, minSize: 2, sentAt: 0 });
const memberHb = (from: string, timers: TimerSettings) => env(from, 0, { type: 'memberHeartbeat', timers, minSize: 2, sentAt: 0, leader: '', endpoint: '' });

t.test("a follower with scaled-up timers judges its healthy leader by the leader's timers", async (t) => {
  const b = member('b', X4);
  b.receive(leaderHb('a', 1, ['a', 'b', 'c'], DEFAULT_TIMERS), at(100));
  b.takeOutputs();
  b.tick(at(100 + 2000));
  const campaign = sends(b.takeOutputs()).find((e) => e.body.type === 'voteRequest');
  t.ok(campaign, "campaigns after the leader's electionMax (2000), not its own (8000)");
});

t.test('a follower gives a leader that advertises scaled-up timers their whole lease', async (t) => {
  const b = member('b');
  b.receive(leaderHb('a', 1, ['a', 'b', 'c'], X4), at(100));
  b.takeOutputs();
  b.tick(at(100 + 2100));
  t.notOk(sends(b.takeOutputs()).some((e) => e.body.type === 'voteRequest'), 'no campaign at its own electionMax');
  // A pre-vote from c within the leader's (scaled) lease is refused.
  b.receive(env('c', 1, { type: 'voteRequest', preVote: true, electionTerm: 2, configTerm: 1, configVersion: 1, proposedVoters: [], transfer: false }), at(100 + 5000));
  const reply = sends(b.takeOutputs()).find((e) => e.body.type === 'voteReply');
  t.equal(reply?.body.type === 'voteReply' && reply.body.granted, false, "within the leader's electionMin (6000): pre-vote refused");
  b.tick(at(100 + 7100));
  t.ok(sends(b.takeOutputs()).some((e) => e.body.type === 'voteRequest'), 'campaigns once the leader is silent past its own range');
});

t.test('a peer is gone after max(own peerTimeout, its advertised one)', async (t) => {
  const a = member('a');
  a.receive(memberHb('b', X4), at(10));
  a.tick(at(3100));
  t.equal(a.size(), 2, 'still there after our 3000');
  a.tick(at(12_100));
  t.equal(a.size(), 1, 'gone after its 12000');
  t.equal(a.advertisedTimers('b'), undefined, 'its timers forgotten with it');
});

t.test('setTimers applies at once and announces them in a heartbeat', async (t) => {
  const a = member('a');
  a.setTimers(X4, at(50));
  const hb = sends(a.takeOutputs()).find((e) => e.body.type === 'memberHeartbeat');
  t.same(hb?.body.type === 'memberHeartbeat' && hb.body.timers, X4);
  t.same(a.timers, X4);
});

/** A leader of a, b, c (bootstrap with pre-vote and vote granted by b). */
function leaderOfThree(): GroupMember {
  const a = member('a');
  a.receive(memberHb('b', DEFAULT_TIMERS), at(10));
  a.receive(memberHb('c', DEFAULT_TIMERS), at(10));
  a.tick(at(2000));
  const pre = sends(a.takeOutputs()).find((e) => e.body.type === 'voteRequest')!;
  const term = pre.body.type === 'voteRequest' ? pre.body.electionTerm : 0;
  a.receive(env('b', 0, { type: 'voteReply', preVote: true, electionTerm: term, granted: true }, 'a'), at(2001));
  a.takeOutputs();
  a.receive(env('b', term, { type: 'voteReply', preVote: false, electionTerm: term, granted: true }, 'a'), at(2002));
  a.takeOutputs();
  return a;
}

t.test('handOver: a leader sends TimeoutNow to a live voter only', async (t) => {
  const a = leaderOfThree();
  t.ok(a.isLeader());
  t.equal(a.handOver('zz', at(2100)), false, 'not a voter');
  const voters = a.config().voters;
  const target = voters.find((v) => v !== 'a')!;
  t.equal(a.handOver(target, at(2100)), true);
  const out = sends(a.takeOutputs());
  t.ok(out.some((e) => e.body.type === 'timeoutNow' && e.to === target), `TimeoutNow to ${target}`);
  const b = member('b');
  t.equal(b.handOver('a', at(10)), false, 'a follower cannot');
});

t.test("a no vote's reason reaches the result, for the voter and everyone", async (t) => {
  const a = leaderOfThree();
  const voters = a.config().voters;
  const ballotId = a.requestPoll({ topic: new Uint8Array([1]), kind: 'majority', subject: 'action', when: at(2100).wall + 5000, timeoutMs: 1000 }, at(2100));
  a.takeOutputs();
  a.vote(ballotId, false, at(2101), 'clock guard: this clock is 2000 ms off the group');
  for (const v of voters.filter((x) => x !== 'a')) {
    a.receive(env(v, a.term(), { type: 'memberVote', ballotId, yes: false, reason: `clock guard: ${v} too` }, 'a'), at(2102));
  }
  const out = a.takeOutputs();
  const result = sends(out).find((e) => e.body.type === 'pollResult');
  const refusals = result?.body.type === 'pollResult' ? result.body.refusals : undefined;
  t.same(refusals?.[0], { member: 'a', reason: 'clock guard: this clock is 2000 ms off the group' }, 'broadcast in the PollResult');
  const ev = events(out).find((e): e is Extract<AppEvent, { type: 'voteResult' }> => e.type === 'voteResult');
  t.equal(ev?.outcome, 'no');
  t.ok(ev?.refusals && ev.refusals.length >= 1 && ev.refusals[0]!.member === 'a', 'and in the voteResult event');
  // A follower's no goes out with its reason.
  const b = member('b');
  b.receive(leaderHb('a', 1, ['a', 'b'], DEFAULT_TIMERS), at(10));
  b.receive(env('a', 1, { type: 'ballot', ballotId: 'a#1.9', topic: new Uint8Array([1]), kind: 'majority', subject: 'action', when: at(10).wall + 5000, timeoutMs: 1000, requester: 'a', voters: ['a', 'b'], remainingMs: 1000 }), at(20));
  b.takeOutputs();
  b.vote('a#1.9', false, at(30), 'clock guard: unsynchronised');
  const vote = sends(b.takeOutputs()).find((e) => e.body.type === 'memberVote');
  t.same(vote?.body, { type: 'memberVote', ballotId: 'a#1.9', yes: false, reason: 'clock guard: unsynchronised' });
  const c = member('c');
  c.receive(leaderHb('a', 1, ['a', 'c'], DEFAULT_TIMERS), at(10));
  c.receive(env('a', 1, { type: 'ballot', ballotId: 'a#1.10', topic: new Uint8Array([1]), kind: 'majority', subject: 'action', when: at(10).wall + 5000, timeoutMs: 1000, requester: 'a', voters: ['a', 'c'], remainingMs: 1000 }), at(20));
  c.takeOutputs();
  c.vote('a#1.10', true, at(30), 'ignored');
  const yes = sends(c.takeOutputs()).find((e) => e.body.type === 'memberVote');
  t.same(yes?.body, { type: 'memberVote', ballotId: 'a#1.10', yes: true }, 'a yes carries no reason');
});

t.test('the settings check takes an adapted member (the group timers times a TIMER_SCALE) for what it is', async (t) => {
  const a = member('a');
  const x4 = { ...DEFAULT_TIMERS, heartbeat: 4000, electionMin: 6000, electionMax: 8000, peerTimeout: 12000 };
  a.receive(memberHb('b', x4), at(10));
  t.equal(a.counters.configMismatches, 0, 'x4 of the group timers: adapted, not misconfigured');
  a.receive(memberHb('c', { ...DEFAULT_TIMERS, electionMin: 1600 }), at(20));
  t.equal(a.counters.configMismatches, 1, 'a different electionMin alone is a configuration error');
  // Our own adaptation does not make everyone else look misconfigured.
  a.setTimers(x4, at(30));
  a.receive(memberHb('b', DEFAULT_TIMERS), at(40));
  t.equal(a.counters.configMismatches, 1, 'compared with the group timers, not our adapted ones');
});

t.test('a leader waking from a stall checks the old lease before scaled-up timers apply (setTimers on waking)', async (t) => {
  const a = leaderOfThree();
  t.ok(a.isLeader(), 'leads');
  // Frozen 2.3 s (past electionMin 1500): the hardware layer sees the stall on waking and scales
  // the timers up first thing. The followers granted a lease of the old electionMin only.
  a.setTimers(X4, at(2002 + 2300));
  const evs = events(a.takeOutputs());
  t.notOk(a.isLeader(), 'stepped down: the stall is judged by the timers it happened under');
  t.ok(evs.some((e) => e.type === 'leaderExited'), 'leaderExited');
  t.equal(a.counters.stalls, 1, 'counted as a stall');
  t.same(a.timers, X4, 'and the new timers apply afterwards');
});
