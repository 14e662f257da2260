/**
 * The hardware layer's per-member state in the agent: this member's view of the group's
 * clock (fed from the timestamps on frames it receives), its timer adaptation, and the
 * action guard's inputs. The agent calls in from its frame and event paths with plain
 * data; everything here is arithmetic on numbers (no I/O, no timers).
 */
import os from 'node:os';
import type { Envelope, MemberId } from '../core/messages.js';
import type { TimerSettings } from '../core/timers.js';
import { DEFAULT_CLOCK_POLICY, judgeAction, validateClockPolicy, type ClockPolicy, type GuardVerdict } from '../../hw/action-guard.js';
import { GroupClock, summarise, type GroupClockSummary } from '../../hw/group-clock.js';
import type { HardwareMonitor } from '../../hw/monitor.js';
export type { AutoTimersOptions };
import { AutoTimerChoice, groupRoundTrip, recogniseAutoPreset, TimerAdaptation, type AdaptationOptions, type AutoPreset, type AutoSwitch, type AutoTimersOptions, type TimerProfile } from '../../hw/timer-policy.js';


export interface MemberHardwareOptions {
  clock?: Partial<ClockPolicy>;
  /** Timer adaptation; false turns it off. */
  adapt?: Partial<AdaptationOptions> | false;
  /** Why the group's timers are what they are (e.g. "preset lan"). */
  timersReason?: string;
  /** The group is on `auto`: switch presets with the measured round trip. */
  auto?: AutoTimersOptions;
}

/** What `auto` did on one sample: the new base, why, and the round trip that decided it (leaders). */
export interface AutoTimersChange extends AutoSwitch {
  profile: TimerProfile;
  rttMs: number | null;
}

/** Addresses of this host: a peer advertising one of them (or loopback) runs here. */
function localAddresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1', '::1', 'localhost']);
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}
let LOCAL: Set<string> | null = null;

export function endpointHost(endpoint: string): string | null {
  const m = /^tcp:\/\/(\[[^\]]*\]|[^:/]+)/.exec(endpoint);
  return m ? (m[1] as string).replace(/^\[|\]$/g, '') : null;
}

export class MemberHardware {
  readonly clock = new GroupClock();
  readonly policy: ClockPolicy;
  readonly adaptation: TimerAdaptation;
  /** `auto`: the preset chosen now (null: the group is not on auto). */
  readonly auto: AutoTimerChoice | null;
  private readonly autoBases: Partial<Record<AutoPreset, TimerSettings>>;
  /** The group round trip last measured while leading (ms), for status. */
  private lastRttMs: number | null = null;
  /** When this member last sent a leader heartbeat (monotonic): an ack's arrival closes a round trip. */
  private leaderHeartbeatAt = -Infinity;
  private readonly acked = new Set<MemberId>();

  constructor(
    readonly memberId: MemberId,
    base: TimerSettings,
    private readonly monitor: HardwareMonitor | null,
    opts: MemberHardwareOptions = {},
  ) {
    this.policy = validateClockPolicy(opts.clock ?? {});
    this.adaptation = new TimerAdaptation(base, opts.adapt === false ? { enabled: false } : opts.adapt ?? {}, opts.timersReason ?? 'the group\'s timers');
    this.auto = opts.auto ? new AutoTimerChoice(opts.auto.start, opts.timersReason ?? opts.auto.reason, opts.auto.rtt) : null;
    this.autoBases = opts.auto?.bases ?? {};
  }

  /**
   * `auto`, once per load sample: a leader judges the round trips it measured (heartbeat to
   * ack), a follower takes the preset its leader advertises (recognised under any adaptation
   * scale). Returns the change when the group's base timers switched, else null; the caller
   * gives the new timers to the core.
   */
  autoStep(input: { isLeader: boolean; leader: MemberId | null; leaderTimers: TimerSettings | undefined; mono: number }): AutoTimersChange | null {
    const auto = this.auto;
    if (!auto) return null;
    let change: AutoSwitch | null;
    let rttMs: number | null = null;
    if (input.isLeader) {
      rttMs = groupRoundTrip(this.clock.roundTrips(input.mono), auto.opts.minSamples)?.rttMs ?? null;
      if (rttMs !== null) this.lastRttMs = rttMs;
      change = auto.observe(rttMs, input.mono);
    } else if (input.leader !== null && input.leaderTimers) {
      change = auto.follow(recogniseAutoPreset(input.leaderTimers, this.autoBases), input.leader, input.mono);
    } else {
      change = auto.follow(null, '', input.mono);
    }
    const base = change ? this.autoBases[change.preset] : undefined;
    if (!change || !base) return null;
    return { ...change, rttMs, profile: this.adaptation.rebase(base, change.reason) };
  }

  /** For status: the preset `auto` runs now and the last round trip measured as leader (null: not on auto). */
  autoStatus(): { preset: AutoPreset; roundTripMs: number | null } | null {
    return this.auto ? { preset: this.auto.preset, roundTripMs: this.lastRttMs === null ? null : Math.round(this.lastRttMs * 100) / 100 } : null;
  }

  /** A frame for this member arrived (before the core sees it). */
  heard(env: Envelope, wall: number, mono: number): void {
    const b = env.body;
    if (env.from === this.memberId) return;
    if (b.type === 'memberHeartbeat' || b.type === 'leaderHeartbeat' || b.type === 'data') this.clock.oneWay(env.from, b.sentAt, wall, mono);
    else if (b.type === 'heartbeatAck' && b.accepted && !this.acked.has(env.from)) {
      // The first ack per follower after our heartbeat: the round trip of that heartbeat.
      this.acked.add(env.from);
      this.clock.roundTrip(env.from, mono - this.leaderHeartbeatAt, mono);
    }
  }

  /** This member sent a frame. */
  sent(env: Envelope, mono: number): void {
    if (env.body.type === 'leaderHeartbeat') {
      this.leaderHeartbeatAt = mono;
      this.acked.clear();
    }
  }

  forget(member: MemberId): void {
    this.clock.forget(member);
  }

  groupClock(mono: number): GroupClockSummary {
    return summarise(this.clock.estimates(mono));
  }

  /** Whether every member's advertised endpoint is on this host (they share its kernel clock). */
  sameHost(endpoints: string[]): boolean {
    LOCAL ??= localAddresses();
    const local = LOCAL;
    return endpoints.every((ep) => {
      const host = endpointHost(ep);
      return host !== null && local.has(host);
    });
  }

  judge(when: number, wall: number, mono: number, endpoints: string[]): GuardVerdict {
    const m = this.monitor;
    if (!m) return { ok: true };
    const sample = m.lastSample();
    return judgeAction(
      { when, nowWall: wall, clock: m.clockQuality(), group: this.groupClock(mono), sameHost: this.sameHost(endpoints), loopDelayMs: sample?.eventLoopDelay.p99Ms ?? 0 },
      this.policy,
    );
  }

  profile(): TimerProfile {
    return this.adaptation.profile();
  }
}

export { DEFAULT_CLOCK_POLICY };
