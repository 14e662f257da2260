/**
 * Quorum and voter-configuration rules (see docs/protocol.md, "Quorum").
 *
 * A quorum of a voter set V is max(floor(|V|/2) + 1, minSize): a strict
 * majority, so any two quorums of one configuration intersect, and never fewer
 * than the group's minSize (RIAPS `groupMinSize`), so a group below its minimum
 * size cannot elect a leader.
 */
import type { MemberId, VoterConfig } from './messages.js';

export function quorumSize(voterCount: number, minSize: number): number {
  return Math.max(Math.floor(voterCount / 2) + 1, minSize);
}

export function hasQuorum(voters: readonly MemberId[], granted: ReadonlySet<MemberId>, minSize: number): boolean {
  let n = 0;
  for (const v of voters) if (granted.has(v)) n++;
  return n >= quorumSize(voters.length, minSize);
}

/** Position of a configuration, ordered like a Raft log position: by term, then version. */
export interface ConfigPosition {
  term: number;
  version: number;
}

export function comparePosition(a: ConfigPosition, b: ConfigPosition): number {
  return a.term !== b.term ? a.term - b.term : a.version - b.version;
}

export const EMPTY_CONFIG: VoterConfig = Object.freeze({ term: 0, version: 0, voters: [] }) as VoterConfig;

export function isBootstrap(config: VoterConfig): boolean {
  return config.version === 0;
}
