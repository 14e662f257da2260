/**
 * Rule-level tests of the core: messages are injected by hand and outputs read
 * back, so each test pins one rule. Whole-group behaviour lives in test/sim.
 */
import t from 'tap';
import { GroupMember } from '../../agent/core/member.js';
import type { AppEvent, Instant, Output } from '../../agent/core/events.js';
import { PROTOCOL_VERSION, type Body, type Envelope } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS } from '../../agent/core/timers.js';
import { BadArgumentsError, LeftGroupError, NoLeaderError, NotLeaderError } from '../../agent/core/errors.js';

const G = 'G.1';
const at = (mono: number): Instant => ({ mono, wall: 1_700_000_000_000 + mono });
const fixed = { next: () => 0.5 };

function member(id: string, minSize = 2, incarnation = 1) {
  const m = new GroupMember({ group: G, id, incarnation, minSize, timers: DEFAULT_TIMERS, random: fixed });
  m.start(at(0));
  m.takeOutputs();
  return m;
}
function env(from: string, term: number, body: Body, to = '', incarnation = 1): Envelope {
  return { version: PROTOCOL_VERSION, group: G, from, incarnation, term, to, body };
}
const sends = (out: Output[]) => out.flatMap((o) => (o.type === 'send' ? [o.envelope] : []));
const events = (out: Output[]) => out.flatMap((o) => (o.type === 'event' ? [o.event] : []));
const ofType = <T extends AppEvent['type']>(out: Output[], type: T) => events(out).filter((e) => e.type === type);
const hb = (m: GroupMember, from: string, mono: number, inc = 1) =>
  m.receive(env(from, m.term(), { type: 'memberHeartbeat', timers: DEFAULT_TIMERS, minSize: 2, sentAt: 0, leader: '', endpoint: '' }, '', inc), at(mono));
const leaderHb = (from: string, term: number, voters: string[], version = 1) =>
  env(from, term, { type: 'leaderHeartbeat', config: { term, version, voters }, committedVersion: version, endpoint: '', timers: DEFAULT_TIMERS, minSize: 2, sentAt: 0 });
const voteReq = (from: string, term: number, opts: Partial<{ preVote: boolean; configTerm: number; configVersion: number; transfer: boolean }> = {}) =>
  env(from, term - (opts.preVote ? 1 : 0), {
    type: 'voteRequest',
    preVote: opts.preVote ?? false,
    electionTerm: term,
    configTerm: opts.configTerm ?? 0,
    configVersion: opts.configVersion ?? 0,
    proposedVoters: [],
    transfer: opts.transfer ?? false,
  });

t.test('a member counts itself and hears others join and time out', async (t) => {
  const a = new GroupMember({ group: G, id: 'a', incarnation: 1, minSize: 2, timers: DEFAULT_TIMERS, random: fixed });
  a.start(at(0));
  t.same(ofType(a.takeOutputs(), 'memberJoined'), [{ type: 'memberJoined', member: 'a' }]);
  hb(a, 'b', 10);
  t.same(ofType(a.takeOutputs(), 'memberJoined'), [{ type: 'memberJoined', member: 'b' }]);
  t.equal(a.size(), 2);
  a.tick(at(3011));
  t.same(ofType(a.takeOutputs(), 'memberLeft'), [{ type: 'memberLeft', member: 'b', reason: 'timeout' }]);
  t.equal(a.size(), 1);
});

t.test('stale incarnations are dropped; a goodbye is not undone by delayed messages', async (t) => {
  const a = member('a');
  hb(a, 'b', 10, 5);
  hb(a, 'b', 20, 4);
  t.equal(a.counters.staleDropped, 1);
  a.receive(env('b', 0, { type: 'leave' }, '', 5), at(30));
  t.same(ofType(a.takeOutputs(), 'memberLeft'), [{ type: 'memberLeft', member: 'b', reason: 'left' }]);
  hb(a, 'b', 40, 5);
  t.notOk(a.members().includes('b'), 'delayed heartbeat of the same incarnation is ignored');
  hb(a, 'b', 50, 6);
  t.ok(a.members().includes('b'), 'a rejoin with a higher incarnation is accepted');
});

