/**
 * Fires an agreed action at a wall-clock instant. setTimeout alone is late by
 * up to a few ms (and drifts if the wall clock is stepped meanwhile), so we sleep
 * until shortly before the instant, re-reading the wall clock, then yield with
 * setImmediate until it is reached. The firing error (fired − when) is read from
 * the wall clock at the moment of firing.
 *
 * Each wake also compares wall − monotonic with the previous wake (hw/step.ts): a
 * jump no slewing daemon could make is a step of the wall clock. The caller's
 * `onStep` decides: `rearm` keeps waiting for `when` by the stepped clock (the
 * firing then reports the step it lived through), `cancel` drops the action.
 */
import { performance } from 'node:perf_hooks';
import { StepDetector } from '../../hw/step.js';

export interface ActionFiring {
  when: number;
  firedAt: number;
  /** firedAt − when, in ms (positive = late), by the wall clock at firing. */
  errorMs: number;
  /** Sum of the wall-clock steps seen while waiting, ms (0: none). */
  stepMs: number;
}

export interface ActionStepSeen {
  when: number;
  /** This step, ms (positive: the wall clock jumped forward). */
  stepMs: number;
  /** Wall clock after the step. */
  at: number;
  decision: 'rearm' | 'cancel';
}

export interface ActionTimerOptions {
  /** Called on a step while waiting; returns what to do. Default: rearm. */
  onStep?: (stepMs: number) => 'rearm' | 'cancel';
  /** Told about every step seen, after the decision. */
  stepped?: (s: ActionStepSeen) => void;
}

const SPIN_MS = 3;
/** Spin (block) for at most this long before the instant: never long enough to matter to anyone else. */
const BUSY_MS = 0.5;
/**
 * Longest sleep between looks at the clocks. A step that happens while sleeping is seen at
 * the next wake, so a forward step past the instant makes the action at most this late by the
 * stepped clock (one timer every 25 ms per waiting action costs nothing measurable).
 */
const MAX_SLEEP_MS = 25;

export class ActionTimer {
  private readonly pending = new Set<NodeJS.Timeout | NodeJS.Immediate>();
  private closed = false;

  constructor(
    private readonly wallNow: () => number = Date.now,
    private readonly monoNow: () => number = () => performance.now(),
  ) {}

  at(when: number, fire: (f: ActionFiring) => void, opts: ActionTimerOptions = {}): void {
    const steps = new StepDetector();
    let stepMs = 0;
    const check = () => {
      if (this.closed) return;
      const now = this.wallNow();
      const step = steps.observe(this.monoNow(), now);
      if (step) {
        const decision = opts.onStep?.(step.stepMs) ?? 'rearm';
        stepMs += step.stepMs;
        opts.stepped?.({ when, stepMs: step.stepMs, at: now, decision });
        if (decision === 'cancel') return;
      }
      let left = when - now;
      if (left > 0 && left <= BUSY_MS) {
        // The last fraction of a millisecond: spin rather than yield, since one more turn of a
        // busy event loop can cost more than the whole wait.
        let t = now;
        while (t < when) t = this.wallNow();
        return fire({ when, firedAt: t, errorMs: t - when, stepMs });
      }
      if (left <= 0) return fire({ when, firedAt: now, errorMs: now - when, stepMs });
      if (left > SPIN_MS) {
        // Re-check rather than trust one long timeout: the wall clock may be adjusted meanwhile.
        const t = setTimeout(() => (this.pending.delete(t), check()), Math.min(left - SPIN_MS, MAX_SLEEP_MS));
        this.pending.add(t);
      } else {
        const i = setImmediate(() => (this.pending.delete(i), check()));
        this.pending.add(i);
      }
    };
    check();
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending) {
      clearTimeout(p as NodeJS.Timeout);
      clearImmediate(p as NodeJS.Immediate);
    }
    this.pending.clear();
  }
}
