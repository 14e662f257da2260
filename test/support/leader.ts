/**
 * The one definition of "the group has one leader" that every harness uses
 * (in-process agents, agent processes on loopback, the netns/ssh bench cluster):
 *
 *   every member looked at reports the same leader id and the same term, and
 *   that leader, if it is among those looked at, reports itself leader.
 *
 * (The simulator's `agreedLeader` in test/sim/scripted.ts applies it to every running
 * core, and there the leader must be one of them: `leaderAmong`.) Members that are down or not answering are the caller's
 * business: it passes the views of the members it expects to agree.
 */

/** What one member says about its group, from whatever the harness can read. */
export interface LeaderView {
  /** How problems name this member (a node, a host, a member id). */
  name: string;
  /** Its own member id, to find the leader among the views. */
  memberId?: string | undefined;
  role?: string | null | undefined;
  leader?: string | null | undefined;
  term?: number | null | undefined;
}

export type LeaderVerdict = { leader: string; term: number; problems?: undefined } | { leader?: undefined; term?: undefined; problems: string[] };

export interface LeaderRules {
  /** The leader must itself be among the views (the simulator sees every running member: a leader that is not running does not count). */
  leaderAmong?: boolean;
}

/** Checks the definition above; says what is wrong when it does not hold. */
export function judgeLeader(views: readonly LeaderView[], rules: LeaderRules = {}): LeaderVerdict {
  if (views.length === 0) return { problems: ['no members to look at'] };
  const problems: string[] = [];
  const leaders = new Set(views.map((v) => v.leader ?? null));
  const terms = new Set(views.map((v) => v.term ?? null));
  const [leader] = [...leaders];
  const [term] = [...terms];
  if (leaders.size > 1) problems.push(`members disagree on the leader: ${views.map((v) => `${v.name}→${v.leader ?? '-'}`).join(' ')}`);
  else if (!leader) problems.push('no leader');
  if (terms.size > 1) problems.push(`members disagree on the term: ${views.map((v) => `${v.name}:t${v.term ?? '-'}`).join(' ')}`);
  if (leaders.size === 1 && leader) {
    const self = views.find((v) => v.memberId === leader);
    if (self && self.role !== 'leader') problems.push(`${self.name} is named leader but reports role ${self.role ?? '-'}`);
    if (!self && rules.leaderAmong) problems.push(`the leader ${leader} is not among the members looked at`);
  }
  if (problems.length || !leader || typeof term !== 'number') return { problems: problems.length ? problems : ['no term'] };
  return { leader, term };
}

/** The leader and term if the definition holds, else null. */
export function commonLeader(views: readonly LeaderView[], rules: LeaderRules = {}): { leader: string; term: number } | null {
  const v = judgeLeader(views, rules);
  return v.leader === undefined ? null : { leader: v.leader, term: v.term };
}
