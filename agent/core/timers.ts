/**
 * Group timer settings, in milliseconds, with the RIAPS names and defaults.
 *
 * The ordering rule (checked by {@link validateTimers}) is the one RIAPS's code
 * asserts, minus the poll rule:
 *
 *   heartbeat < electionMin < electionMax < peerTimeout
 *
 * - heartbeat < electionMin: a follower must normally hear at least one leader
 *   heartbeat before its election timer can fire.
 * - electionMin < electionMax: the election timeout is drawn from
 *   [electionMin, electionMax); an empty range would make split votes repeat.
 * - electionMax < peerTimeout: a dead leader is replaced (election) before the
 *   survivors declare it gone from the membership, and a leader's check-quorum
 *   window (peerTimeout) outlasts one election round.
 *
 * RIAPS also asserts consensusTimeout < electionMax because its polls die with
 * their leader. Cohort's polls always end with a definite result (a leader that
 * steps down announces `timeout`, members time out locally), so consensusTimeout
 * only needs to be positive. The RIAPS docs state "peerTimeout < electionMax",
 * which contradicts the code; we follow the code.
 */
export interface TimerSettings {
  /** Period of member and leader heartbeats. */
  heartbeat: number;
  /** Lower bound of the randomised election timeout. */
  electionMin: number;
  /** Upper bound (exclusive) of the randomised election timeout. */
  electionMax: number;
  /** A member (or a leader's quorum) silent this long is gone. */
  peerTimeout: number;
  /** Default poll timeout when a vote request gives none. */
  consensusTimeout: number;
}

export const TIMER_NAMES = ['heartbeat', 'electionMin', 'electionMax', 'peerTimeout', 'consensusTimeout'] as const;
export type TimerName = (typeof TIMER_NAMES)[number];

/** Named, whole presets (hashicorp/memberlist style). */
export const TIMER_PRESETS = {
  /** RIAPS defaults (`GROUP_PARAMETERS`). */
  riaps: { heartbeat: 1000, electionMin: 1500, electionMax: 2000, peerTimeout: 3000, consensusTimeout: 1500 },
  /** A quiet wired LAN: failover in well under a second. */
  lan: { heartbeat: 200, electionMin: 500, electionMax: 800, peerTimeout: 1200, consensusTimeout: 1000 },
  /**
   * A fast wired LAN (switched Ethernet, boards not starved of CPU): a silent leader (power
   * loss, cut cable) is replaced within electionMax (250 ms) of its last heartbeat, p99
   * about 300 ms on the loopback bench (BENCHMARKS.md). Three heartbeats (50 ms apart)
   * must go missing, or the event loop stall for 150 ms, before a follower campaigns:
   * not for boards that stall that long (use `lan` or `riaps` there). The transport's
   * ZMTP heartbeat follows: 50 ms interval, 450 ms timeout. A leader *crash* fails over
   * faster than any of these timers, with every preset (the connection-closed hint).
   */
  wired: { heartbeat: 50, electionMin: 150, electionMax: 250, peerTimeout: 500, consensusTimeout: 500 },
  /** Slow or heavily loaded boards: everything 2.5x the RIAPS defaults. */
  slow: { heartbeat: 2500, electionMin: 3750, electionMax: 5000, peerTimeout: 7500, consensusTimeout: 3750 },
} as const satisfies Record<string, TimerSettings>;

export type TimerPreset = keyof typeof TIMER_PRESETS;

export const DEFAULT_TIMERS: TimerSettings = { ...TIMER_PRESETS.riaps };

export class TimerSettingsError extends Error {
  override name = 'TimerSettingsError';
}

/** Fill missing fields from defaults and check the ordering rule; throws TimerSettingsError naming the rule. */
export function validateTimers(partial: Partial<Record<string, unknown>> = {}, base: TimerSettings = DEFAULT_TIMERS): TimerSettings {
  for (const key of Object.keys(partial)) {
    if (!(TIMER_NAMES as readonly string[]).includes(key)) {
      throw new TimerSettingsError(`unknown timer "${key}" (known: ${TIMER_NAMES.join(', ')})`);
    }
  }
  const t = { ...base } as TimerSettings;
  for (const name of TIMER_NAMES) {
    const v = partial[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 3_600_000) {
      throw new TimerSettingsError(`timer ${name} must be a whole number of milliseconds in 1..3600000, got ${JSON.stringify(v)}`);
    }
    t[name] = v;
  }
  const rules: Array<[boolean, string]> = [
    [t.heartbeat < t.electionMin, `heartbeat (${t.heartbeat}) must be < electionMin (${t.electionMin})`],
    [t.electionMin < t.electionMax, `electionMin (${t.electionMin}) must be < electionMax (${t.electionMax})`],
    [t.electionMax < t.peerTimeout, `electionMax (${t.electionMax}) must be < peerTimeout (${t.peerTimeout})`],
  ];
  for (const [ok, rule] of rules) {
    if (!ok) throw new TimerSettingsError(`timer ordering rule broken: ${rule}; the rule is heartbeat < electionMin < electionMax < peerTimeout`);
  }
  return t;
}

/**
 * The scales a member may apply to its group's timers when it adapts to its own stalls and
 * load (README "Hardware and clocks"): powers of two, so peers recognise an adapted member.
 */
export const TIMER_SCALES = [1, 2, 4, 8] as const;

/** Liveness timers times `scale`; the poll timeout is the application's and stays. */
export function scaleTimers(base: TimerSettings, scale: number): TimerSettings {
  const cap = (v: number): number => Math.min(3_600_000, Math.round(v * scale));
  return { heartbeat: cap(base.heartbeat), electionMin: cap(base.electionMin), electionMax: cap(base.electionMax), peerTimeout: cap(base.peerTimeout), consensusTimeout: base.consensusTimeout };
}
