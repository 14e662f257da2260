/**
 * Time sources. Timers use the monotonic clock (immune to NTP steps); action
 * instants use the wall clock. A wall offset can be injected for tests.
 */
import { performance } from 'node:perf_hooks';
import type { Instant } from '../core/events.js';

export interface Clock {
  now(): Instant;
}

/**
 * Wall-clock epoch ms with sub-millisecond resolution: the monotonic clock plus an
 * offset that is re-anchored to Date.now() whenever they disagree by more than 2 ms,
 * so it is smooth between NTP adjustments and follows steps.
 */
export function preciseWallClock(): () => number {
  let offset = Date.now() - performance.now();
  return () => {
    const mono = performance.now();
    const coarse = Date.now();
    // Date.now() truncates to whole ms: fine - coarse lies in [0, 1) when both agree.
    const fine = mono + offset;
    if (fine - coarse > 2 || coarse - fine > 2) offset = coarse - mono;
    return mono + offset;
  };
}

export function systemClock(wallOffsetMs = 0): Clock {
  const wall = preciseWallClock();
  return { now: () => ({ mono: performance.now(), wall: wall() + wallOffsetMs }) };
}
