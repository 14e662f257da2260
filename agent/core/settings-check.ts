/**
 * Every heartbeat carries its sender's group settings (`timers`, `minSize`). The protocol's
 * safety does not depend on them, but its assumptions do: the quorum floor is `minSize`, and a
 * member whose election or peer timers differ from the leader's misjudges leases, silences and
 * check-quorum. So a member compares them with its own and reports a difference as a
 * configuration error (docs/protocol.md §6): counted on every such heartbeat, reported as a
 * `configMismatch` event when first seen from a sender (or when what differs changes), then at
 * most once a minute per sender while it lasts. It changes nothing else: the member keeps its
 * own settings, and the operator fixes the fleet's configuration. Timers are compared with the
 * group's as configured: a member that adapted its own to its stalls (the group's times one of
 * TIMER_SCALES, README "Hardware and clocks") advertises them and is judged by them, not flagged;
 * in a group on `auto` so does one whose timers are another preset auto may choose (scaled or not).
 */
import type { Instant } from './events.js';
import type { MemberState } from './member-state.js';
import type { MemberId } from './messages.js';
import { scaleTimers, TIMER_SCALES, type TimerSettings } from './timers.js';

/** Timers whose difference breaks the protocol's timing assumptions (consensusTimeout is only a requester's default). */
export const CHECKED_TIMERS = ['heartbeat', 'electionMin', 'electionMax', 'peerTimeout'] as const;

/** How often a persisting mismatch from one sender is reported again. */
export const MISMATCH_REPORT_MS = 60_000;

export class SettingsCheck {
  /** Per sender: what differed when last reported, and when. Forgotten when the member goes. */
  private readonly reported = new Map<MemberId, { what: string; at: number }>();

  constructor(private readonly s: MemberState) {}

  /** A heartbeat from `from` advertised these settings. */
  heard(from: MemberId, timers: TimerSettings, minSize: number, now: Instant): void {
    const s = this.s;
    const differences: string[] = [];
    if (minSize !== s.minSize) differences.push(`minSize ${minSize} (ours ${s.minSize})`);
    // Compared with the group's timers as configured, not our own adapted ones; a sender that
    // adapted its own (the group's scaled by one of TIMER_SCALES) is not misconfigured.
    // A group on `auto` also accepts the other presets auto may pick (MemberOptions.acceptedTimers).
    const base = s.baseTimers;
    const adapted = s.acceptedTimers.some((group) =>
      TIMER_SCALES.some((k) => {
        const scaled = scaleTimers(group, k);
        return CHECKED_TIMERS.every((name) => timers[name] === scaled[name]);
      }),
    );
    if (!adapted) for (const name of CHECKED_TIMERS) if (timers[name] !== base[name]) differences.push(`${name} ${timers[name]} ms (ours ${base[name]} ms)`);
    if (differences.length === 0) {
      this.reported.delete(from);
      return;
    }
    s.counters.configMismatches++;
    const what = differences.join(', ');
    const last = this.reported.get(from);
    if (last && last.what === what && now.mono - last.at < MISMATCH_REPORT_MS) return;
    this.reported.set(from, { what, at: now.mono });
    s.emit({ type: 'configMismatch', member: from, differences });
  }

  forget(member: MemberId): void {
    this.reported.delete(member);
  }
}
