/**
 * The simulator in CI: a fixed sweep of seeded random schedules (every
 * invariant of checker.ts, zero violations) and scripted scenarios for the
 * RIAPS acceptance cases (notes/riaps-reference.md section 7), each of which
 * also runs under the checker.
 */
import t from 'tap';
import { NoLeaderError, BadArgumentsError } from '../../agent/core/errors.js';
import type { MemberId, PollKind, PollOutcome } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS } from '../../agent/core/timers.js';
import { runSeed } from './run.js';
import { agreedLeader, bytes, events, group, leaders, report, runUntilTrue, settle } from './scripted.js';
import type { Simulator, VotePolicy } from './simulator.js';
import { Trace } from './trace.js';

const SEEDS = Number(process.env.SIM_SEEDS ?? 1000);
const HB = DEFAULT_TIMERS.heartbeat;

type Tap = Pick<typeof t, 'equal' | 'comment'>;
function clean(t: Tap, sim: Simulator): void {
  if (!t.equal(sim.checker.violations.length, 0, 'no invariant violated')) t.comment(report(sim));
}

/** A vote policy read from a table that the test may change: member → yes/no after `delay` ms, or null (silent). */
function scriptedVotes(answers: Map<MemberId, boolean | null>, delay = 10): VotePolicy {
  return (inst) => {
    const yes = answers.get(inst.id);
    return yes === undefined || yes === null ? null : { delay, yes };
  };
}

