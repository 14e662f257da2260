/**
 * How loaded this member's process and machine are, sampled on an unref'd interval
 * (never on a hot path): machine CPU load from the kernel's per-CPU counters
 * (os.cpus(), cheap; systeminformation's currentLoad costs 0.5 s on its first call),
 * this process's CPU share, the event loop's delay (perf_hooks.monitorEventLoopDelay:
 * its max over an interval is the longest stall in it), and garbage-collection pauses
 * (a PerformanceObserver on 'gc' entries).
 */
import os from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver, performance, type IntervalHistogram } from 'node:perf_hooks';

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

export class LoadSampler {
  private timer: NodeJS.Timeout | null = null;
  private histogram: IntervalHistogram | null = null;
  private gcObserver: PerformanceObserver | null = null;
  private gc = { count: 0, totalMs: 0, maxMs: 0 };
  private lastCpu = cpuTimes();
  private lastProc = process.cpuUsage();
  private lastAt = performance.now();
  private readonly listeners: Array<(s: LoadSample) => void> = [];
  /** The latest sample (null before the first interval ends). */
  last: LoadSample | null = null;

  constructor(readonly intervalMs = 1000) {}

  onSample(fn: (s: LoadSample) => void): void {
    this.listeners.push(fn);
  }

  start(): void {
    if (this.timer) return;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
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
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Close the current interval now and return its sample (also called by the interval). */
  sample(): LoadSample {
    const at = performance.now();
    const cpu = cpuTimes();
    const proc = process.cpuUsage();
    const dTotal = cpu.total - this.lastCpu.total;
    const cpuLoad = dTotal > 0 ? Math.min(1, Math.max(0, 1 - (cpu.idle - this.lastCpu.idle) / dTotal)) : 0;
    const elapsed = Math.max(1, at - this.lastAt);
    const processCpu = (proc.user - this.lastProc.user + proc.system - this.lastProc.system) / 1000 / elapsed;
    const h = this.histogram;
    const ms = (ns: number): number => (Number.isFinite(ns) ? ns / 1e6 : 0);
    // The histogram's values include its own 10 ms resolution: subtract it, so an idle loop reads ~0.
    const loop = h && h.count > 0 ? { p50Ms: Math.max(0, ms(h.percentile(50)) - 10), p99Ms: Math.max(0, ms(h.percentile(99)) - 10), maxMs: Math.max(0, ms(h.max) - 10) } : { p50Ms: 0, p99Ms: 0, maxMs: 0 };
    // reset() also forgets the histogram's last timestamp, so a stall starting in this very
    // tick would go unseen; the interval's own timer does no blocking work after it.
    h?.reset();
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
    this.histogram?.disable();
    this.histogram = null;
    this.gcObserver?.disconnect();
    this.gcObserver = null;
  }
}
