/**
 * Does the checker catch bugs? Each case runs the seeded schedules with a
 * deliberately broken member (a GroupMember subclass that breaks one rule) and
 * asserts that some seed reports a violation of the expected kind, that the
 * correct core passes that seed, and that replaying the seed reproduces the
 * very same violation.
 *
 * To try another broken rule by hand, add a case here: a factory that builds
 * the faulty member for some ids and a list of rules the checker should name.
 */
import t from 'tap';
import { GroupMember, type MemberOptions } from '../../agent/core/member.js';
import type { Output } from '../../agent/core/events.js';
import type { Envelope } from '../../agent/core/messages.js';
import { runSeed } from './run.js';
import { group, runUntilTrue, settle } from './scripted.js';
import type { Simulator } from './simulator.js';
import { MUTANTS } from './mutants.js';
import { amnesiacAmongPhantoms, misconfiguredMember } from './scenarios.js';
import type { MemberFactory } from './simulator.js';

const MAX_SEEDS = Number(process.env.MUTANT_SEEDS ?? 600);
const ALL = ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a', 'm6/a', 'm7/a'];

/** Grants real votes it would refuse: rewrites its outgoing refusals (it persists nothing). */
class LyingVoter extends GroupMember {
  override takeOutputs(): Output[] {
    return super.takeOutputs().map((o) => {
      if (o.type !== 'send' || o.envelope.body.type !== 'voteReply' || o.envelope.body.preVote || o.envelope.body.granted) return o;
      return { type: 'send', envelope: { ...o.envelope, body: { ...o.envelope.body, granted: true } } };
    });
  }
}

/** Forgets whom it voted for whenever a vote request arrives, so it votes twice in a term. */
class AmnesiacVoter extends GroupMember {
  override receive(env: Envelope, now: Parameters<GroupMember['receive']>[1]): void {
    const self = (this as unknown as { s?: { votedFor: string | null } }).s;
    if (!self || !('votedFor' in self)) throw new Error('AmnesiacVoter relies on GroupMember keeping its vote in `s.votedFor`; update the mutation');
    if (env.body.type === 'voteRequest' && !env.body.preVote) self.votedFor = null;
    super.receive(env, now);
  }
}

/** A leader that announces one more 'yes' than it counted. */
class InflatedTally extends GroupMember {
  override takeOutputs(): Output[] {
    return super.takeOutputs().map((o) => {
      if (o.type !== 'send' || o.envelope.body.type !== 'pollResult') return o;
      const b = o.envelope.body;
      const yes = Math.min(b.tally.voters, b.tally.yes + 1);
      return { type: 'send', envelope: { ...o.envelope, body: { ...b, tally: { ...b.tally, yes } } } };
    });
  }
}

const some =
  (Broken: new (opts: MemberOptions) => GroupMember, ids: string[]): MemberFactory =>
  (opts) =>
    ids.includes(opts.id) ? new Broken(opts) : new GroupMember(opts);

