/**
 * The action guard: before a member votes on an action at wall-clock instant `when`, it
 * asks whether its clock can honour that instant. If not, it votes no and says why; the
 * reason travels with the vote (MemberVote.reason) and comes back to every member in the
 * result (PollResult.refusals). Pure: the runtime hands it the clock facts as plain data.
 *
 * A member refuses when (checked in this order)
 * - its clock daemon's error bound exceeds the group's tolerance (`clockToleranceMs`);
 * - its clock is off the group's (the median of the clocks it hears) by more than the
 *   tolerance, counting the estimate's own error;
 * - its clock is unsynchronised and the policy says that matters: `refuse` always;
 *   `allow-same-host` (the default) unless every member of the group runs on this host,
 *   where all share one kernel clock; `allow` never;
 * - the instant is too close: less lead than it needs to fire precisely (a margin plus its
 *   own event-loop delay).
 */
import type { GroupClockSummary } from './group-clock.js';
import type { ClockQuality } from './clock/quality.js';

export type UnsynchronisedPolicy = 'refuse' | 'allow-same-host' | 'allow';
export const UNSYNCHRONISED_POLICIES: readonly UnsynchronisedPolicy[] = ['refuse', 'allow-same-host', 'allow'];

/** What a step of the wall clock does to an action this member agreed to and waits for. */
export type StepPolicy = 'rearm' | 'cancel' | 'auto';

export interface ClockPolicy {
  /** Largest clock error or offset from the group an action may suffer, ms. Default 100. */
  clockToleranceMs: number;
  unsynchronised: UnsynchronisedPolicy;
  /** Least lead time, ms, on top of the member's own event-loop delay (p99). Default 20. */
  minLeadMs: number;
  /**
   * A step while waiting: `rearm` fires at `when` by the stepped clock, `cancel` does not fire,
   * `auto` (the default) re-arms a step within the tolerance and cancels a larger one.
   */
  onStep: StepPolicy;
}

export const DEFAULT_CLOCK_POLICY: ClockPolicy = { clockToleranceMs: 100, unsynchronised: 'allow-same-host', minLeadMs: 20, onStep: 'auto' };

export class ClockPolicyError extends Error {
  override name = 'ClockPolicyError';
}

/** Fill defaults and check values; throws ClockPolicyError naming the field. */
export function validateClockPolicy(p: Partial<Record<keyof ClockPolicy, unknown>> = {}): ClockPolicy {
  const out = { ...DEFAULT_CLOCK_POLICY };
  for (const k of Object.keys(p)) if (!(k in DEFAULT_CLOCK_POLICY)) throw new ClockPolicyError(`unknown clock setting "${k}" (known: ${Object.keys(DEFAULT_CLOCK_POLICY).join(', ')})`);
  const ms = (k: 'clockToleranceMs' | 'minLeadMs', v: unknown): void => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3_600_000) throw new ClockPolicyError(`${k} must be a number of milliseconds in 0..3600000, got ${JSON.stringify(v)}`);
    out[k] = v;
  };
  ms('clockToleranceMs', p.clockToleranceMs);
  ms('minLeadMs', p.minLeadMs);
  if (p.unsynchronised !== undefined) {
    if (!UNSYNCHRONISED_POLICIES.includes(p.unsynchronised as UnsynchronisedPolicy)) throw new ClockPolicyError(`unsynchronised must be one of ${UNSYNCHRONISED_POLICIES.join(', ')}, got ${JSON.stringify(p.unsynchronised)}`);
    out.unsynchronised = p.unsynchronised as UnsynchronisedPolicy;
  }
  if (p.onStep !== undefined) {
    if (!['rearm', 'cancel', 'auto'].includes(p.onStep as string)) throw new ClockPolicyError(`onStep must be rearm, cancel or auto, got ${JSON.stringify(p.onStep)}`);
    out.onStep = p.onStep as StepPolicy;
  }
  return out;
}

export interface GuardInput {
  /** The action's instant, wall-clock epoch ms. */
  when: number;
  /** This member's wall clock now. */
  nowWall: number;
  clock: ClockQuality;
  group: GroupClockSummary;
  /** Every member of the group runs on this host (shares this kernel clock). */
  sameHost: boolean;
  /** This member's recent event-loop delay, p99, ms. */
  loopDelayMs: number;
}

export type GuardVerdict = { ok: true } | { ok: false; reason: string };

const ms = (v: number): string => `${Math.round(v * 10) / 10} ms`;

export function judgeAction(input: GuardInput, policy: ClockPolicy = DEFAULT_CLOCK_POLICY): GuardVerdict {
  const tol = policy.clockToleranceMs;
  const c = input.clock;
  if (c.synchronised && c.errorMs !== null && c.errorMs > tol) {
    return { ok: false, reason: `clock guard: ${c.source} bounds this clock's error at ${ms(c.errorMs)}, above the group's tolerance (${tol} ms)` };
  }
  const g = input.group;
  if (g.peers.length > 0) {
    const off = Math.abs(g.selfOffsetMs) + (g.errorMs ?? 0);
    if (off > tol) {
      return { ok: false, reason: `clock guard: this clock is ${ms(g.selfOffsetMs)} off the group's (median of ${g.peers.length + 1} clocks${g.errorMs !== null ? `, ±${ms(g.errorMs)}` : ''}), above the group's tolerance (${tol} ms)` };
    }
  }
  if (!c.synchronised) {
    const refuse = policy.unsynchronised === 'refuse' || (policy.unsynchronised === 'allow-same-host' && !input.sameHost);
    if (refuse) {
      const why = policy.unsynchronised === 'refuse' ? 'policy unsynchronised: refuse' : 'policy unsynchronised: allow-same-host, and members run on other hosts';
      return { ok: false, reason: `clock guard: this clock is unsynchronised (${c.detail}); ${why}` };
    }
  }
  // Last: a clock found wrong above makes its own view of the lead time meaningless.
  const lead = input.when - input.nowWall;
  const need = policy.minLeadMs + Math.max(0, input.loopDelayMs);
  if (lead < need) return { ok: false, reason: `clock guard: too little lead time: the instant is ${ms(lead)} away, this member needs ${ms(need)} (minLeadMs ${policy.minLeadMs} + event-loop delay ${ms(input.loopDelayMs)})` };
  return { ok: true };
}

/** What to do with a waiting action after a step of `stepMs`. */
export function onStep(stepMs: number, policy: ClockPolicy = DEFAULT_CLOCK_POLICY): 'rearm' | 'cancel' {
  if (policy.onStep !== 'auto') return policy.onStep;
  return Math.abs(stepMs) <= policy.clockToleranceMs ? 'rearm' : 'cancel';
}
