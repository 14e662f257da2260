/**
 * How loaded this member's process and machine are, sampled on an unref'd interval
 * (never on a hot path): machine CPU load from the kernel's per-CPU counters
 * (os.cpus(), cheap; systeminformation's currentLoad costs 0.5 s on its first call),
 * this process's CPU share, the event loop's delay (its max over an interval is the
 * longest stall in it), and garbage-collection pauses (a PerformanceObserver on 'gc'
 * entries).
 *
 * The delay is timed by a timer every `resolution` ms that records how late it fires, so
 * a stall of S ms reads as S minus up to one resolution, and every period wakes the
 * process. perf_hooks.monitorEventLoopDelay at 10 ms did this before: its timer alone was
 * most of an idle agent's main-thread CPU (100 wake-ups a second, ~0.35 % of a core
 * here), so the agent now sets the resolution from the stall budgets of its groups'
 * timers (see {@link stallResolutionFor}). It is our own timer rather than a coarser
 * monitorEventLoopDelay because that histogram forgets its last tick on reset(): a stall
 * beginning within one period after a sample would go unseen, which at 10 ms was a small
 * blind spot and at 93 ms would be a tenth of every second.
 */
import os from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';

export interface LoadSample {
  /** Monotonic ms at the end of the interval. */
  at: number;
  intervalMs: number;
  /** Machine CPU busy fraction, 0..1, over all cores. */
  cpuLoad: number;
  /** This process's CPU use, in cores (0..cores). */
  processCpu: number;
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  gc: { count: number; totalMs: number; maxMs: number };
}

/** Finest and coarsest stall-timer resolution, ms. */
export const STALL_RESOLUTION_MIN_MS = 10;
export const STALL_RESOLUTION_MAX_MS = 100;

/**
 * The stall-timer resolution for a set of stall budgets (the stall, in ms, that must be
 * noticed: for timer adaptation, upFraction × electionMin): an eighth of the tightest, so
 * a stall at the budget is read at least 7/8 of its length, within [10, 100] ms. The
 * default RIAPS timers (electionMin 1500, budget 750 ms) get 93 ms, ~11 wake-ups a second;
 * `wired` (electionMin 150) keeps 10 ms. No budget: the coarsest.
 */
