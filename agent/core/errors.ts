/** Typed errors for requests the group cannot carry out. The API re-exports them. */
export class CohortError extends Error {
  override name = 'CohortError';
}
/** The group has no leader right now (sendToLeader, requestVote...). */
export class NoLeaderError extends CohortError {
  override name = 'NoLeaderError';
  constructor(group: string) {
    super(`group ${group} has no leader`);
  }
}
/** A leader-only request (sendToMember) from a member that is not the leader. */
export class NotLeaderError extends CohortError {
  override name = 'NotLeaderError';
  constructor(group: string, leader: string | null) {
    super(`this member is not the leader of group ${group}${leader ? ` (the leader is ${leader})` : ' (it has no leader)'}`);
  }
}
/** The member has left the group; the Group object is dead. */
export class LeftGroupError extends CohortError {
  override name = 'LeftGroupError';
  constructor(group: string) {
    super(`this member has left group ${group}`);
  }
}
/** A request's arguments are invalid (unknown ballot, bad kind, bad timeout...). */
export class BadArgumentsError extends CohortError {
  override name = 'BadArgumentsError';
}