t.test(`${SEEDS} seeded random schedules: no invariant violated`, async (t) => {
  const failing: string[] = [];
  const started = performance.now();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runSeed(seed);
    if (r.violations.length) failing.push(`seed ${seed}: ${r.violations.map((v) => `[${v.rule}] at ${v.t} ms: ${v.text}`).join('; ')} (replay: npm run sim -- --seed ${seed})`);
  }
  t.comment(`${SEEDS} seeds in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (failing.length) t.comment(`failing seeds:\n${failing.slice(0, 40).join('\n')}${failing.length > 40 ? `\n... and ${failing.length - 40} more` : ''}`);
  t.equal(failing.length, 0, 'every seed passes');
});

t.test('membership and election', async (t) => {
  t.test('3 members form: one leader known by all, everyone sees all 3 join (itself included)', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a']);
    const L = settle(sim, 10_000);
    t.ok(sim.now() <= 10_000, `leader ${L} agreed at ${sim.now()} ms`);
    sim.runFor(10_000);
    for (const id of ['m1/a', 'm2/a', 'm3/a']) {
      const joined = events(sim, 'memberJoined', id);
      t.same(joined.map((e) => e.event.member).sort(), ['m1/a', 'm2/a', 'm3/a'], `${id} saw all three join`);
      // Members start one after another at t=0: the first ones hear the later ones at once, the later
      // ones hear the first ones on their next heartbeat.
      t.ok(joined.every((e) => e.t <= HB + 10), `${id} saw them within one heartbeat (${joined.map((e) => e.t)} ms)`);
      t.equal(sim.member(id).size(), 3, `${id} size 3`);
      t.same(events(sim, 'leaderElected', id).map((e) => e.event.leader), [L], `${id} got leaderElected(${L}) once`);
    }
    clean(t, sim);
  });

  t.test('2-member group elects (minSize 2)', async (t) => {
    const sim = group(['m1/a', 'm2/a'], { minSize: 2 });
    const L = settle(sim, 10_000);
    t.ok(L === 'm1/a' || L === 'm2/a');
    sim.runFor(10_000);
    t.equal(agreedLeader(sim), L, 'still the same leader 10 s later');
    clean(t, sim);
  });

  t.test('1-member group with minSize 1 elects itself', async (t) => {
    const sim = group(['m1/a'], { minSize: 1 });
    t.equal(settle(sim, 5_000), 'm1/a');
    t.same(events(sim, 'leaderElected', 'm1/a').map((e) => e.event.leader), ['m1/a']);
    clean(t, sim);
  });

  t.test('minSize 4: 3 members elect no one; a 4th joins and a leader appears', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a'], { minSize: 4 });
    sim.runFor(15_000);
    t.same(leaders(sim), [], 'no leader with 3 members');
    t.same(events(sim, 'leaderElected'), [], 'no leaderElected event');
    sim.start('m4/a');
    const L = settle(sim, 10_000);
    t.ok(L, `leader ${L} after the 4th joined`);
    clean(t, sim);
  });

  t.test('a late joiner learns the existing leader within heartbeat + 0.5 s, with no term change', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a']);
    const L = settle(sim);
    sim.runFor(5_000);
    const term = sim.member(L).term();
    const t0 = sim.now();
    sim.start('m4/a');
    const at = runUntilTrue(sim, () => sim.member('m4/a').leader() === L, HB + 500);
    t.ok(at !== null, `m4 follows ${L} after ${at === null ? 'never' : at - t0} ms`);
    sim.runFor(5_000);
    for (const id of ['m1/a', 'm2/a', 'm3/a', 'm4/a']) t.equal(sim.member(id).term(), term, `${id} still in term ${term}`);
    t.same(events(sim, 'leaderElected', undefined, t0).map((e) => `${e.id}:${e.event.leader}`), [`m4/a:${L}`], 'only the joiner got leaderElected');
    clean(t, sim);
  });

  for (const n of [4, 3]) {
    t.test(`leader crash with ${n} members: leaderExited, then a new leader with a higher term within 4 s`, async (t) => {
      const ids = ['m1/a', 'm2/a', 'm3/a', 'm4/a'].slice(0, n);
      const sim = group(ids);
      const L = settle(sim);
      sim.runFor(5_000);
      const term = sim.member(L).term();
      const t0 = sim.now();
      sim.crash(L);
      const at = runUntilTrue(sim, () => agreedLeader(sim) !== null, 4_000);
      t.ok(at !== null, `new leader after ${at === null ? 'more than 4000' : at - t0} ms`);
      const N = agreedLeader(sim);
      t.not(N, L);
      if (N) t.ok(sim.member(N).term() > term, `term ${sim.member(N).term()} > ${term}`);
      for (const id of ids.filter((i) => i !== L)) {
        const seq = sim.log.filter((e) => e.id === id && e.t >= t0 && (e.event.type === 'leaderExited' || e.event.type === 'leaderElected'));
        t.same(
          seq.map((e) => `${e.event.type}:${(e.event as { leader: string }).leader}`),
          [`leaderExited:${L}`, `leaderElected:${N}`],
          `${id}: leaderExited(${L}) then leaderElected(${N})`,
        );
      }
      clean(t, sim);
    });
  }

  for (const n of [3, 4]) {
    for (const order of ['hand-over first', 'goodbye first'] as const) {
      t.test(`graceful leader leave with ${n} members (${order}): leaderExited at once, a new leader within a few round trips`, async (t) => {
        const ids = ['m1/a', 'm2/a', 'm3/a', 'm4/a'].slice(0, n);
        // The hand-over (timeoutNow, to one member) and the goodbye (leave, to all) travel on
        // different sockets: either may arrive first.
        const sim = group(ids, { shape: (env) => (env.body.type === 'timeoutNow' ? [order === 'hand-over first' ? 1 : 10] : null) });
        const L = settle(sim);
        sim.runFor(3_000);
        const term = sim.member(L).term();
        const t0 = sim.now();
        sim.leave(L);
        const at = runUntilTrue(sim, () => agreedLeader(sim) !== null && !sim.instance(L)?.up, 1_000, 1);
        const took = at === null ? Infinity : at - t0;
        t.ok(took < DEFAULT_TIMERS.electionMin / 3, `new leader ${agreedLeader(sim)} after ${took} ms (well under electionMin)`);
        t.ok(events(sim, 'left', L).length === 1, `${L} got its 'left' event`);
        sim.runFor(2_000);
        const N = agreedLeader(sim);
        if (N) t.ok(sim.member(N).term() > term, 'the new leader has a higher term');
        for (const id of ids.filter((i) => i !== L)) {
          const exited = events(sim, 'leaderExited', id, t0);
          t.ok(exited.length === 1 && (exited[0]?.t ?? Infinity) - t0 < 100, `${id}: leaderExited(${L}) within 100 ms`);
          const left = events(sim, 'memberLeft', id, t0);
          t.same(left.map((e) => [e.event.member, e.event.reason]), [[L, 'left']], `${id}: memberLeft(${L}, left)`);
          t.equal(sim.member(id).size(), n - 1);
        }
        clean(t, sim);
      });
    }
  }

  t.test('a leader that leaves while a voter is down still leaves within one heartbeat', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a'];
    const sim = group(ids, { minSize: 4, trace: new Trace(100_000) });
    const L = settle(sim);
    sim.runFor(3_000);
    const F = ids.find((i) => i !== L) as MemberId;
    sim.crash(F);
    // Leave shortly before the leader would drop the dead voter: its own removal then needs F's
    // acknowledgement, and F's silence reaches peerTimeout while the leader waits for it.
    const lastHeard = Math.max(...sim.trace.records().flatMap((r) => (r.kind === 'recv' && r.member === L && r.env.from === F ? [r.t] : [])));
    sim.runUntil(lastHeard + DEFAULT_TIMERS.peerTimeout - 300);
    const t0 = sim.now();
    sim.leave(L);
    sim.runFor(HB + 1);
    t.same(events(sim, 'left', L).map((e) => e.t - t0 <= HB), [true], `${L} got its 'left' event within one heartbeat`);
    t.notOk(sim.instance(L)?.up, `${L} is gone`);
    clean(t, sim);
  });

  t.test('partition {L,x} | {3}: the majority elects a higher term, the old leader steps down; heal: one leader, no flapping', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a'];
    const sim = group(ids, { minSize: 3 });
    const L = settle(sim);
    sim.runFor(3_000);
    const term = sim.member(L).term();
    const x = ids.find((i) => i !== L) as MemberId;
    const majority = ids.filter((i) => i !== L && i !== x);
    const t0 = sim.now();
    sim.partition([L, x], majority);
    const at = runUntilTrue(sim, () => {
      const ls = leaders(sim);
      return ls.length === 1 && majority.includes(ls[0] as MemberId) && majority.every((i) => sim.member(i).leader() === ls[0]);
    }, DEFAULT_TIMERS.peerTimeout + 4 * DEFAULT_TIMERS.electionMax);
    t.ok(at !== null, `majority leader ${leaders(sim)} after ${at === null ? 'never' : at - t0} ms, old leader ${sim.member(L).role()}`);
    const N = leaders(sim)[0] as MemberId;
    t.ok(sim.member(N).term() > term, 'higher term on the majority side');
    t.not(sim.member(L).role(), 'leader', 'the old leader stepped down (check-quorum)');
    t.equal(sim.member(L).leader(), null, 'and forgot itself as leader');
    sim.heal();
    const t1 = sim.now();
    const healed = runUntilTrue(sim, () => agreedLeader(sim) !== null, 2_000);
    t.ok(healed !== null, `one leader known to all ${healed === null ? 'never' : healed - t1} ms after the heal`);
    const t2 = sim.now();
    sim.runFor(10_000);
    t.same(events(sim, 'leaderElected', undefined, t2 + 1), [], 'no leaderElected afterwards (no flapping)');
    t.same(leaders(sim), [N], `${N} still the only leader`);
    clean(t, sim);
  });

  t.test('a cut-off member that returns does not disrupt the group (pre-vote)', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a'];
    const sim = group(ids, { minSize: 3 });
    const L = settle(sim);
    sim.runFor(3_000);
    const term = sim.member(L).term();
    const F = ids.find((i) => i !== L) as MemberId;
    const t0 = sim.now();
    sim.partition([F], ids.filter((i) => i !== F));
    sim.runFor(10_000);
    t.equal(sim.member(F).term(), term, 'the cut-off member did not raise its term');
    sim.heal();
    sim.runFor(5_000);
    t.equal(agreedLeader(sim), L, 'same leader');
    for (const id of ids) t.equal(sim.member(id).term(), term, `${id} still in term ${term}`);
    const others = sim.log.filter((e) => e.id !== F && e.t >= t0 && (e.event.type === 'leaderElected' || e.event.type === 'leaderExited'));
    t.same(others, [], 'nobody else saw a leader change');
    clean(t, sim);
  });

  t.test('a restarted member (incarnation + 1) is recognised as the same member', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a']);
    const L = settle(sim);
    sim.runFor(3_000);
    const term = sim.member(L).term();
    const F = ['m1/a', 'm2/a', 'm3/a'].find((i) => i !== L) as MemberId;
    const t0 = sim.now();
    sim.crash(F);
    sim.runFor(500);
    sim.start(F);
    t.equal(sim.instance(F)?.incarnation, 2);
    sim.runFor(5_000);
    for (const id of ['m1/a', 'm2/a', 'm3/a']) {
      t.equal(sim.member(id).size(), 3, `${id} size 3`);
      if (id !== F) t.same(sim.log.filter((e) => e.id === id && e.t >= t0 && (e.event.type === 'memberLeft' || e.event.type === 'memberJoined')), [], `${id}: no leave/join for ${F}`);
    }
    t.equal(agreedLeader(sim), L, 'leader unchanged');
    t.equal(sim.member(L).term(), term, 'term unchanged');
    clean(t, sim);
  });

  t.test('a restarted leader is the same member but no longer leads; its term persists', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a']);
    const L = settle(sim);
    sim.runFor(3_000);
    const term = sim.member(L).term();
    const t0 = sim.now();
    sim.crash(L);
    sim.runFor(200);
    sim.start(L);
    t.ok(sim.member(L).term() >= term, 'the restarted member kept its term');
    const N = settle(sim, 5_000);
    t.ok(sim.member(N).term() > term, `new leader ${N} in a higher term`);
    for (const id of ['m1/a', 'm2/a', 'm3/a'].filter((i) => i !== L)) {
      t.same(events(sim, 'leaderExited', id, t0).map((e) => e.event.leader), [L], `${id}: leaderExited(${L})`);
      t.same(events(sim, 'memberJoined', id, t0), [], `${id}: no second memberJoined(${L})`);
    }
    clean(t, sim);
  });

  t.test('membership: graceful leave is seen at once, a crash within peerTimeout + 1 s', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a', 'm4/a']);
    const L = settle(sim);
    const [a, b] = ['m1/a', 'm2/a', 'm3/a', 'm4/a'].filter((i) => i !== L) as [MemberId, MemberId];
    const t0 = sim.now();
    sim.leave(a);
    sim.runFor(100);
    for (const id of ['m1/a', 'm2/a', 'm3/a', 'm4/a'].filter((i) => i !== a)) {
      t.same(events(sim, 'memberLeft', id, t0).map((e) => [e.event.member, e.event.reason]), [[a, 'left']], `${id}: memberLeft(${a}) within 0.1 s`);
    }
    const t1 = sim.now();
    sim.crash(b);
    sim.runFor(DEFAULT_TIMERS.peerTimeout + 1_000);
    for (const id of ['m1/a', 'm2/a', 'm3/a', 'm4/a'].filter((i) => i !== a && i !== b)) {
      const left = events(sim, 'memberLeft', id, t1);
      t.same(left.map((e) => [e.event.member, e.event.reason]), [[b, 'timeout']], `${id}: memberLeft(${b}, timeout) after ${left.map((e) => e.t - t1)} ms`);
      t.equal(sim.member(id).size(), 2);
    }
    clean(t, sim);
  });
});

t.test('messages', async (t) => {
  t.test('a group message reaches every member, the sender included; the leader channel works both ways', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a']);
    const L = settle(sim);
    const F = ['m1/a', 'm2/a', 'm3/a'].find((i) => i !== L) as MemberId;
    const t0 = sim.now();
    sim.call(F, 'send', (m, now) => m.send(bytes('hello'), now));
    sim.call(F, 'sendToLeader', (m, now) => m.sendToLeader(bytes('to leader'), now));
    sim.runFor(100);
    for (const id of ['m1/a', 'm2/a', 'm3/a']) t.same(events(sim, 'message', id, t0).map((e) => e.event.from), [F], `${id} got the group message`);
    t.same(events(sim, 'messageToLeader', L, t0).map((e) => e.event.from), [F], 'the leader got the message to it, with the sender');
    sim.call(L, 'sendToMember', (m, now) => m.sendToMember(bytes('reply'), F, now));
    sim.call(L, 'sendToLeader', (m, now) => m.sendToLeader(bytes('self'), now));
    sim.call(L, 'sendToMember', (m, now) => m.sendToMember(bytes('self'), L, now));
    sim.runFor(100);
    t.same(events(sim, 'messageFromLeader', undefined, t0).map((e) => e.id).sort(), [F, L].sort(), 'only the addressee (and the leader to itself) got messageFromLeader');
    t.equal(events(sim, 'messageToLeader', L, t0).length, 2, 'the leader got its own message to the leader');
    clean(t, sim);
  });

  t.test('with no leader: sendToLeader and requestPoll throw NoLeaderError and nothing is delivered', async (t) => {
    const sim = group(['m1/a', 'm2/a', 'm3/a']);
    sim.runFor(50);
    t.equal(agreedLeader(sim), null, 'no leader yet');
    t.type(sim.call('m1/a', 'sendToLeader', (m, now) => m.sendToLeader(bytes('x'), now)), NoLeaderError);
    t.type(sim.requestPoll('m1/a', { kind: 'majority', subject: 'value' }), NoLeaderError);
    sim.runFor(100);
    t.same(events(sim, 'voteRequest'), [], 'no ballot anywhere');
    t.same(events(sim, 'messageToLeader'), [], 'no message to a leader');
    clean(t, sim);
  });
});

t.test('polls', async (t) => {
  const cases: Array<{ name: string; kind: PollKind; votes: Array<boolean | null>; expect: PollOutcome; timeoutMs?: number }> = [
    { name: 'majority, all yes', kind: 'majority', votes: [true, true, true], expect: 'yes' },
    { name: 'majority, one no', kind: 'majority', votes: [true, false, true], expect: 'yes' },
    { name: 'majority, two no', kind: 'majority', votes: [true, false, false], expect: 'no' },
    { name: 'majority, one yes one no one silent', kind: 'majority', votes: [true, false, null], expect: 'timeout', timeoutMs: 1_000 },
    { name: 'consensus, all yes', kind: 'consensus', votes: [true, true, true], expect: 'yes' },
    { name: 'consensus, one no', kind: 'consensus', votes: [true, false, true], expect: 'no' },
    { name: 'consensus, a silent member', kind: 'consensus', votes: [true, true, null], expect: 'timeout', timeoutMs: 1_000 },
    { name: 'consensus, a silent member, default timeout', kind: 'consensus', votes: [true, null, true], expect: 'timeout' },
  ];
  for (const c of cases) {
    t.test(`${c.name} → ${c.expect}`, async (t) => {
      const ids = ['m1/a', 'm2/a', 'm3/a'];
      const answers = new Map<MemberId, boolean | null>(ids.map((id, i) => [id, c.votes[i] ?? null]));
      const sim = group(ids, { votePolicy: scriptedVotes(answers) });
      const L = settle(sim);
      const R = ids.find((i) => i !== L) as MemberId;
      const t0 = sim.now();
      const timeout = c.timeoutMs ?? DEFAULT_TIMERS.consensusTimeout;
      const id = sim.requestPoll(R, { kind: c.kind, subject: 'value', ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}) });
      t.type(id, 'string', 'the requester gets a ballot id');
      sim.runFor(timeout + 2 * HB);
      for (const m of ids) {
        t.equal(events(sim, 'voteRequest', m).filter((e) => e.event.ballotId === id).length, 1, `${m} was asked once`);
        const results = events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id);
        t.same(results.map((e) => e.event.outcome), [c.expect], `${m} got exactly one result: ${c.expect}`);
        const after = (results[0]?.t ?? Infinity) - t0;
        if (c.expect === 'timeout') t.ok(after >= timeout && after <= timeout + HB, `${m}: timeout after ${after} ms (requested ${timeout})`);
        else t.ok(after < 200, `${m}: decided after ${after} ms, as soon as the votes were in`);
      }
      clean(t, sim);
    });
  }

  t.test('action vote: every member schedules the action at the same instant; never after a no', async (t) => {
    for (const no of [false, true]) {
      const ids = ['m1/a', 'm2/a', 'm3/a'];
      const answers = new Map<MemberId, boolean | null>(ids.map((id) => [id, true]));
      const sim = group(ids, { votePolicy: scriptedVotes(answers) });
      const L = settle(sim);
      const R = ids.find((i) => i !== L) as MemberId;
      if (no) answers.set(L, false);
      const when = sim.instantOf(sim.instance(R) as NonNullable<ReturnType<Simulator['instance']>>).wall + 2_000;
      const id = sim.requestPoll(R, { kind: 'consensus', subject: 'action', when, timeoutMs: 1_000 });
      sim.runFor(3_000);
      for (const m of ids) {
        t.same(events(sim, 'voteRequest', m).map((e) => [e.event.ballotId, e.event.when, e.event.subject]), [[id, when, 'action']], `${m} was asked with when`);
        t.same(events(sim, 'voteResult', m).map((e) => e.event.outcome), [no ? 'no' : 'yes'], `${m}: ${no ? 'no' : 'yes'}`);
        const actions = events(sim, 'actionScheduled', m);
        if (no) t.same(actions, [], `${m}: no action after 'no'`);
        else {
          t.same(actions.map((e) => e.event.when), [when], `${m}: action scheduled at the requested instant`);
          const inst = sim.instance(m);
          if (inst) t.ok((actions[0]?.t ?? Infinity) + inst.wallBase + inst.wallOffset < when, `${m}: scheduled before the instant`);
        }
      }
      clean(t, sim);
    }
  });

  t.test('an action vote whose instant comes before the poll could finish is refused', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a'];
    const answers = new Map<MemberId, boolean | null>(ids.map((id) => [id, true]));
    const sim = group(ids, { votePolicy: scriptedVotes(answers), network: { loss: 0, duplicate: 0, delayMin: 30, delayMax: 30 } });
    const L = settle(sim);
    const R = ids.find((i) => i !== L) as MemberId;
    const wall = () => sim.instantOf(sim.instance(R) as NonNullable<ReturnType<Simulator['instance']>>).wall;
    t.type(sim.requestPoll(R, { kind: 'consensus', subject: 'action', when: wall() + 500, timeoutMs: 1_000 }), BadArgumentsError, 'refused at once by the requester');
    // Feasible on the requester's clock, not any more when the request reaches the leader 30 ms later.
    const id = sim.requestPoll(R, { kind: 'consensus', subject: 'action', when: wall() + 1_010, timeoutMs: 1_000 });
    t.type(id, 'string');
    sim.runFor(2_500);
    const results = events(sim, 'voteResult', R).filter((e) => e.event.ballotId === id);
    t.same(results.map((e) => e.event.outcome), ['timeout'], 'the requester gets timeout');
    t.ok(results[0] && results[0].event.reason !== '', `with a reason: "${results[0]?.event.reason}"`);
    t.same(events(sim, 'voteRequest'), [], 'nobody was asked to vote');
    t.same(events(sim, 'actionScheduled'), [], 'no action');
    clean(t, sim);
  });

  t.test('a leader stalled past the deadline does not pass an action vote with votes it reads late', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a'];
    let L: MemberId | null = null;
    // The leader votes at once, the others a little later.
    const sim = group(ids, { votePolicy: (inst) => ({ delay: inst.id === L ? 0 : 50, yes: true }) });
    L = settle(sim);
    const R = ids.find((i) => i !== L) as MemberId;
    const when = sim.instantOf(sim.instance(R) as NonNullable<ReturnType<Simulator['instance']>>).wall + 1_200;
    const id = sim.requestPoll(R, { kind: 'consensus', subject: 'action', when, timeoutMs: 1_000 });
    sim.runFor(15);
    // The leader's process stalls (GC, swap) with the votes arriving in its socket buffer meanwhile.
    sim.pause(L, 1_500);
    sim.runFor(3_000);
    for (const m of ids) {
      const results = events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id);
      t.same(results.map((e) => e.event.outcome), ['timeout'], `${m}: the poll timed out (got ${results.map((e) => `${e.event.outcome} at ${e.t}`)})`);
    }
    t.same(events(sim, 'actionScheduled'), [], 'no action scheduled after its instant passed');
    clean(t, sim);
  });

  t.test('duplicated votes count once', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a'];
    // Every message arrives twice.
    const answers = new Map<MemberId, boolean | null>([['m1/a', true], ['m2/a', null], ['m3/a', null]]);
    const sim = group(ids, { votePolicy: scriptedVotes(answers), network: { loss: 0, duplicate: 1, delayMin: 1, delayMax: 5 } });
    const L = settle(sim);
    answers.clear();
    const [a, b] = ids.filter((i) => i !== L) as [MemberId, MemberId];
    answers.set(a, true);
    const id = sim.requestPoll(a, { kind: 'majority', subject: 'value', timeoutMs: 1_000 });
    sim.runFor(2_500);
    for (const m of ids) t.same(events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id).map((e) => [e.event.outcome, e.event.tally.yes]), [['timeout', 1]], `${m}: one yes of three is not a majority`);
    answers.set(b, true);
    answers.set(L, null);
    const id2 = sim.requestPoll(a, { kind: 'consensus', subject: 'value', timeoutMs: 1_000 });
    sim.runFor(2_500);
    for (const m of ids) t.same(events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id2).map((e) => e.event.outcome), ['timeout'], `${m}: two duplicated yes are not a consensus of three`);
    clean(t, sim);
  });

  t.test('a member voting twice, a forged second vote and a non-voter are ignored', async (t) => {
    const ids = ['m1/a', 'm2/a', 'm3/a'];
    const answers = new Map<MemberId, boolean | null>();
    const sim = group(ids, { votePolicy: scriptedVotes(answers) });
    const L = settle(sim);
    sim.runFor(2_000);
    const [a, b] = ids.filter((i) => i !== L) as [MemberId, MemberId];
    // A 4th member that the leader cannot hear: it follows the leader and sees the ballot, but is not a voter.
    sim.cutOneWay('m4/a', L);
    sim.start('m4/a');
    t.ok(runUntilTrue(sim, () => sim.member('m4/a').leader() === L, 3_000) !== null, 'm4 follows the leader');
    const id = sim.requestPoll(L, { kind: 'consensus', subject: 'value', timeoutMs: 1_500 }) as string;
    sim.runFor(20);
    const asked = events(sim, 'voteRequest', 'm4/a').filter((e) => e.event.ballotId === id);
    t.same(asked.map((e) => e.event.canVote), [false], 'm4 sees the ballot as a non-voter');
    sim.vote('m4/a', id, true);
    sim.deliver(L, { version: 1, group: 'G.a', from: 'm4/a', incarnation: 1, term: sim.member('m4/a').term(), to: L, body: { type: 'memberVote', ballotId: id, yes: true } });
    t.equal(sim.vote(a, id, true), true, `${a} votes yes`);
    t.equal(sim.vote(a, id, false), false, `${a}'s second vote is refused locally`);
    sim.runFor(20);
    const inst = sim.instance(a);
    sim.deliver(L, { version: 1, group: 'G.a', from: a, incarnation: inst?.incarnation ?? 1, term: sim.member(a).term(), to: L, body: { type: 'memberVote', ballotId: id, yes: false } });
    sim.deliver(L, { version: 1, group: 'G.a', from: 'zz/x', incarnation: 1, term: sim.member(L).term(), to: L, body: { type: 'memberVote', ballotId: id, yes: false } });
    sim.vote(L, id, true);
    sim.runFor(50);
    t.same(events(sim, 'voteResult').filter((e) => e.event.ballotId === id), [], 'not decided: the forged no and the non-voters were ignored');
    sim.vote(b, id, true);
    sim.runFor(50);
    for (const m of [...ids, 'm4/a']) {
      t.same(events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id).map((e) => [e.event.outcome, e.event.tally]), [['yes', { yes: 3, no: 0, voters: 3 }]], `${m}: yes, 3 of 3 voters`);
    }
    clean(t, sim);
  });

  t.test('leadership changes mid-poll: every member still gets exactly one result by deadline + grace', async (t) => {
    for (const how of ['crash', 'partition'] as const) {
      const ids = ['m1/a', 'm2/a', 'm3/a', 'm4/a'];
      const answers = new Map<MemberId, boolean | null>();
      const sim = group(ids, { votePolicy: scriptedVotes(answers) });
      const L = settle(sim);
      sim.runFor(2_000);
      const R = ids.find((i) => i !== L) as MemberId;
      answers.set(R, true);
      const timeout = 3_000;
      const t0 = sim.now();
      const id = sim.requestPoll(R, { kind: 'consensus', subject: 'value', timeoutMs: timeout });
      sim.runFor(100);
      if (how === 'crash') sim.crash(L);
      else sim.partition([L], ids.filter((i) => i !== L));
      sim.runFor(timeout + HB + 1);
      for (const m of ids.filter((i) => i !== L)) {
        const results = events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id);
        t.equal(results.length, 1, `${how}: ${m} got one result (${results.map((e) => `${e.event.outcome} at +${e.t - t0} ms`)}) by deadline + grace`);
      }
      sim.runFor(5_000);
      for (const m of ids.filter((i) => i !== L)) t.equal(events(sim, 'voteResult', m).filter((e) => e.event.ballotId === id).length, 1, `${how}: ${m} never gets a second result`);
      clean(t, sim);
    }
  });
});
