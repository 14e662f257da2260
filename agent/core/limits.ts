/**
 * The numeric limits of the group protocol, in one place. The wire codec
 * (proto/codec.ts) enforces them in both directions; docs/wire.md tables them.
 * Pure constants, no imports, so any layer (core, config, codec) may use them.
 */

/**
 * Largest term, configuration term, version, committed version or incarnation
 * (the uint64 fields). Far below 2^53, so `term + 1` is always a safe integer
 * that still encodes: one hostile or corrupt frame with a huge term cannot push
 * a group to a term it can no longer campaign past. Incarnations are epoch-ms
 * based (~1.7e12 today), well below 2^48 (~2.8e14).
 */
export const MAX_COUNTER = 2 ** 48;

/** Latest epoch-ms instant on the wire (`sentAt`, `when`): 2^47 ms is in the year ~6429. 0 means "no instant". */
export const MAX_EPOCH_MS = 2 ** 47;

/** Longest poll timeout and remaining time of a ballot (`timeoutMs`, `remainingMs`): 24 h. */
export const MAX_POLL_TIMEOUT_MS = 86_400_000;

/** Shortest group timer, ms. */
export const MIN_TIMER_MS = 1;

/** Longest group timer, ms (1 h): the bound `validateTimers` (agent/core/timers.ts) applies. */
export const MAX_TIMER_MS = 3_600_000;

/** Most member ids in one list, and so the largest minSize and tally count: far above any real group, low enough to bound the work a frame causes. */
export const MAX_MEMBER_IDS = 1024;

/** Longest free-text field (endpoint, reason), in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 1024;

/** Receivers reject larger envelopes before parsing; senders refuse to build them. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024;
