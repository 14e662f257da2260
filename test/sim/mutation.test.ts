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
import type { MemberFactory } from './simulator.js';

const MAX_SEEDS = 300;

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
    const self = this as unknown as { votedFor: string | null };
    if (!('votedFor' in self)) throw new Error('AmnesiacVoter relies on GroupMember keeping its vote in `votedFor`; update the mutation');
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
    factory: some(LyingVoter, ['m1', 'm2', 'm3']),
    rules: ['vote-persisted-before-granted', 'leader-has-quorum', 'one-leader-per-term'],
  },
  {
    name: 'a voter that forgets its vote (grants every request in a term)',
    factory: some(AmnesiacVoter, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']),
    rules: ['one-vote-per-term', 'one-leader-per-term', 'leader-has-quorum'],
  },
  {
    // With the direct vote checks switched off, the consequence must still show: two leaders in a term.
    name: 'double voting by its consequence alone (two leaders in one term)',
    factory: some(AmnesiacVoter, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']),
    ignore: ['one-vote-per-term', 'vote-persisted-before-granted', 'leader-has-quorum'],
    rules: ['one-leader-per-term', 'follow-current-leader', 'leader-events'],
    seeds: 1500,
  },
  {
    name: 'a leader that inflates poll tallies',
    factory: some(InflatedTally, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']),
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
