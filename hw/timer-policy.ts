/**
 * Timers that fit the board and its load (the Lifeguard idea, hashicorp/memberlist
 * `awareness.go`, taken further): a member that sees itself stall scales its own timers
 * up instead of letting its peers take it for dead, and back down once it has been quiet
 * for a while. Every heartbeat carries the sender's timers, so each receiver judges a
 * peer by what that peer advertises. Pure: fed load samples and a monotonic time.
 *
 * - Up, at once: a stall (the longest event-loop delay of a sample) longer than
 *   `upFraction` of the current electionMin. Followers wait electionMin without a leader
 *   heartbeat before they campaign, so a leader that stalls longer than that loses its
 *   group. The scale becomes the least power of two that fits the stall under that fraction.
 *   This agent's process busy (`saturatedLoad` of a core or more) for `saturatedSamples`
 *   samples in a row scales by at least 2: it cannot answer in time. Other processes'
 *   load does not count by itself: it matters only when it stalls this loop, which the
 *   stall rule sees.
 * - Down, one step at a time: after `quietMs` without a stall that the lower step could
 *   not absorb under `downFraction` (< upFraction: hysteresis) and without saturation.
 * - Health: `good` at scale 1, `strained` when scaled, `poor` when even the largest scale
 *   cannot absorb the stalls or the CPU is saturated. A poor leader hands over to a
 *   healthier voter (see {@link chooseHandover}).
 */
import { scaleTimers, TIMER_SCALES, type TimerSettings } from '../agent/core/timers.js';
import { isSlowBoard, type BoardInfo } from './board.js';

export interface AdaptationOptions {
  /** Adapt at all (default true). Off: the timers stay the group's. */
  enabled: boolean;
  upFraction: number;
  downFraction: number;
  /** Quiet time before each step down, ms. Default 120 s. */
  quietMs: number;
  /** Largest scale (a power of two). Default 8. */
  maxScale: number;
  /** This process's CPU use (in cores) counted as saturated. Default 0.95. */
  saturatedLoad: number;
  saturatedSamples: number;
}

/** maxScale: the largest of the core's TIMER_SCALES, the scales peers accept as adapted (settings-check.ts). */
export const DEFAULT_ADAPTATION: AdaptationOptions = { enabled: true, upFraction: 0.5, downFraction: 0.25, quietMs: 120_000, maxScale: Math.max(...TIMER_SCALES), saturatedLoad: 0.95, saturatedSamples: 5 };

export type Health = 'good' | 'strained' | 'poor';

export interface HealthSample {
  atMono: number;
  /** Longest event-loop stall in the sample, ms. */
  stallMs: number;
  /** This agent's CPU use, in cores. */
  cpuLoad: number;
}

export interface TimerProfile {
  /** The group's own timers (a preset or explicit values): the starting point. */
  base: TimerSettings;
  scale: number;
  timers: TimerSettings;
  health: Health;
  /** Why the timers are what they are now. */
  reason: string;
}

export { scaleTimers };

export class TimerAdaptation {
  private scaleNow = 1;
  private healthNow: Health = 'good';
  private reasonNow: string;
  private lastTrouble = -Infinity;
  private lastChange = -Infinity;
  private saturatedRun = 0;
  readonly opts: AdaptationOptions;

  constructor(
    readonly base: TimerSettings,
    opts: Partial<AdaptationOptions> = {},
    /** Why the base was chosen (preset, auto, explicit). */
    private readonly baseReason = 'the group\'s timers',
  ) {
    this.opts = { ...DEFAULT_ADAPTATION, ...opts };
    this.reasonNow = this.opts.enabled ? `${baseReason}; no stalls seen` : `${baseReason}; adaptation off`;
  }

  /**
   * The shortest stall this adaptation must be able to time: one that scales the timers up
   * from scale 1 (upFraction × electionMin). The hardware monitor samples the event loop
   * finely enough for the tightest budget of its members (hw/load.ts stallResolutionFor).
   */
  stallBudgetMs(): number {
    return this.opts.upFraction * this.base.electionMin;
  }

  profile(): TimerProfile {
    return { base: { ...this.base }, scale: this.scaleNow, timers: scaleTimers(this.base, this.scaleNow), health: this.healthNow, reason: this.reasonNow };
  }

