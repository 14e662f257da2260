/**
 * Waiting in tests with real time: the one `waitFor` every tier uses. Deadlines are
 * liveness bounds, loose on purpose (the machine is shared and loaded); a test that
 * measures time reports the figure, it does not assert it tightly.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Poll period, ms (default 40). */
  intervalMs?: number;
  /** Called after each probe that did not hold (e.g. to re-send a message a slow joiner missed). */
  poke?: () => void;
}

/**
 * Polls `probe` until it returns something other than undefined, null or false and
 * returns that; a probe that throws is retried. After `timeoutMs` it throws an Error
 * saying `what` (a function: read when it times out, e.g. a count of what was found), how
 * long it waited and the probe's last error.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, timeoutMs: number, what: string | (() => string) = 'condition', opts: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const start = performance.now();
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    opts.poke?.();
    await sleep(opts.intervalMs ?? 40);
  }
}

/** Waits until `done()` holds (see waitFor); returns the ms it took, for tests that report a figure. */
export async function until(what: string, done: () => boolean, timeoutMs = 10_000, opts: WaitOptions = {}): Promise<number> {
  const start = performance.now();
  await waitFor(done, timeoutMs, what, opts);
  return performance.now() - start;
}
