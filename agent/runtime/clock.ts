/**
 * Time sources. Timers use the monotonic clock (immune to NTP steps); action
 * instants use the wall clock. A wall offset can be injected for tests.
 */
import { performance } from 'node:perf_hooks';
import type { Instant } from '../core/events.js';

export interface Clock {
  now(): Instant;
}

export function systemClock(wallOffsetMs = 0): Clock {
  return { now: () => ({ mono: performance.now(), wall: Date.now() + wallOffsetMs }) };
}