t.test('one vote per term, persisted before the reply', async (t) => {
  const a = member('a');
  a.receive(voteReq('b', 1), at(100));
  const out = a.takeOutputs();
  const persistAt = out.findLastIndex((o) => o.type === 'persist');
  t.same(out[persistAt], { type: 'persist', state: { term: 1, votedFor: 'b' } });
  t.ok(persistAt < out.findIndex((o) => o.type === 'send'), 'persisted before the reply is sent');
  t.match(sends(out)[0], { to: 'b', body: { type: 'voteReply', granted: true, electionTerm: 1 } });
  a.receive(voteReq('c', 1), at(110));
  t.match(sends(a.takeOutputs())[0], { to: 'c', body: { granted: false } }, 'second candidate of the same term refused');
  a.receive(voteReq('b', 1), at(120));
  t.match(sends(a.takeOutputs())[0], { to: 'b', body: { granted: true } }, 'a repeated request from the same candidate is granted again');
});

t.test('a restarted member keeps its vote (hard state)', async (t) => {
  const a = new GroupMember({ group: G, id: 'a', incarnation: 2, minSize: 2, timers: DEFAULT_TIMERS, random: fixed, hardState: { term: 3, votedFor: 'b' } });
  a.start(at(0));
  a.takeOutputs();
  a.receive(voteReq('c', 3), at(10));
  t.match(sends(a.takeOutputs())[0], { body: { granted: false } });
  a.receive(voteReq('c', 2), at(10));
  t.match(sends(a.takeOutputs())[0], { body: { granted: false } }, 'lower term refused');
  t.equal(a.term(), 3);
});

t.test('candidates with an older configuration are refused', async (t) => {
  const a = member('a');
  a.receive(leaderHb('l', 2, ['a', 'b', 'l'], 4), at(10));
  a.takeOutputs();
  a.tick(at(3000)); // lease long gone (and l's membership expired)
  a.takeOutputs();
  a.receive(voteReq('b', 5, { configTerm: 2, configVersion: 3 }), at(3001));
  t.match(sends(a.takeOutputs()).find((e) => e.body.type === 'voteReply'), { body: { granted: false } });
  a.receive(voteReq('b', 6, { configTerm: 2, configVersion: 4 }), at(3002));
  t.match(sends(a.takeOutputs()).find((e) => e.body.type === 'voteReply'), { body: { granted: true } });
});

t.test('leader lease: pre-votes and disruptive vote requests are refused while the leader is heard', async (t) => {
  const a = member('a');
  a.receive(leaderHb('l', 2, ['a', 'b', 'l']), at(10));
  a.takeOutputs();
  a.receive(voteReq('b', 3, { preVote: true, configTerm: 2, configVersion: 1 }), at(500));
  t.match(sends(a.takeOutputs())[0], { body: { type: 'voteReply', preVote: true, granted: false } });
  a.receive(voteReq('b', 3, { configTerm: 2, configVersion: 1 }), at(600));
  t.same(sends(a.takeOutputs()), [], 'a real vote request of a higher term is ignored in the lease');
  t.equal(a.term(), 2, 'and does not move the term');
  a.receive(voteReq('b', 3, { configTerm: 2, configVersion: 1, transfer: true }), at(700));
  t.match(sends(a.takeOutputs()).at(-1), { body: { granted: true } }, 'a transfer campaign bypasses the lease');
  t.equal(a.term(), 3);
});

t.test('a single member with minSize 1 elects itself', async (t) => {
  const a = member('a', 1);
  a.tick(at(a.nextDeadline()));
  while (a.nextDeadline() < 2000) a.tick(at(a.nextDeadline()));
  t.equal(a.role(), 'leader');
  t.equal(a.leader(), 'a');
  t.same(a.config().voters, ['a']);
});

t.test('minSize holds back the bootstrap election', async (t) => {
  const a = member('a', 3);
  hb(a, 'b', 1);
  for (let now = 0; now < 2900; now += 100) {
    hb(a, 'b', now);
    a.tick(at(now));
  }
  t.notOk(sends(a.takeOutputs()).some((e) => e.body.type === 'voteRequest'), 'two members of minSize 3 never campaign');
});

