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
 *   cannot absorb the stalls or the CPU is saturated, and for `quietMs` after the last such
 *   sample. A poor leader hands over to a healthier voter (see {@link chooseHandover}); a
 *   poor member lets healthier voters campaign first (GroupMember.setCampaignYield).
 */
import { scaleTimers, TIMER_SCALES, type TimerSettings } from '../agent/core/timers.js';
import { isSlowBoard, type BoardInfo } from './board.js';

export interface AdaptationOptions {
  /** Adapt at all (default true). Off: the timers stay the group's. */
  enabled: boolean;
  upFraction: number;
  downFraction: number;
  /** Quiet time before each step down, and how long poor health lasts after its last cause, ms. Default 120 s. */
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
  private lastPoor = -Infinity;
  private saturatedRun = 0;
  readonly opts: AdaptationOptions;

  private baseNow: TimerSettings;

  constructor(
    base: TimerSettings,
    opts: Partial<AdaptationOptions> = {},
    /** Why the base was chosen (preset, auto, explicit). */
    private baseReason = 'the group\'s timers',
  ) {
    this.baseNow = { ...base };
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

  /** The group's timers this adaptation scales (a preset, explicit values, or auto's choice). */
  get base(): TimerSettings {
    return this.baseNow;
  }

  /**
   * A new starting point (`auto` switched presets): the scale and health stay, the timers
   * become the new base times the scale. Returns the new profile.
   */
  rebase(base: TimerSettings, reason: string): TimerProfile {
    this.baseNow = { ...base };
    this.baseReason = reason;
    this.reasonNow = this.scaleNow === 1 ? (this.opts.enabled ? `${reason}; no stalls seen` : `${reason}; adaptation off`) : `${reason}, ×${this.scaleNow}`;
    return this.profile();
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
    if (overAtMax || saturated) this.lastPoor = s.atMono;
    // Poor lasts quietMs after the last sample that made it so: a member that stalls beyond ×8
    // every few seconds is poor between its stalls too (it does not win elections meanwhile).
    this.healthNow = s.atMono - this.lastPoor < o.quietMs ? 'poor' : this.scaleNow > 1 ? 'strained' : 'good';
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
  return healthierVoter(input.ownElectionMin, input.voters);
}

/** The healthiest live voter: the one advertising the smallest electionMin below ours (ties by id), or null. */
export function healthierVoter(ownElectionMin: number, voters: Array<{ id: string; alive: boolean; electionMin: number }>): string | null {
  const better = voters.filter((v) => v.alive && v.electionMin < ownElectionMin).sort((a, b) => a.electionMin - b.electionMin || (a.id < b.id ? -1 : 1));
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

/** The presets `auto` chooses among, fastest first: a choice never goes below the board's. */
export const AUTO_PRESETS = ['lan', 'riaps', 'slow'] as const;
export type AutoPreset = (typeof AUTO_PRESETS)[number];

/**
 * `auto` at run time: how the measured round trip moves a group between presets.
 * - The round trip is the group's as the leader measures it (a heartbeat to the first ack
 *   from each follower): per peer the median of its samples in the group clock's window
 *   (one stalled turn is one sample, not the answer), over the peers the 90th percentile
 *   (nearest rank: the slowest link of a small group), from peers with `minSamples` or more.
 * - Up past a threshold (riaps at 5 ms, slow at 50 ms); back below one only under
 *   `downFactor` of it (hysteresis: a round trip sitting at 5 ms does not flip lan/riaps).
 * - A new choice must hold for `confirmMs` of samples in a row, and `dwellMs` must have
 *   passed since the last switch.
 */
export interface AutoRttOptions {
  /** Round trip (ms) above which the preset is at least riaps / slow. */
  riapsAboveMs: number;
  slowAboveMs: number;
  /** Back below a threshold only under this fraction of it. */
  downFactor: number;
  /** Round-trip samples a peer needs in the window before it counts. */
  minSamples: number;
  /** How long a new choice must persist before the group switches, ms. */
  confirmMs: number;
  /** Least time between two switches, ms. */
  dwellMs: number;
}

export const DEFAULT_AUTO_RTT: AutoRttOptions = { riapsAboveMs: 5, slowAboveMs: 50, downFactor: 0.5, minSamples: 8, confirmMs: 15_000, dwellMs: 60_000 };

const rank = (p: AutoPreset): number => AUTO_PRESETS.indexOf(p);
const slower = (a: AutoPreset, b: AutoPreset): AutoPreset => (rank(a) >= rank(b) ? a : b);
const fmt = (ms: number): string => (Math.round(ms * 10) / 10).toFixed(1);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * The group's round trip from per-peer samples (ms): the 90th percentile (nearest rank) of
 * the per-peer medians, over peers with at least `minSamples`. Null: no peer has enough.
 */
export function groupRoundTrip(samples: ReadonlyMap<string, readonly number[]>, minSamples: number): { rttMs: number; peers: number } | null {
  const medians = [...samples.values()].filter((s) => s.length >= minSamples && s.length > 0).map((s) => median([...s])).sort((a, b) => a - b);
  if (medians.length === 0) return null;
  const idx = Math.min(medians.length - 1, Math.ceil(0.9 * medians.length) - 1);
  return { rttMs: medians[idx] as number, peers: medians.length };
}

/**
 * The preset a round trip calls for, given the current one (hysteresis) and the board's
 * floor: a level is entered above its threshold and left only under `downFactor` of it.
 */
export function presetForRoundTrip(rttMs: number, current: AutoPreset, floor: AutoPreset, o: AutoRttOptions = DEFAULT_AUTO_RTT): AutoPreset {
  const thresholds = [o.riapsAboveMs, o.slowAboveMs];
  const up = thresholds.filter((t) => rttMs > t).length;
  const down = thresholds.filter((t) => rttMs > t * o.downFactor).length;
  const level = Math.min(Math.max(rank(current), up), down);
  return slower(AUTO_PRESETS[level] as AutoPreset, floor);
}

/** Which auto preset (times an adaptation scale) these advertised timers are, or null. */
export function recogniseAutoPreset(timers: TimerSettings, bases: Partial<Record<AutoPreset, TimerSettings>>): AutoPreset | null {
  const names = ['heartbeat', 'electionMin', 'electionMax', 'peerTimeout'] as const;
  for (const p of AUTO_PRESETS) {
    const base = bases[p];
    if (!base) continue;
    for (const k of TIMER_SCALES) {
      const scaled = scaleTimers(base, k);
      if (names.every((n) => scaled[n] === timers[n])) return p;
    }
  }
  return null;
}

/** A group on `auto` timers (README "Configuration", timers `auto`). */
export interface AutoTimersOptions {
  /** Each preset auto may choose, with the group's explicit values applied (a preset they do not fit is left out). */
  bases: Partial<Record<AutoPreset, TimerSettings>>;
  /** The board's choice: where the group starts, and the least it may choose. */
  start: AutoPreset;
  /** Why the board chose it ("auto: BeagleBone Black (1 core) is a slow board"). */
  reason: string;
  /** Round-trip thresholds, hysteresis and dwell (default DEFAULT_AUTO_RTT). */
  rtt?: Partial<AutoRttOptions>;
}

export interface AutoSwitch {
  preset: AutoPreset;
  reason: string;
}

/**
 * One member's `auto` choice over time. Pure: fed round trips (as leader) or the leader's
 * choice (as follower) with a monotonic time. Starts from the board's choice (`floor`),
 * never goes below it.
 * - As leader, {@link observe} the measured round trip: a different preset is adopted once
 *   it has been called for over `confirmMs` and `dwellMs` has passed since the last switch.
 * - As follower, {@link follow} the preset the leader advertises (the leader measured it):
 *   adopted at once, so the group moves together within a heartbeat.
 */
export class AutoTimerChoice {
  private presetNow: AutoPreset;
  private reasonNow: string;
  private pending: { preset: AutoPreset; since: number } | null = null;
  private lastSwitch = -Infinity;
  readonly opts: AutoRttOptions;

  constructor(
    readonly floor: AutoPreset,
    private readonly boardReason: string,
    opts: Partial<AutoRttOptions> = {},
  ) {
    this.opts = { ...DEFAULT_AUTO_RTT, ...opts };
    this.presetNow = floor;
    this.reasonNow = boardReason;
  }

  get preset(): AutoPreset {
    return this.presetNow;
  }
  get reason(): string {
    return this.reasonNow;
  }

  /** The leader's measured round trip (null: not enough samples). Returns the switch, if any. */
  observe(rttMs: number | null, atMono: number): AutoSwitch | null {
    if (rttMs === null) {
      this.pending = null;
      return null;
    }
    const target = presetForRoundTrip(rttMs, this.presetNow, this.floor, this.opts);
    if (target === this.presetNow) {
      this.pending = null;
      return null;
    }
    if (this.pending?.preset !== target) this.pending = { preset: target, since: atMono };
    if (atMono - this.pending.since < this.opts.confirmMs || atMono - this.lastSwitch < this.opts.dwellMs) return null;
    let reason: string;
    if (rank(target) > rank(this.presetNow)) reason = `auto: round trip ${fmt(rttMs)} ms > ${target === 'slow' ? this.opts.slowAboveMs : this.opts.riapsAboveMs} ms`;
    else reason = `auto: round trip ${fmt(rttMs)} ms < ${fmt((target === 'lan' ? this.opts.riapsAboveMs : this.opts.slowAboveMs) * this.opts.downFactor)} ms`;
    return this.switchTo(target, reason, atMono);
  }

  /** The leader advertises `preset` (null: none recognised). Returns the switch, if any. */
  follow(preset: AutoPreset | null, leader: string, atMono: number): AutoSwitch | null {
    this.pending = null;
    if (preset === null) return null;
    const target = slower(preset, this.floor);
    if (target === this.presetNow) return null;
    const reason = target === preset ? `auto: ${preset}, as leader ${leader} chose from its round trips` : `${this.boardReason} (leader ${leader} runs ${preset})`;
    return this.switchTo(target, reason, atMono);
  }

  private switchTo(preset: AutoPreset, reason: string, atMono: number): AutoSwitch {
    this.presetNow = preset;
    this.reasonNow = reason;
    this.pending = null;
    this.lastSwitch = atMono;
    return { preset, reason };
  }
}
