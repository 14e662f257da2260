/**
 * Mutants of the core: each breaks one rule of docs/protocol.md by replacing one method of one
 * part of a member (its election, leadership, polls, or the member itself), so the mutation
 * tests can show that some invariant catches it.
 */
import { GroupMember, type MemberOptions } from '../../agent/core/member.js';
import type { MemberState } from '../../agent/core/member-state.js';

type Method = (...args: never[]) => unknown;
type Part = 'member' | 'election' | 'leadership' | 'polls';

/**
 * Replace one method of a member part with a broken version (the mutant); `broken` gets the
 * original (bound), the member's shared state and the patched object. Names are checked, so renaming a method in
 * the core fails here loudly instead of testing nothing.
 */
function mutant(where: `${Part}.${string}`, broken: (original: Method, state: MemberState, target: Record<string, unknown>) => Method): new (opts: MemberOptions) => GroupMember {
  const [part, name] = where.split('.') as [Part, string];
  return class extends GroupMember {
    constructor(opts: MemberOptions) {
      super(opts);
      const state = (this as unknown as { s: MemberState }).s;
      if (!state) throw new Error('mutant: GroupMember keeps no shared state in `s`; update the mutation');
      const target = (part === 'member' ? this : state[part]) as unknown as Record<string, unknown>;
      patch(target, name, where, (original) => broken(original, state, target));
    }
  };
}

function patch(target: Record<string, unknown>, name: string, where: string, make: (original: Method) => Method): void {
  const original = target[name];
  if (typeof original !== 'function') throw new Error(`mutant: no method ${where}; update the mutation`);
  target[name] = make((original as Method).bind(target));
}

/** Each names the rule it breaks in docs/protocol.md and the invariant that must catch it. */
export const MUTANTS = {
  /** §4.1 check-quorum: a leader that cannot hear a quorum keeps leading. */
  noCheckQuorum: mutant('leadership.stepDown', (stepDown) => ((now: never, why: never) => (String(why).startsWith('lost contact with a quorum') ? undefined : stepDown(now, why))) as Method),
  /** §4.1 leader lease: followers help unseat a leader they hear. */
  noLease: mutant('election.inLease', () => (() => false) as Method),
  /** §4.1 a leader that stalled past its lease acts on waking. */
  stallBlind: mutant('leadership.checkStall', () => (() => undefined) as Method),
  /** §5 a leader that steps down forgets its open polls. */
  pollsLeftOpen: mutant('leadership.stepDown', (stepDown, s) => ((now: never, why: never) => {
    s.books()?.polls.clear();
    return stepDown(now, why);
  }) as Method),
  /** §4.1 a follower keeps a leader it no longer hears. */
  keepsSilentLeader: mutant('election.silentLeaderDeadline', () => (() => Infinity) as Method),
  /** §5 ballots and leader data taken from anyone. */
  anyLeader: mutant('member.fromOurLeader', (_f, _s, member) => {
    patch(member, 'fromLeaderOfOurTerm', 'member.fromLeaderOfOurTerm', () => (() => true) as Method);
    return (() => true) as Method;
  }),
  /** §5 no grace: a member gives up on the leader's result at the deadline itself. */
  noGrace: mutant('polls.resultGrace', () => (() => 0) as Method),
  /** §5 votes handled after the deadline still count. */
  lateVotes: mutant('polls.countVote', (countVote, s) => ((vote: { ballotId: string }, voter: never, now: { mono: number }) => {
    const poll = s.books()?.polls.get(vote.ballotId);
    return countVote(vote as never, voter, (poll && now.mono >= poll.deadline ? { ...now, mono: poll.deadline - 1 } : now) as never);
  }) as Method),
  /** §4.1 (31a0bd1) a voter that follows a newer leader still keeps the old one's check-quorum alive. */
  anyTermKeepsLeader: mutant('member.noteSender', (noteSender, s) => ((env: { from: string }, now: { mono: number }) => {
    const ok = noteSender(env as never, now as never);
    const books = s.books();
    if (ok && books && s.voterConfig.voters.includes(env.from)) books.lastActive.set(env.from, now.mono);
    return ok;
  }) as Method),
  /** §4.4 an amnesiac member votes at once. */
  amnesiacVotes: mutant('election.endQuarantine', (_end, s) => (() => {
    s.noVoteThrough = -1;
  }) as Method),
  /** §4.4 (seed 3477) any id heard, phantoms included, arms an amnesiac's quarantine. */
  quarantineByAnyone: mutant('election.quarantineWitnesses', (_q, s) => ((now: { mono: number }) => s.table.alive(now.mono, s.timers.peerTimeout).length) as Method),
  /** §2 absurd terms adopted. */
  absurdTerms: mutant('member.isAbsurd', () => (() => false) as Method),
  /** §5 results announced once: no repeats, no repeated votes (measured in loss.test.ts). */
  resultsOnce: mutant('polls.repeatResults', (_r, s) => {
    patch(s.polls as unknown as Record<string, unknown>, 'resendVote', 'polls.resendVote', () => (() => undefined) as Method);
    return (() => undefined) as Method;
  }),
  /** §4.3 any id heard becomes a voter. */
  admitsPhantoms: mutant('leadership.mayBecomeVoter', () => (() => true) as Method),
} as const;