t.test('a stale leader is told the newer term and steps down', async (t) => {
  const a = member('a');
  a.receive(leaderHb('l', 5, ['a', 'l']), at(10));
  a.takeOutputs();
  a.receive(leaderHb('old', 4, ['a', 'old']), at(20));
  t.match(sends(a.takeOutputs())[0], { to: 'old', term: 5, body: { type: 'heartbeatAck', accepted: false } });
  t.equal(a.leader(), 'l');
});

t.test('a newer leader replaces the old one with exited/elected events', async (t) => {
  const a = member('a');
  a.receive(leaderHb('l', 1, ['a', 'l', 'm']), at(10));
  t.same(ofType(a.takeOutputs(), 'leaderElected'), [{ type: 'leaderElected', leader: 'l', term: 1 }]);
  a.receive(leaderHb('m', 2, ['a', 'l', 'm'], 2), at(20));
  const ev = events(a.takeOutputs()).filter((e) => e.type.startsWith('leader'));
  t.same(ev, [
    { type: 'leaderExited', leader: 'l', term: 1 },
    { type: 'leaderElected', leader: 'm', term: 2 },
  ]);
});

t.test('a restarted leader is no longer the leader', async (t) => {
  const a = member('a');
  a.receive(leaderHb('l', 1, ['a', 'l']), at(10));
  a.takeOutputs();
  hb(a, 'l', 20, 2);
  t.same(ofType(a.takeOutputs(), 'leaderExited'), [{ type: 'leaderExited', leader: 'l', term: 1 }]);
  t.equal(a.leader(), null);
});

t.test('API errors are typed', async (t) => {
  const a = member('a');
  t.throws(() => a.sendToLeader(new Uint8Array(), at(1)), NoLeaderError);
  t.throws(() => a.sendToMember(new Uint8Array(), 'b', at(1)), NotLeaderError);
  t.throws(() => a.requestPoll({ topic: new Uint8Array(), kind: 'majority', subject: 'value' }, at(1)), NoLeaderError);
  t.throws(() => a.requestPoll({ topic: new Uint8Array(), kind: 'plurality' as never, subject: 'value' }, at(1)), BadArgumentsError);
  t.throws(() => a.requestPoll({ topic: new Uint8Array(), kind: 'consensus', subject: 'action', when: at(1).wall + 100, timeoutMs: 1000 }, at(1)), /sooner than the poll timeout/);
  t.throws(() => a.vote('nope', true, at(1)), BadArgumentsError);
  a.leave(at(2));
  t.ok(a.hasLeft());
  t.throws(() => a.send(new Uint8Array(), at(3)), LeftGroupError);
});

/** A leader `l` of three voters, driven by hand. */
function leaderOfThree() {
  const l = member('l');
  hb(l, 'a', 1);
  hb(l, 'b', 1);
  let now = 0;
  while (!sends(l.takeOutputs()).some((e) => e.body.type === 'voteRequest')) {
    now = l.nextDeadline();
    l.tick(at(now));
  }
  l.receive(env('a', 0, { type: 'voteReply', preVote: true, electionTerm: 1, granted: true }, 'l'), at(now));
  l.receive(env('a', 1, { type: 'voteReply', preVote: false, electionTerm: 1, granted: true }, 'l'), at(now));
  // The bootstrap configuration holds the members that voted; b becomes a voter once it acknowledges.
  for (let round = 0; round < 3; round++) {
    for (const from of ['a', 'b']) {
      const c = l.config();
      l.receive(env(from, 1, { type: 'heartbeatAck', configTerm: c.term, configVersion: c.version, accepted: true }, 'l'), at(now));
    }
  }
  l.takeOutputs();
  return { l, now };
}

