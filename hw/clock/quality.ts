/**
 * What a member knows about its own wall clock: which daemon disciplines it, whether
 * that daemon says it is synchronised, and the error bound it reports. Parsers for
 * each daemon's tool (chrony, linuxptp, systemd-timesyncd) return one of these; a
 * machine with none of them reports itself honestly as unsynchronised.
 */
export type ClockSource = 'chrony' | 'ptp' | 'timesyncd' | 'none';

export interface ClockQuality {
  source: ClockSource;
  /** The daemon says the clock follows a reference now. */
  synchronised: boolean;
  /**
   * The daemon's bound on |wall clock − true time|, in ms (null when it gives none, or
   * the clock is unsynchronised: then nothing bounds it).
   */
  errorMs: number | null;
  /** A leap second is announced for the end of this UTC day. */
  leapPending: 'insert' | 'delete' | null;
  /** Why this answer (the daemon's status, or why no daemon was read). */
  detail: string;
}

export const UNSYNCHRONISED: ClockQuality = { source: 'none', synchronised: false, errorMs: null, leapPending: null, detail: 'no clock daemon answered' };

/** A parser's refusal: the text is not this tool's output. */
export class ClockParseError extends Error {
  override name = 'ClockParseError';
}