const cases: Array<{ name: string; factory: MemberFactory; rules: string[]; ignore?: string[]; seeds?: number }> = [
  {
    name: 'a voter that grants votes it should refuse',
    factory: some(LyingVoter, ['m1/a', 'm2/a', 'm3/a']),
    rules: ['vote-persisted-before-granted', 'leader-has-quorum', 'one-leader-per-term'],
  },
  {
    name: 'a voter that forgets its vote (grants every request in a term)',
    factory: some(AmnesiacVoter, ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a', 'm6/a', 'm7/a']),
    rules: ['one-vote-per-term', 'one-leader-per-term', 'leader-has-quorum'],
  },
  {
    // With the direct vote checks switched off, the consequence must still show: two leaders in a term.
    name: 'double voting by its consequence alone (two leaders in one term)',
    factory: some(AmnesiacVoter, ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a', 'm6/a', 'm7/a']),
    ignore: ['one-vote-per-term', 'vote-persisted-before-granted', 'leader-has-quorum'],
    rules: ['one-leader-per-term', 'follow-current-leader', 'leader-events'],
    seeds: 1500,
  },
  { name: 'a leader that keeps leading without a quorum (no check-quorum)', factory: some(MUTANTS.noCheckQuorum, ALL), rules: ['check-quorum-stepdown'] },
  { name: 'followers without a leader lease', factory: some(MUTANTS.noLease, ALL), rules: ['vote-outside-lease'] },
  { name: 'a leader that acts after a stall without checking its lease', factory: some(MUTANTS.stallBlind, ALL), rules: ['act-within-lease'] },
  { name: 'a leader that steps down and leaves its polls open', factory: some(MUTANTS.pollsLeftOpen, ALL), rules: ['stepdown-ends-polls'] },
  { name: 'a follower that keeps a silent leader', factory: some(MUTANTS.keepsSilentLeader, ALL), rules: ['follower-drops-silent-leader'] },
  { name: 'members that take ballots and leader data from anyone', factory: some(MUTANTS.anyLeader, ALL), rules: ['leader-traffic-from-leader', 'data-channels', 'result-matches-leader'] },
  { name: 'members that give up on the result at the deadline (no grace)', factory: some(MUTANTS.noGrace, ALL), rules: ['connected-gets-leader-outcome', 'poll-agreement'] },
  { name: 'a leader that counts votes handled after the deadline', factory: some(MUTANTS.lateVotes, ALL), rules: ['poll-deadline'] },
  { name: 'members that adopt absurd terms', factory: some(MUTANTS.absurdTerms, ALL), rules: ['wire-encodable'] },
  { name: 'a leader that makes any id it hears a voter', factory: some(MUTANTS.admitsPhantoms, ALL), rules: ['voters-are-members'] },
  { name: 'members that forget a ballot is finished (results delivered twice)', factory: some(MUTANTS.resultsTwice, ALL), rules: ['one-result-per-ballot', 'poll-events', 'action-once'] },
  { name: 'members that wait ten minutes for a result', factory: some(MUTANTS.waitsTooLong, ALL), rules: ['result-by-deadline', 'requester-result-by-deadline'] },
  { name: 'members that act on an action vote without a yes', factory: some(MUTANTS.actsWithoutYes, ALL), rules: ['action-after-yes'] },
  { name: 'a leader that counts a configuration committed one step early', factory: some(MUTANTS.commitsEarly, ALL), rules: ['config-change-after-commit'] },
  { name: 'a leader that adds a voter without bumping the configuration version', factory: some(MUTANTS.reusesPosition, ALL), rules: ['config-unique'] },
  { name: 'a leader that adds every acknowledged joiner at once', factory: some(MUTANTS.addsAllJoiners, ALL), rules: ['config-one-change'] },
  { name: 'followers that adopt an older configuration from a reordered heartbeat', factory: some(MUTANTS.configRollsBack, ALL), rules: ['config-monotonic'] },
  { name: 'followers that lose their leader silently (no leaderExited)', factory: some(MUTANTS.silentLeaderLoss, ALL), rules: ['leader-events-match-state', 'leader-events'] },
  { name: 'members that follow a stale leader back to its older term', factory: some(MUTANTS.termGoesBack, ALL), rules: ['term-monotonic'] },
  { name: 'members that never campaign', factory: some(MUTANTS.neverCampaigns, ALL), rules: ['liveness'] },
  {
    name: 'a leader that inflates poll tallies',
    factory: some(InflatedTally, ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a', 'm6/a', 'm7/a']),
    rules: ['poll-tally', 'poll-outcome', 'result-matches-leader'],
  },
];

for (const c of cases) {
  t.test(`the checker catches ${c.name}`, async (t) => {
    let found: ReturnType<typeof runSeed> | null = null;
    const opts = { factory: c.factory, ...(c.ignore ? { ignore: c.ignore } : {}) };
    const max = c.seeds ?? MAX_SEEDS;
    for (let seed = 1; seed <= max && !found; seed++) {
      const r = runSeed(seed, opts);
      if (r.violations.length) found = r;
    }
    if (!found) return void t.fail(`no violation in ${max} seeds`);
    const v = found.violations[0];
    t.comment(`seed ${found.seed}: [${v?.rule}] at ${v?.t} ms: ${v?.text}`);
    t.ok(v && c.rules.includes(v.rule), `reported as one of ${c.rules.join(', ')} (got ${v?.rule})`);
    t.same(runSeed(found.seed).violations, [], 'the correct core passes the same seed');
    t.same(runSeed(found.seed, opts).violations, found.violations, 'replaying the seed reproduces the same violation');
  });
}

/**
 * Rules whose breach needs a precise schedule that random seeds rarely build: each scenario runs
 * once with the correct core (no violation) and once with the mutant (the named invariant fires).
 */
const scenarios: Array<{ name: string; Broken: new (opts: MemberOptions) => GroupMember; rules: string[]; run: (factory: MemberFactory | undefined) => Simulator }> = [
  {
    // 31a0bd1: voters that moved on to a newer leader still heart-beat to the old one; they must
    // not count toward its check-quorum, or two leaders (old term and new) lead side by side.
    name: 'the 31a0bd1 regression: voters of a newer term keep the old leader alive',
    Broken: MUTANTS.anyTermKeepsLeader,
    rules: ['check-quorum-stepdown'],
    run: (factory) => {
      let cut: { L: string; d: string; X: string[] } | null = null;
      const sim = group(['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a'], {
        minSize: 3,
        ...(factory ? { factory } : {}),
        shape: (env, from, to) => {
          if (!cut) return null;
          if (from === cut.L && cut.X.includes(to)) return []; // X no longer hears the old leader...
          // ...nor does the old side hear the new leader: only the others' member heartbeats get through.
          if (cut.X.includes(from) && (to === cut.L || to === cut.d) && env.body.type !== 'memberHeartbeat') return [];
          return null;
        },
      });
      const L = settle(sim);
      runUntilTrue(sim, () => sim.member(L).config().voters.length === 5, 10_000);
      const others = sim.ids().filter((i) => i !== L);
      cut = { L, d: others[0] as string, X: others.slice(1) };
      const term = sim.member(L).term();
      runUntilTrue(sim, () => sim.up().some((i) => i.id !== L && i.member.role() === 'leader' && i.member.term() > term), 15_000);
      sim.runFor(3 * sim.opts.timers.peerTimeout);
      return sim;
    },
  },
  {
    // A member that lost its vote record restarts and is asked, in the same term, by another candidate.
    name: 'an amnesiac member that votes at once',
    Broken: MUTANTS.amnesiacVotes,
    rules: ['one-vote-per-term'],
    run: (factory) => {
      const sim = group(['m1/a', 'm2/a', 'm3/a'], { ...(factory ? { factory } : {}) });
      const L = settle(sim);
      const term = sim.member(L).term();
      const voter = sim.ids().find((i) => i !== L && sim.hardState(i)?.votedFor === L && sim.hardState(i)?.term === term);
      if (!voter) throw new Error(`no follower voted for ${L} in term ${term}`);
      const other = sim.ids().find((i) => i !== L && i !== voter) as string;
      sim.crash(voter);
      const config = sim.member(L).config();
      sim.start(voter, { amnesiac: true });
      sim.deliver(voter, {
        version: 1,
        group: 'G.a',
        from: other,
        incarnation: sim.instance(other)?.incarnation ?? 1,
        term,
        to: '',
        body: { type: 'voteRequest', preVote: false, electionTerm: term, configTerm: config.term, configVersion: config.version, proposedVoters: [], transfer: false },
      });
      sim.runFor(100);
      return sim;
    },
  },
  {
    // Seed 3477: strangers heart-beat at an amnesiac while every real member is down; a real
    // member back with an older term must not get a second vote in a term the amnesiac voted in.
    name: 'an amnesiac whose quarantine phantoms end',
    Broken: MUTANTS.quarantineByAnyone,
    rules: ['one-vote-per-term'],
    run: (factory) => amnesiacAmongPhantoms(factory).sim,
  },
  {
    name: 'members that never compare the settings in heartbeats',
    Broken: MUTANTS.settingsUnchecked,
    rules: ['settings-mismatch-reported'],
    run: (factory) => misconfiguredMember(factory),
  },
];

for (const c of scenarios) {
  t.test(`the checker catches ${c.name} (scripted)`, async (t) => {
    const good = c.run(undefined);
    t.same(good.checker.violations.map((v) => `[${v.rule}] ${v.text}`), [], 'the correct core passes the scenario');
    const bad = c.run((opts) => new c.Broken(opts));
    const v = bad.checker.violations[0];
    t.comment(`[${v?.rule}] at ${v?.t} ms: ${v?.text}`);
    t.ok(v && c.rules.includes(v.rule), `reported as one of ${c.rules.join(', ')} (got ${v?.rule ?? 'nothing'})`);
  });
}