t.test('a bootstrap leader starts with the members that voted; others become voters once they acknowledge it', async (t) => {
  const l = member('l');
  hb(l, 'a', 1);
  hb(l, 'b', 1);
  let now = 0;
  while (!sends(l.takeOutputs()).some((e) => e.body.type === 'voteRequest')) l.tick(at((now = l.nextDeadline())));
  l.receive(env('a', 0, { type: 'voteReply', preVote: true, electionTerm: 1, granted: true }, 'l'), at(now));
  l.receive(env('a', 1, { type: 'voteReply', preVote: false, electionTerm: 1, granted: true }, 'l'), at(now));
  t.same(l.config().voters, ['a', 'l'], 'b proposed but silent: not a voter');
  const ack = (from: string) => {
    const c = l.config();
    l.receive(env(from, 1, { type: 'heartbeatAck', configTerm: c.term, configVersion: c.version, accepted: true }, 'l'), at(now + 1));
  };
  hb(l, 'x', now + 1); // a phantom: heard, never acknowledges
  ack('a');
  t.same(l.config().voters, ['a', 'l'], 'heartbeats alone make no voter');
  ack('b');
  t.same(l.config().voters, ['a', 'b', 'l'], 'b acknowledged: added');
});

t.test('a voter removed as dead must acknowledge again before it is a voter again', async (t) => {
  const { l, now } = leaderOfThree();
  t.same(l.config().voters, ['a', 'b', 'l']);
  const ack = (from: string, mono: number) => {
    const c = l.config();
    l.receive(env(from, 1, { type: 'heartbeatAck', configTerm: c.term, configVersion: c.version, accepted: true }, 'l'), at(mono));
  };
  // b falls silent; a keeps answering. After b's peer timeout the leader removes it.
  let mono = now;
  for (; mono < now + 5000; mono += 100) {
    hb(l, 'a', mono);
    ack('a', mono);
    l.tick(at(mono));
  }
  t.same(l.config().voters, ['a', 'l'], 'b removed');
  // One delayed member heartbeat from b (no acknowledgement of this configuration): not a voter.
  hb(l, 'b', mono);
  ack('a', mono);
  l.tick(at(mono));
  t.same(l.config().voters, ['a', 'l'], 'a heartbeat alone does not bring a removed voter back');
  ack('b', mono + 1);
  ack('a', mono + 1);
  l.tick(at(mono + 1));
  t.same(l.config().voters, ['a', 'b', 'l'], 'b acknowledged again: added back');
});

t.test('polls: one vote per voter, non-voters ignored, early decision, tally in the result', async (t) => {
  const { l, now } = leaderOfThree();
  t.equal(l.role(), 'leader');
  l.receive(env('a', 1, { type: 'pollRequest', ballotId: 'a#1.1', topic: new Uint8Array([7]), kind: 'majority', subject: 'value', when: 0, timeoutMs: 1000 }, 'l'), at(now + 1));
  const out = l.takeOutputs();
  t.match(sends(out)[0], { to: '', body: { type: 'ballot', ballotId: 'a#1.1', voters: ['a', 'b', 'l'], remainingMs: 1000 } });
  t.same(ofType(out, 'voteRequest').length, 1, 'the leader sees its own ballot');
  const vote = (from: string, yes: boolean) => l.receive(env(from, 1, { type: 'memberVote', ballotId: 'a#1.1', yes }, 'l'), at(now + 2));
  vote('a', true);
  vote('a', true);
  vote('zz', true);
  t.equal(l.counters.ignoredVotes, 2);
  t.same(ofType(l.takeOutputs(), 'voteResult'), []);
  vote('b', true);
  const res = sends(l.takeOutputs()).find((e) => e.body.type === 'pollResult');
  t.match(res?.body, { outcome: 'yes', tally: { yes: 2, no: 0, voters: 3 }, reason: '' });
});

t.test('polls: a silent voter gives timeout at the leader deadline; a consensus no ends at once', async (t) => {
  const { l, now } = leaderOfThree();
  const ballotId = l.requestPoll({ topic: new Uint8Array(), kind: 'consensus', subject: 'value', timeoutMs: 800 }, at(now + 1));
  l.vote(ballotId, true, at(now + 2));
  l.tick(at(now + 800));
  t.same(ofType(l.takeOutputs(), 'voteResult'), []);
  l.tick(at(now + 801));
  t.match(ofType(l.takeOutputs(), 'voteResult'), [{ outcome: 'timeout', tally: { yes: 1, no: 0, voters: 3 } }]);
  const b2 = l.requestPoll({ topic: new Uint8Array(), kind: 'consensus', subject: 'value' }, at(now + 900));
  l.receive(env('b', 1, { type: 'memberVote', ballotId: b2, yes: false }, 'l'), at(now + 901));
  t.match(ofType(l.takeOutputs(), 'voteResult'), [{ ballotId: b2, outcome: 'no' }]);
});