  /** Feed one sample. Returns the new profile when the timers changed, else null. */
  observe(s: HealthSample): TimerProfile | null {
    if (!this.opts.enabled) return null;
    const o = this.opts;
    const em = this.base.electionMin;
    this.saturatedRun = s.cpuLoad >= o.saturatedLoad ? this.saturatedRun + 1 : 0;
    const saturated = this.saturatedRun >= o.saturatedSamples;
    const budget = (scale: number): number => o.upFraction * em * scale;
    const before = this.scaleNow;
    let why = '';
    if (s.stallMs > budget(this.scaleNow) || (saturated && this.scaleNow < 2)) {
      let target = this.scaleNow;
      while (target < o.maxScale && s.stallMs > budget(target)) target *= 2;
      if (saturated) target = Math.max(target, 2);
      target = Math.min(target, o.maxScale);
      this.lastTrouble = s.atMono;
      if (target !== this.scaleNow) {
        why = saturated && s.stallMs <= budget(before) ? `process CPU saturated (${Math.round(s.cpuLoad * 100)} % of a core for ${this.saturatedRun} samples)` : `a ${Math.round(s.stallMs)} ms stall, over ${Math.round(o.upFraction * 100)} % of electionMin (${Math.round(em * before)} ms)`;
        this.scaleNow = target;
      }
    } else if (s.stallMs > o.downFraction * em * (this.scaleNow / 2) || saturated) {
      this.lastTrouble = s.atMono; // still too busy for the step below
    } else if (this.scaleNow > 1 && s.atMono - this.lastTrouble >= o.quietMs && s.atMono - this.lastChange >= o.quietMs) {
      this.scaleNow /= 2;
      why = `quiet for ${Math.round((s.atMono - Math.max(this.lastTrouble, this.lastChange)) / 1000)} s`;
    }
    const overAtMax = this.scaleNow === o.maxScale && s.stallMs > budget(o.maxScale);
    this.healthNow = overAtMax || saturated ? 'poor' : this.scaleNow > 1 ? 'strained' : 'good';
    if (this.scaleNow === before) return null;
    this.lastChange = s.atMono;
    this.reasonNow = `${this.baseReason}, ×${this.scaleNow}: ${why}`;
    return this.profile();
  }
}

/**
 * Whether a leader should hand over, and to whom: only a leader in poor health, only after
 * holding the lead `minTenureMs` (no ping-pong), and only to a live voter that advertises
 * smaller timers than its own (a healthier one); the healthiest wins, ties by id.
 */
export function chooseHandover(input: {
  isLeader: boolean;
  health: Health;
  leaderForMs: number;
  minTenureMs: number;
  ownElectionMin: number;
  voters: Array<{ id: string; alive: boolean; electionMin: number }>;
}): string | null {
  if (!input.isLeader || input.health !== 'poor' || input.leaderForMs < input.minTenureMs) return null;
  const better = input.voters.filter((v) => v.alive && v.electionMin < input.ownElectionMin).sort((a, b) => a.electionMin - b.electionMin || (a.id < b.id ? -1 : 1));
  return better[0]?.id ?? null;
}

/**
 * `auto`: a preset from the board and, when known, the measured round trip to the peers.
 * A slow board (BeagleBone class, one core) gets `slow`; a round trip over 50 ms `slow`,
 * over 5 ms `riaps`; otherwise `lan`. Adaptation then scales whatever was picked.
 */
export function chooseAutoPreset(board: Pick<BoardInfo, 'model' | 'cores'>, rttMs: number | null): { preset: 'lan' | 'riaps' | 'slow'; reason: string } {
  if (isSlowBoard(board)) return { preset: 'slow', reason: `auto: ${board.model} (${board.cores} core${board.cores === 1 ? '' : 's'}) is a slow board` };
  if (rttMs !== null && rttMs > 50) return { preset: 'slow', reason: `auto: round trip ${rttMs.toFixed(1)} ms > 50 ms` };
  if (rttMs !== null && rttMs > 5) return { preset: 'riaps', reason: `auto: round trip ${rttMs.toFixed(1)} ms > 5 ms` };
  return { preset: 'lan', reason: `auto: ${board.model}, ${board.cores} cores${rttMs !== null ? `, round trip ${rttMs.toFixed(1)} ms` : ''}` };
}
