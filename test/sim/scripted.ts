/**
 * Helpers for scripted scenarios: a simulator with explicit members, default
 * RIAPS timers and a quiet LAN, plus queries over the recorded events. The
 * checker runs underneath every scenario, so each one also asserts every
 * invariant of checker.ts.
 */
import type { AppEvent } from '../../agent/core/events.js';
import type { MemberId } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS } from '../../agent/core/timers.js';
import { Simulator, type SimOptions } from './simulator.js';
import { commonLeader } from '../support/leader.js';

export type EventOf<T extends AppEvent['type']> = Extract<AppEvent, { type: T }>;
export interface Logged<E extends AppEvent = AppEvent> {
  t: number;
  id: MemberId;
  incarnation: number;
  event: E;
}

export const QUIET_LAN = { loss: 0, duplicate: 0, delayMin: 1, delayMax: 5 };

/** A group whose members start at time 0 (in order), recording every application event; it runs on past violations (all are reported). */
export function group(ids: readonly MemberId[], opts: Partial<SimOptions> = {}): Simulator {
  const sim = new Simulator({ seed: 7, minSize: 2, timers: DEFAULT_TIMERS, network: QUIET_LAN, skewMs: 0, recordEvents: true, stopOnViolation: false, ...opts });
  for (const id of ids) sim.start(id);
  return sim;
}

/** Application events of one type, optionally for one member and from a time on. */
export function events<T extends AppEvent['type']>(sim: Simulator, type: T, id?: MemberId, since = -Infinity): Logged<EventOf<T>>[] {
  return sim.log.filter((e): e is Logged<EventOf<T>> => e.event.type === type && (id === undefined || e.id === id) && e.t >= since);
}

/** The leader every running member follows, in one term, and which leads (test/support/leader.ts), or null. */
export function agreedLeader(sim: Simulator): MemberId | null {
  return commonLeader(sim.up().map((i) => ({ name: i.id, memberId: i.id, role: i.member.role(), leader: i.member.leader(), term: i.member.term() })), { leaderAmong: true })?.leader ?? null;
}

export function leaders(sim: Simulator): MemberId[] {
  return sim.up().filter((i) => i.member.role() === 'leader').map((i) => i.id);
}

/** Run in `step` ms slices until `pred` holds; returns the time it first held, or null after `limit` ms. */
export function runUntilTrue(sim: Simulator, pred: () => boolean, limit: number, step = 5): number | null {
  const end = sim.now() + limit;
  while (sim.now() < end) {
    if (pred()) return sim.now();
    sim.runFor(step);
    if (sim.failed) return null;
  }
  return pred() ? sim.now() : null;
}

/** Run until one leader is known by every running member; returns it (throws with the trace if none in `limit` ms). */
export function settle(sim: Simulator, limit = 10_000): MemberId {
  const at = runUntilTrue(sim, () => agreedLeader(sim) !== null, limit);
  if (at === null) throw new Error(`no agreed leader within ${limit} ms\n${report(sim)}`);
  return agreedLeader(sim) as MemberId;
}

/** Violations and the trace, for an assertion message. */
export function report(sim: Simulator): string {
  const v = sim.checker.violations.map((x) => `  at ${x.t} ms [${x.rule}] ${x.text}`).join('\n');
  return `${v ? `violations:\n${v}\n` : ''}trace (last records):\n${sim.trace.dump()}`;
}

export const bytes = (s: string) => new TextEncoder().encode(s);
