/**
 * Waiting in tests with real time: the one `waitFor` every tier uses. Deadlines are
 * liveness bounds, loose on purpose (the machine is shared and loaded); a test that
 * measures time reports the figure, it does not assert it tightly.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this many ms (default 10 s). */
  timeoutMs?: number;
  /** Poll period (default 20 ms). */
  intervalMs?: number;
  /** Called before each probe (e.g. to re-send a message a slow joiner missed). */
  poke?: () => void;
}

/**
 * Polls `probe` until it returns something other than undefined, null or false and
 * returns that; a probe that throws is retried. On timeout it throws an Error saying
 * `what`, how long it waited and the probe's last error.
 */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, opts: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const start = performance.now();
  let lastError: unknown = null;
  for (;;) {
    opts.poke?.();
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(opts.intervalMs ?? 20);
  }
}

/** Waits until `done()` holds; returns the ms it took (for tests that report a figure). */
export async function until(what: string, done: () => boolean, opts: WaitOptions = {}): Promise<number> {
  const start = performance.now();
  await waitFor(what, () => done(), opts);
  return performance.now() - start;
}
