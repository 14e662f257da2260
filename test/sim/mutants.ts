/**
 * Mutants of the core: each breaks one rule of docs/protocol.md by replacing one private
 * method, so the mutation tests can show that some invariant catches it.
 */
import { GroupMember, type MemberOptions } from '../../agent/core/member.js';

/**
 * Replace one private method of a member with a broken version (the mutant). Names are checked,
 * so renaming a method in the core fails here loudly instead of testing nothing.
 */
type Method = (...args: never[]) => unknown;
function mutant(name: string, broken: (original: Method, self: Record<string, unknown>) => Method): new (opts: MemberOptions) => GroupMember {
  return class extends GroupMember {
    constructor(opts: MemberOptions) {
      super(opts);
      const self = this as unknown as Record<string, unknown>;
      const original = self[name];
      if (typeof original !== 'function') throw new Error(`mutant: GroupMember has no method ${name}; update the mutation`);
      self[name] = broken((original as Method).bind(this), self);
    }
  };
}

/** Each names the rule it breaks in docs/protocol.md and the invariant that must catch it. */
export const MUTANTS = {
  /** §4.1 check-quorum: a leader that cannot hear a quorum keeps leading. */
  noCheckQuorum: mutant('stepDown', (stepDown) => ((now: never, why: never) => (String(why).startsWith('lost contact with a quorum') ? undefined : stepDown(now, why))) as Method),
  /** §4.1 leader lease: followers help unseat a leader they hear. */
  noLease: mutant('inLease', () => (() => false) as Method),
  /** §4.1 a leader that stalled past its lease acts on waking. */
  stallBlind: mutant('checkStall', () => (() => undefined) as Method),
  /** §5 a leader that steps down forgets its open polls. */
  pollsLeftOpen: mutant('stepDown', (stepDown, self) => ((now: never, why: never) => {
    const ls = self['leaderState'] as { polls: Map<string, unknown> } | null;
    ls?.polls.clear();
    return stepDown(now, why);
  }) as Method),
  /** §4.1 a follower keeps a leader it no longer hears. */
  keepsSilentLeader: mutant('silentLeaderDeadline', () => (() => Infinity) as Method),
  /** §5 ballots and leader data taken from anyone. */
  anyLeader: mutant('fromOurLeader', (_f, self) => {
    self['fromLeaderOfOurTerm'] = () => true;
    return (() => true) as Method;
  }),
  /** §5 no grace: a member gives up on the leader's result at the deadline itself. */
  noGrace: mutant('resultGrace', () => (() => 0) as Method),
  /** §5 votes handled after the deadline still count. */
  lateVotes: mutant('countVote', (countVote, self) => ((vote: { ballotId: string }, voter: never, now: { mono: number }) => {
    const poll = (self['leaderState'] as { polls: Map<string, { deadline: number }> } | null)?.polls.get(vote.ballotId);
    return countVote(vote as never, voter, (poll && now.mono >= poll.deadline ? { ...now, mono: poll.deadline - 1 } : now) as never);
  }) as Method),
  /** §4.1 (31a0bd1) a voter that follows a newer leader still keeps the old one's check-quorum alive. */
  anyTermKeepsLeader: mutant('noteSender', (noteSender, self) => ((env: { from: string }, now: { mono: number }) => {
    const ok = noteSender(env as never, now as never);
    const ls = self['leaderState'] as { lastActive: Map<string, number> } | null;
    const cfg = self['voterConfig'] as { voters: string[] };
    if (ok && ls && cfg.voters.includes(env.from)) ls.lastActive.set(env.from, now.mono);
    return ok;
  }) as Method),
  /** §4.4 an amnesiac member votes at once. */
  amnesiacVotes: mutant('endQuarantine', (_end, self) => (() => {
    self['noVoteThrough'] = -1;
  }) as Method),
  /** §2 absurd terms adopted. */
  absurdTerms: mutant('isAbsurd', () => (() => false) as Method),
  /** §5 results announced once: no repeats, no repeated votes (measured in loss.test.ts). */
  resultsOnce: mutant('repeatResults', (_r, self) => {
    self['resendVote'] = () => undefined;
    return (() => undefined) as Method;
  }),
  /** §4.3 any id heard becomes a voter. */
  admitsPhantoms: mutant('mayBecomeVoter', () => (() => true) as Method),
} as const;

