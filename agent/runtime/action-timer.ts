/**
 * Fires an agreed action at a wall-clock instant. setTimeout alone is late by
 * up to a few ms (and drifts if the wall clock is stepped meanwhile), so we sleep
 * until shortly before the instant, re-reading the wall clock, then yield with
 * setImmediate until it is reached. The firing error (fired − when) is reported.
 */
export interface ActionFiring {
  when: number;
  firedAt: number;
  /** firedAt − when, in ms (positive = late). */
  errorMs: number;
}

const SPIN_MS = 3;

export class ActionTimer {
  private readonly pending = new Set<NodeJS.Timeout | NodeJS.Immediate>();
  private closed = false;

  constructor(private readonly wallNow: () => number = Date.now) {}

  at(when: number, fire: (f: ActionFiring) => void): void {
    const check = () => {
      if (this.closed) return;
      const now = this.wallNow();
      const left = when - now;
      if (left <= 0) return fire({ when, firedAt: now, errorMs: now - when });
      if (left > SPIN_MS) {
        // Re-check rather than trust one long timeout: the wall clock may be adjusted meanwhile.
        const t = setTimeout(() => (this.pending.delete(t), check()), Math.min(left - SPIN_MS, 1000));
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
