/**
 * Wall-clock step detection on the member itself. The monotonic clock never jumps; the
 * wall clock jumps when someone (ntpdate, chronyd's makestep, a human, a Raspberry Pi
 * finding the network after booting on a guessed time) sets it. A slewing daemon moves
 * wall − monotonic by at most 500 ppm (0.5 ms per second, the kernel's adjtime limit);
 * anything faster between two observations is a step. Pure: fed (mono, wall) pairs.
 */
export interface ClockStep {
  /** How far the wall clock jumped, ms (positive: forward). */
  stepMs: number;
  /** Monotonic time the step was seen at (it happened since the previous observation). */
  atMono: number;
}

export interface StepDetectorOptions {
  /** Least jump counted as a step, ms, on top of the slew allowance. Default 5. */
  thresholdMs?: number;
  /** Largest slew rate not counted, parts per million. Default 500. */
  maxSlewPpm?: number;
}

export class StepDetector {
  private last: { mono: number; offset: number } | null = null;
  private readonly thresholdMs: number;
  private readonly maxSlew: number;

  constructor(opts: StepDetectorOptions = {}) {
    this.thresholdMs = opts.thresholdMs ?? 5;
    this.maxSlew = (opts.maxSlewPpm ?? 500) / 1e6;
  }

  /** Observe the clocks; returns the step if wall − mono moved faster than a slew could. */
  observe(mono: number, wall: number): ClockStep | null {
    const offset = wall - mono;
    const prev = this.last;
    this.last = { mono, offset };
    if (!prev) return null;
    const moved = offset - prev.offset;
    const allowance = this.thresholdMs + this.maxSlew * Math.max(0, mono - prev.mono);
    return Math.abs(moved) > allowance ? { stepMs: moved, atMono: mono } : null;
  }
}