t.test('action votes: scheduled once on yes, refused when the instant is too soon on the leader', async (t) => {
  const { l, now } = leaderOfThree();
  const when = at(now).wall + 5000;
  const id = l.requestPoll({ topic: new Uint8Array([1]), kind: 'majority', subject: 'action', when, timeoutMs: 1000 }, at(now + 1));
  l.vote(id, true, at(now + 2));
  l.receive(env('a', 1, { type: 'memberVote', ballotId: id, yes: true }, 'l'), at(now + 3));
  const out = l.takeOutputs();
  t.match(ofType(out, 'actionScheduled'), [{ ballotId: id, when }]);
  l.receive(env('a', 1, { type: 'pollRequest', ballotId: 'a#1.9', topic: new Uint8Array(), kind: 'majority', subject: 'action', when: at(now).wall + 500, timeoutMs: 1000 }, 'l'), at(now + 4));
  const refused = sends(l.takeOutputs()).find((e) => e.body.type === 'pollResult');
  t.match(refused?.body, { outcome: 'timeout', reason: /sooner than the poll timeout/ });
});

t.test('a leader that loses its quorum steps down and ends its polls', async (t) => {
  const { l, now } = leaderOfThree();
  const id = l.requestPoll({ topic: new Uint8Array(), kind: 'majority', subject: 'value', timeoutMs: 60_000 }, at(now + 1));
  l.takeOutputs();
  for (let m = now; m < now + 3500; m += 100) l.tick(at(m)); // nobody answers
  const out = l.takeOutputs();
  t.equal(l.role(), 'follower');
  t.match(ofType(out, 'voteResult'), [{ ballotId: id, outcome: 'timeout', reason: /stepped down/ }]);
  t.match(ofType(out, 'leaderExited'), [{ leader: 'l' }]);
});

t.test("polls: a vote on a decided poll is answered with the result, once per repeat, not for the vote's second copy", async (t) => {
  // Votes travel two paths (direct and the bus, docs/protocol.md section 8): both copies of one
  // vote arrive together, and only a vote repeated for want of a result asks for one.
  const { l, now } = leaderOfThree();
  l.receive(env('a', 1, { type: 'pollRequest', ballotId: 'a#1.2', topic: new Uint8Array([7]), kind: 'majority', subject: 'value', when: 0, timeoutMs: 1000 }, 'l'), at(now + 1));
  l.takeOutputs();
  const vote = (from: string, mono: number) => {
    l.receive(env(from, 1, { type: 'memberVote', ballotId: 'a#1.2', yes: true }, 'l'), at(mono));
    return sends(l.takeOutputs()).filter((e) => e.body.type === 'pollResult');
  };
  t.same(vote('a', now + 2), [], 'a counted, undecided');
  t.equal(l.vote('a#1.2', true, at(now + 2)), true, 'the leader votes: decided');
  t.match(sends(l.takeOutputs()).filter((e) => e.body.type === 'pollResult'), [{ to: '', body: { outcome: 'yes' } }], 'the result, broadcast');
  t.same(vote('a', now + 3), [], "the second copy of a's vote: not answered");
  const before = l.counters.ignoredVotes;
  t.match(vote('b', now + 4), [{ to: 'b', body: { outcome: 'yes' } }], "b's vote came after the decision: answered directly");
  t.same(vote('b', now + 5), [], 'its second copy: not');
  t.equal(l.counters.ignoredVotes, before + 1, 'counted as ignored');
  t.match(vote('b', now + 4 + 200), [{ to: 'b' }], 'b repeats its vote later (it missed the result): answered');
  t.match(vote('a', now + 400), [{ to: 'a' }], 'a repeats: answered');
  l.receive(env('zz', 1, { type: 'memberVote', ballotId: 'a#1.2', yes: true }, 'l'), at(now + 401));
  t.match(sends(l.takeOutputs()), [{ to: 'zz', body: { type: 'pollResult' } }], 'a non-voter asking is answered as before');
});
