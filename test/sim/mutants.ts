/**
 * Mutants of the core: each breaks one rule of docs/protocol.md by replacing one method of one
 * part of a member (its election, leadership, polls, or the member itself), so the mutation
 * tests can show that some invariant catches it.
 */
import { GroupMember, type MemberOptions } from '../../agent/core/member.js';
import type { MemberState } from '../../agent/core/member-state.js';
import { hasQuorum } from '../../agent/core/quorum.js';

type Method = (...args: never[]) => unknown;
type Part = 'member' | 'election' | 'leadership' | 'polls' | 'settings';

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
  /** §2.1 receiver checks: a message from an older incarnation than the one on record is taken as current. */
  staleAccepted: mutant('member.noteSender', (noteSender, state) => ((env: never, now: never) => {
    const table = state.table as unknown as { heard: (id: string, inc: number, t: number) => string };
    const heard = table.heard.bind(table);
    table.heard = (id, inc, t) => {
      const r = heard(id, inc, t);
      return r === 'stale' ? 'refreshed' : r;
    };
    try {
      return noteSender(env, now);
    } finally {
      delete (table as { heard?: unknown }).heard; // back to the prototype's
    }
  }) as Method),
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
  /**
   * §5 results announced once: no repeats, no repeated votes (measured in loss.test.ts). The
   * resend schedule still advances, as the real resendVote does: a mutant that left it in the
   * past would have nextDeadline() stay at now and spin the simulator's tick loop.
   */
  resultsOnce: mutant('polls.repeatResults', (_r, s) => {
    const polls = s.polls as unknown as { resendInterval(): number };
    patch(s.polls as unknown as Record<string, unknown>, 'resendVote', 'polls.resendVote', () => ((entry: { resendAt?: number }, now: { mono: number }) => {
      entry.resendAt = now.mono + polls.resendInterval();
    }) as Method);
    return (() => undefined) as Method;
  }),
  /** §5 a member forgets that a ballot is finished: a repeated result is delivered again. */
  resultsTwice: mutant('polls.onPollResult', (onPollResult, s) => {
    const book = (s.polls as unknown as { ballots: Record<string, unknown> }).ballots;
    patch(book, 'isFinished', 'polls.ballots.isFinished', () => (() => false) as Method);
    return onPollResult;
  }),
  /** §5 a member waits ten minutes for a result its leader may never send. */
  waitsTooLong: mutant('polls.resultWait', () => (() => 600_000) as Method),
  /** §5 an action scheduled whatever the outcome. */
  actsWithoutYes: mutant('polls.onPollResult', (onPollResult, s) => ((result: { outcome: string; subject: string; ballotId: string; when: number }, from: never, now: never, leadsOurTerm: never) => {
    onPollResult(result as never, from, now, leadsOurTerm);
    if (result.outcome !== 'yes' && result.subject === 'action') s.emit({ type: 'actionScheduled', ballotId: result.ballotId, when: result.when, topic: new Uint8Array() });
  }) as Method),
  /** §4.3 off by one: a configuration counts as committed once a quorum acknowledged the one before it. */
  commitsEarly: mutant('leadership.updateCommit', (_u, s) => (() => {
    const books = s.books();
    if (!books) return;
    const cfg = s.voterConfig;
    const acked = new Set(cfg.voters.filter((v) => {
      const a = books.acked.get(v);
      return a !== undefined && a.term === cfg.term && a.version >= cfg.version - 1;
    }));
    if (hasQuorum(cfg.voters, acked, s.minSize)) books.committedVersion = cfg.version;
  }) as Method),
  /** §4.3 every acknowledged joiner added in one change. */
  addsAllJoiners: mutant('leadership.setConfig', (setConfig, s) => ((config: { term: number; version: number; voters: string[] }) => {
    const books = s.books();
    if (!books || config.term !== s.currentTerm || config.version <= s.voterConfig.version) return setConfig(config as never);
    const joiners = [...books.acked.keys()].filter((m) => s.table.has(m) && !config.voters.includes(m) && !books.departed.has(m));
    return setConfig({ ...config, voters: [...new Set([...config.voters, ...joiners])].sort() } as never);
  }) as Method),
  /** §4.3 adding a voter without bumping the configuration's version (two voter sets at one position). */
  reusesPosition: mutant('leadership.setConfig', (setConfig, s) => ((config: { term: number; version: number; voters: string[] }) => {
    const cur = s.voterConfig;
    const changed = s.isLeader() && config.term === cur.term && config.version === cur.version + 1 && config.voters.length > cur.voters.length;
    return setConfig((changed ? { ...config, version: cur.version } : config) as never);
  }) as Method),
  /** §4.3 a follower adopts whatever configuration its leader's heartbeat carries, older ones too (reordering rolls it back). */
  configRollsBack: mutant('election.onLeaderHeartbeat', (onLeaderHeartbeat, s) => ((env: { from: string; term: number; body: { config: { term: number; version: number; voters: string[] } } }, now: never) => {
    onLeaderHeartbeat(env as never, now);
    if (s.leaderId() === env.from && env.term === s.currentTerm && !s.isLeader()) s.voterConfig = { ...env.body.config, voters: [...env.body.config.voters] };
  }) as Method),
  /** §4.1 a follower that loses its leader says nothing (no leaderExited). */
  silentLeaderLoss: mutant('election.dropLeader', (_d, s) => (() => s.setFollowed(null)) as Method),
  /** §4.1 a member follows a stale leader back to its older term. */
  termGoesBack: mutant('election.onLeaderHeartbeat', (onLeaderHeartbeat, s) => ((env: { term: number }, now: never) => {
    if (env.term < s.currentTerm && !s.isLeader()) s.setHardState(env.term, null);
    onLeaderHeartbeat(env as never, now);
  }) as Method),
  /** §4.1 a member that never campaigns. */
  neverCampaigns: mutant('election.electionTimeout', (_e, s) => ((now: { mono: number }) => s.election.resetElectionTimer(now.mono)) as Method),
  /** §6.1 heartbeat settings never compared. */
  settingsUnchecked: mutant('settings.heard', () => (() => undefined) as Method),
  /** §4.3 any id heard becomes a voter. */
  admitsPhantoms: mutant('leadership.mayBecomeVoter', () => (() => true) as Method),
} as const;
