/**
 * The hardware layer as the agent runs it: the board (read once), load samples on an
 * unref'd interval, the clock's quality re-read every `clockEveryMs` by child processes
 * with timeouts, and wall-clock steps watched on every sample. Nothing here runs on a
 * message path: the agent reads {@link HardwareMonitor.snapshot} (plain numbers) and
 * subscribes to samples and steps.
 */
import { performance } from 'node:perf_hooks';
import { readBoard, type BoardInfo, type BoardSources } from './board.js';
import { probeClock, type ToolRunner } from './clock/probe.js';
import { UNSYNCHRONISED, type ClockQuality } from './clock/quality.js';
import { LoadSampler, type LoadSample } from './load.js';
import { StepDetector, type ClockStep } from './step.js';

export interface HardwareStatus {
  board: string;
  arch: string;
  cores: number;
  cpu: string;
  os: string;
  load: { cpu: number; process: number };
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  gc: { count: number; maxMs: number };
  clock: { source: ClockQuality['source']; synchronised: boolean; errorMs: number | null; leapPending: ClockQuality['leapPending']; detail: string };
  /** Wall-clock steps seen since the start, and the last one. */
  steps: { count: number; last: { stepMs: number; at: number } | null };
}

export interface HardwareMonitorOptions {
  sampleEveryMs?: number;
  clockEveryMs?: number;
  /** Wall clock (epoch ms) and monotonic clock; default Date.now / performance.now. */
  wall?: () => number;
  mono?: () => number;
  run?: ToolRunner;
  boardSources?: BoardSources;
  /** Do not run the clock tools at all (tests): the clock is reported as given. */
  clock?: ClockQuality;
  /**
   * Samples this soon after start are kept for status but not handed to listeners: loading
   * modules and the first JIT make a stall no board has in steady state. Default 3000 ms.
   */
  warmupMs?: number;
}

export class HardwareMonitor {
  private readonly sampler: LoadSampler;
  private readonly steps = new StepDetector();
  private board: BoardInfo | null = null;
  private clock: ClockQuality = { ...UNSYNCHRONISED, detail: 'not read yet' };
  private clockTimer: NodeJS.Timeout | null = null;
  private stepCount = 0;
  private lastStep: { stepMs: number; at: number } | null = null;
  private readonly sampleListeners: Array<(s: LoadSample) => void> = [];
  private readonly stepListeners: Array<(s: ClockStep) => void> = [];
  private readonly wall: () => number;
  private readonly mono: () => number;
  private started = false;
  private startedAt = 0;

  constructor(private readonly opts: HardwareMonitorOptions = {}) {
    this.sampler = new LoadSampler(opts.sampleEveryMs ?? 1000);
    this.wall = opts.wall ?? Date.now;
    this.mono = opts.mono ?? (() => performance.now());
    if (opts.clock) this.clock = opts.clock;
    this.sampler.onSample((s) => {
      const step = this.steps.observe(this.mono(), this.wall());
      if (step) {
        this.stepCount++;
        this.lastStep = { stepMs: step.stepMs, at: this.wall() };
        for (const fn of this.stepListeners) fn(step);
      }
      if (s.at - this.startedAt < (this.opts.warmupMs ?? 3000)) return;
      for (const fn of this.sampleListeners) fn(s);
    });
  }

  /**
   * The event-loop delay histogram's resolution, ms: the finest stall it can time, and one
   * wake-up per period (see hw/load.ts, stallResolutionFor). Applied from the next sample.
   */
  setStallResolution(ms: number): void {
    this.sampler.setResolution(ms);
  }
  stallResolution(): number {
    return this.sampler.resolutionMs;
  }

  onSample(fn: (s: LoadSample) => void): void {
    this.sampleListeners.push(fn);
  }
  onStep(fn: (s: ClockStep) => void): void {
    this.stepListeners.push(fn);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.startedAt = performance.now();
    this.steps.observe(this.mono(), this.wall());
    this.sampler.start();
    void readBoard(this.opts.boardSources).then((b) => (this.board = b));
    if (!this.opts.clock) {
      const read = () => void probeClock({ ...(this.opts.run ? { run: this.opts.run } : {}) }).then((q) => (this.clock = q));
      read();
      this.clockTimer = setInterval(read, this.opts.clockEveryMs ?? 60_000);
      this.clockTimer.unref();
    }
  }

  stop(): void {
    this.sampler.stop();
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.clockTimer = null;
    this.started = false;
  }

  boardInfo(): BoardInfo | null {
    return this.board;
  }
  clockQuality(): ClockQuality {
    return this.clock;
  }
  /** For tests: set the clock's quality as a daemon would report it. */
  setClockQuality(q: ClockQuality): void {
    this.clock = q;
  }
  lastSample(): LoadSample | null {
    return this.sampler.last;
  }

  snapshot(): HardwareStatus {
    const b = this.board;
    const s = this.sampler.last;
    const c = this.clock;
    return {
      board: b?.model ?? 'unknown',
      arch: b?.arch ?? process.arch,
      cores: b?.cores ?? 0,
      cpu: b?.cpu.brand ?? 'unknown',
      os: b ? `${b.os.distro} ${b.os.release}` : 'unknown',
      load: { cpu: s?.cpuLoad ?? 0, process: s?.processCpu ?? 0 },
      eventLoopDelay: s?.eventLoopDelay ?? { p50Ms: 0, p99Ms: 0, maxMs: 0 },
      gc: { count: s?.gc.count ?? 0, maxMs: s?.gc.maxMs ?? 0 },
      clock: { source: c.source, synchronised: c.synchronised, errorMs: c.errorMs, leapPending: c.leapPending, detail: c.detail },
      steps: { count: this.stepCount, last: this.lastStep },
    };
  }
}