export function stallResolutionFor(budgetsMs: Iterable<number>): number {
  let tightest = Infinity;
  for (const b of budgetsMs) if (Number.isFinite(b) && b > 0) tightest = Math.min(tightest, b);
  if (tightest === Infinity) return STALL_RESOLUTION_MAX_MS;
  return Math.min(STALL_RESOLUTION_MAX_MS, Math.max(STALL_RESOLUTION_MIN_MS, Math.floor(tightest / 8)));
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

/** The q-quantile of the first n values of xs, sorted in place. */
function quantileInPlace(xs: Float64Array, n: number, q: number): number {
  const s = xs.subarray(0, n).sort();
  return s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
}

export class LoadSampler {
  private timer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private gcObserver: PerformanceObserver | null = null;
  private gc = { count: 0, totalMs: 0, maxMs: 0 };
  private lastCpu = cpuTimes();
  private lastProc = process.cpuUsage();
  private lastAt = performance.now();
  /** When the stall timer last fired (or a sample closed its period), monotonic ms. */
  private lastTick = 0;
  /** How late each stall-timer period of this interval ended, ms (the first `delayCount`). */
  private delays = new Float64Array(128);
  private delayCount = 0;
  /** The stall timer's resolution now, and the one asked for (applied at the next sample). */
  private activeResolution: number;
  private wantedResolution: number;
  private readonly listeners: Array<(s: LoadSample) => void> = [];
  /** The latest sample (null before the first interval ends). */
  last: LoadSample | null = null;

  constructor(
    readonly intervalMs = 1000,
    resolutionMs = STALL_RESOLUTION_MIN_MS,
  ) {
    this.activeResolution = this.wantedResolution = LoadSampler.checkResolution(resolutionMs);
  }

  private static checkResolution(ms: number): number {
    if (!Number.isInteger(ms) || ms < 1) throw new RangeError(`event-loop stall resolution must be a whole number of ms >= 1, got ${ms}`);
    return ms;
  }

  /** The stall timer's resolution in use, ms. */
  get resolutionMs(): number {
    return this.activeResolution;
  }

  /** Change the stall timer's resolution; the current interval ends with the old one. */
  setResolution(ms: number): void {
    this.wantedResolution = LoadSampler.checkResolution(ms);
    if (!this.timer) this.activeResolution = this.wantedResolution;
  }

  onSample(fn: (s: LoadSample) => void): void {
    this.listeners.push(fn);
  }

  start(): void {
    if (this.timer) return;
    try {
      this.gcObserver = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          this.gc.count++;
          this.gc.totalMs += e.duration;
          this.gc.maxMs = Math.max(this.gc.maxMs, e.duration);
        }
      });
      this.gcObserver.observe({ entryTypes: ['gc'] });
    } catch {
      this.gcObserver = null; // 'gc' entries unsupported: pauses still show as loop delay
    }
    this.lastCpu = cpuTimes();
    this.lastProc = process.cpuUsage();
    this.lastAt = performance.now();
    this.startStallTimer(this.wantedResolution);
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  private startStallTimer(resolution: number): void {
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.activeResolution = resolution;
    this.lastTick = performance.now();
    this.stallTimer = setInterval(() => this.recordTick(performance.now()), resolution);
    this.stallTimer.unref();
  }

  /** One stall-timer period ended at `now`: record how late (0 when on time). */
  private recordTick(now: number): void {
    const late = Math.max(0, now - this.lastTick - this.activeResolution);
    this.lastTick = now;
    if (this.delayCount === this.delays.length) {
      const grown = new Float64Array(this.delays.length * 2);
      grown.set(this.delays);
      this.delays = grown;
    }
    this.delays[this.delayCount++] = late;
  }

  /** Close the current interval now and return its sample (also called by the interval). */
  sample(): LoadSample {
    const at = performance.now();
    // A stall that has just ended may have made this sample's timer run before the stall
    // timer's: close the stall timer's overdue period here, so the stall counts now, once.
    if (this.stallTimer && at - this.lastTick > this.activeResolution) this.recordTick(at);
    const cpu = cpuTimes();
    const proc = process.cpuUsage();
    const dTotal = cpu.total - this.lastCpu.total;
    const cpuLoad = dTotal > 0 ? Math.min(1, Math.max(0, 1 - (cpu.idle - this.lastCpu.idle) / dTotal)) : 0;
    const elapsed = Math.max(1, at - this.lastAt);
    const processCpu = (proc.user - this.lastProc.user + proc.system - this.lastProc.system) / 1000 / elapsed;
    const n = this.delayCount;
    const loop = n > 0 ? { p50Ms: quantileInPlace(this.delays, n, 0.5), p99Ms: quantileInPlace(this.delays, n, 0.99), maxMs: this.delays[n - 1]! } : { p50Ms: 0, p99Ms: 0, maxMs: 0 };
    this.delayCount = 0;
    if (this.stallTimer && this.wantedResolution !== this.activeResolution) this.startStallTimer(this.wantedResolution);
    const s: LoadSample = { at, intervalMs: elapsed, cpuLoad, processCpu, eventLoopDelay: loop, gc: { ...this.gc } };
    this.gc = { count: 0, totalMs: 0, maxMs: 0 };
    this.lastCpu = cpu;
    this.lastProc = proc;
    this.lastAt = at;
    this.last = s;
    for (const fn of this.listeners) fn(s);
    return s;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = null;
    this.delayCount = 0;
    this.gcObserver?.disconnect();
    this.gcObserver = null;
  }
}
