/**
 * Seeded schedules: from one seed, a group (size, minSize, timers, network)
 * and a plan of timed operations: a fault phase (partitions, one-way cuts,
 * crashes, restarts, loss bursts, congested spells with long delays, stalled
 * processes, joins, graceful leaves and rejoins, timers that fire late, members
 * yielding their candidacy (poor health), and
 * application traffic: messages, polls of both kinds and subjects, random
 * votes), then a stable phase (everything healed and up, no loss) in which a
 * leader must appear within {@link livenessBound} and stay.
 *
 * Plan operations name roles ("a random crashed member", "the leader") rather
 * than ids where the answer depends on the run; run.ts resolves them when they
 * happen, from the same seed.
 */
import type { MemberId, PollKind, PollSubject } from '../../agent/core/messages.js';
import { TIMER_PRESETS, type TimerSettings } from '../../agent/core/timers.js';
import type { NetworkParams } from './network.js';
import { Rng } from './random.js';

export type PlanOp =
  | { op: 'start'; id: MemberId }
  | { op: 'crash'; who: 'random' | 'leader' }
  | { op: 'restart' }
  | { op: 'leave'; who: 'random' | 'leader' }
  | { op: 'rejoin' }
  | { op: 'partition'; parts: number; leaderInMinority: boolean }
  | { op: 'cut' }
  | { op: 'heal' }
  | { op: 'loss'; loss: number }
  | { op: 'delay'; delayMax: number }
  | { op: 'pause'; who: 'random' | 'leader'; ms: number }
  | { op: 'crashMajority' }
  | { op: 'restartAmnesiac' }
  | { op: 'clockStep'; ms: number }
  | { op: 'yield'; id: MemberId; on: boolean }
  | { op: 'stranger'; kind: StrangerKind; count: number; ms: number }
  | { op: 'send' }
  | { op: 'toLeader' }
  | { op: 'toMember' }
  | { op: 'poll'; kind: PollKind; subject: PollSubject; timeoutMs: number | undefined; whenSlack: number }
  | { op: 'stable' }
  | { op: 'probePoll' };

/** What a stranger on the network does (see run.ts). */
export type StrangerKind = 'phantoms' | 'absurd' | 'forgedPoll' | 'forgedData';

export interface Plan {
  seed: number;
  /** Every id the run may start (initial members first, then joiners). */
  ids: MemberId[];
  initial: number;
  minSize: number;
  timers: TimerSettings;
  timerProfile: string;
  network: NetworkParams;
  skewMs: number;
  /** How late timers may fire, ms. */
  timerJitterMs: number;
  /** When the fault phase ends and the stable phase begins (virtual ms). */
  stableAt: number;
  /** Liveness bound from stableAt, ms. */
  bound: number;
  end: number;
  ops: Array<{ at: number; op: PlanOp }>;
}

/**
 * How long after the network stabilises (all members up and connected, no
 * loss, one-way delays <= dMax) a leader known to every member must exist:
 *
 *   peerTimeout + heartbeat + dMax + k * (electionMax + 4 * dMax),  k = 2
 *
 * - peerTimeout + heartbeat + dMax ("drain"): stale state from the fault phase
 *   expires. A leader stranded on a minority steps down within peerTimeout
 *   (check-quorum), one with a stale term on the first reply to its heartbeat;
 *   leases (electionMin) and dead peers in member tables (peerTimeout) expire;
 *   a restarted member hears the others, and the winner's heartbeat reaches
 *   everyone, within one heartbeat + dMax.
 * - k election rounds: a round costs at most electionMax (a follower's
 *   randomised timeout) plus a pre-vote and a vote round trip (4 dMax). It fails
 *   only on a split vote, when another member's timer fires inside the same
 *   ~4 dMax window: p <= (N-1) * 4 dMax / (electionMax - electionMin) per round,
 *   and the generator keeps dMax <= (electionMax - electionMin) / 16, so
 *   p <= 6/16 even for N = 7 with the largest delays (usually p < 0.05).
 *
 * Measured over 4000 seeds (npm run sim prints it): the stable leader came after
 * a median of 0.45 s, p99 4.3 s, max 11.1 s (slow timers), never more than 0.43
 * rounds beyond the drain term: an election rarely has to wait for it.
 * k = 2 leaves a wide margin for the rare split vote.
 */
export function livenessBound(timers: TimerSettings, dMax: number, k = LIVENESS_ROUNDS): number {
  return timers.peerTimeout + timers.heartbeat + dMax + k * (timers.electionMax + 4 * dMax);
}
export const LIVENESS_ROUNDS = 2;

/** How many election rounds (beyond the drain term) a measured time to a stable leader amounts to. */
export function electionRounds(ms: number, timers: TimerSettings, dMax: number): number {
  return Math.max(0, (ms - (timers.peerTimeout + timers.heartbeat + dMax)) / (timers.electionMax + 4 * dMax));
}

export const MEMBER_IDS = ['m1/a', 'm2/a', 'm3/a', 'm4/a', 'm5/a', 'm6/a', 'm7/a'] as const;

function pickTimers(rng: Rng): { profile: string; timers: TimerSettings } {
  const profile = rng.weighted<string>([
    [45, 'riaps'],
    [20, 'lan'],
    [10, 'slow'],
    [25, 'random'],
  ]);
  if (profile !== 'random') return { profile, timers: { ...TIMER_PRESETS[profile as keyof typeof TIMER_PRESETS] } };
  const heartbeat = rng.int(100, 1000);
  const electionMin = heartbeat + rng.int(Math.ceil(heartbeat * 0.3), Math.ceil(heartbeat * 1.5));
  const electionMax = electionMin + rng.int(Math.max(100, Math.ceil(electionMin * 0.2)), Math.ceil(electionMin * 0.8));
  const peerTimeout = electionMax + rng.int(Math.ceil(heartbeat * 0.5), heartbeat * 2);
  return { profile, timers: { heartbeat, electionMin, electionMax, peerTimeout, consensusTimeout: rng.int(300, 3000) } };
}

export function generate(seed: number): Plan {
  const rng = new Rng(seed).fork('schedule');

  // Group shape. Safety needs any two quorums to intersect across every member
  // ever created: minSize > total / 2.
  const shape = rng.weighted<string>([
    [1, 'single'],
    [1, 'pair'],
    [8, 'group'],
  ]);
  let initial = 1;
  let joins = 0;
  let minSize = 1;
  if (shape === 'pair') {
    initial = 2;
    minSize = 2;
  } else if (shape === 'group') {
    initial = rng.int(3, 7);
    joins = rng.chance(0.35) ? rng.int(0, Math.min(7 - initial, 2)) : 0;
    const total = initial + joins;
    const lo = Math.floor(total / 2) + 1;
    const hi = rng.chance(0.85) ? Math.max(lo, initial) : total;
    minSize = rng.int(lo, hi);
  }
  const ids = MEMBER_IDS.slice(0, initial + joins);

  const { profile, timers } = pickTimers(rng);
  const dCap = Math.max(1, Math.min(100, Math.floor(timers.heartbeat / 4), Math.floor((timers.electionMax - timers.electionMin) / 16)));
  const delayMax = rng.int(1, dCap);
  const network: NetworkParams = {
    loss: rng.weighted([
      [4, 0],
      [3, 0.01],
      [2, 0.05],
      [1, 0.15],
    ]),
    duplicate: rng.weighted([
      [5, 0],
      [3, 0.01],
      [2, 0.05],
    ]),
    delayMin: rng.int(0, Math.min(5, delayMax)),
    delayMax,
  };
  const skewMs = rng.int(0, 20);
  const timerJitterMs = rng.pick([0, 0, 1, 3, 10]);

  const ops: Plan['ops'] = [];
  const add = (at: number, op: PlanOp) => ops.push({ at, op });
  const stableAt = rng.int(20_000, 60_000);

  for (let i = 0; i < initial; i++) add(rng.int(0, 1000), { op: 'start', id: ids[i] as MemberId });
  for (let i = initial; i < ids.length; i++) add(rng.int(2000, stableAt - 1000), { op: 'start', id: ids[i] as MemberId });

  // Faults.
  const single = ids.length === 1;
  for (let t = rng.int(1000, 4000); t < stableAt; t += rng.int(300, 5000)) {
    const kind = rng.weighted<string>([
      [single ? 0 : 3, 'partition'],
      [3, 'heal'],
      [single ? 0 : 1, 'cut'],
      [2, 'crash'],
      [1.5, 'crashLeader'],
      [3, 'restart'],
      [1.5, 'loss'],
      [1, 'slow'],
      [1, 'pause'],
      [0.6, 'leave'],
      [0.6, 'leaveLeader'],
      [1, 'rejoin'],
      [single ? 0 : 0.5, 'crashMajority'],
      [0.8, 'restartAmnesiac'],
      [0.5, 'clockStep'],
      [1.2, 'stranger'],
      [single ? 0 : 0.6, 'longPartition'],
      [0.6, 'lossPoll'],
    ]);
    switch (kind) {
      case 'partition':
        add(t, { op: 'partition', parts: rng.chance(0.75) ? 2 : 3, leaderInMinority: rng.chance(0.5) });
        break;
      case 'crash':
      case 'crashLeader':
        add(t, { op: 'crash', who: kind === 'crash' ? 'random' : 'leader' });
        break;
      case 'leave':
      case 'leaveLeader':
        add(t, { op: 'leave', who: kind === 'leave' ? 'random' : 'leader' });
        break;
      case 'loss': {
        add(t, { op: 'loss', loss: rng.pick([0.2, 0.4, 0.7, 1]) });
        add(t + rng.int(200, 5000), { op: 'loss', loss: network.loss });
        break;
      }
      case 'slow': {
        // A congested spell: delays far beyond the stable phase's, up to several heartbeats.
        add(t, { op: 'delay', delayMax: rng.int(network.delayMax, 3 * timers.heartbeat) });
        add(t + rng.int(500, 6000), { op: 'delay', delayMax: network.delayMax });
        break;
      }
      case 'pause':
        // A stalled process (GC, swap, an overloaded board): shorter or longer than the timeouts.
        add(t, { op: 'pause', who: rng.chance(0.5) ? 'leader' : 'random', ms: rng.int(50, 2 * timers.peerTimeout) });
        break;
      case 'heal':
      case 'cut':
      case 'restart':
      case 'rejoin':
      case 'crashMajority':
      case 'restartAmnesiac':
        add(t, { op: kind });
        break;
      case 'clockStep':
        // An NTP step on one member's wall clock (its monotonic clock is untouched).
        add(t, { op: 'clockStep', ms: rng.pick([-1, 1]) * rng.int(100, 10_000) });
        break;
      case 'stranger': {
        const what = rng.weighted<StrangerKind>([
          [2, 'phantoms'],
          [2, 'absurd'],
          [2, 'forgedPoll'],
          [1, 'forgedData'],
        ]);
        add(t, { op: 'stranger', kind: what, count: rng.int(1, 6), ms: rng.int(500, 6000) });
        break;
      }
      case 'longPartition': {
        // Far longer than any timer: the minority must give its leader up and stay quiet.
        add(t, { op: 'partition', parts: 2, leaderInMinority: rng.chance(0.5) });
        add(Math.min(stableAt - 1, t + rng.int(3, 6) * timers.peerTimeout), { op: 'heal' });
        break;
      }
      case 'lossPoll': {
        // Heavy loss (about 20 % on each side of every host, so ~36 % a path) while polls run.
        add(t, { op: 'loss', loss: 0.36 });
        for (let k = rng.int(1, 3); k > 0; k--) {
          add(t + rng.int(0, 1500), {
            op: 'poll',
            kind: rng.chance(0.5) ? 'majority' : 'consensus',
            subject: rng.chance(0.5) ? 'action' : 'value',
            timeoutMs: rng.int(200, 2000),
            whenSlack: rng.int(100, 3000),
          });
        }
        add(t + rng.int(2000, 5000), { op: 'loss', loss: network.loss });
        break;
      }
    }
  }

  // Poor health, as the runtime judges it: a member yields its candidacy for a spell
  // (GroupMember.setCampaignYield). From a stream of its own: the other draws stay as they were.
  const yr = rng.fork('yield');
  for (let t = yr.int(1000, 6000); t < stableAt; t += yr.int(1000, 8000)) {
    const id = yr.pick(ids);
    add(t, { op: 'yield', id, on: true });
    add(Math.min(stableAt - 1, t + yr.int(500, 15_000)), { op: 'yield', id, on: false });
  }

  // Application traffic.
  for (let t = rng.int(500, 3000); t < stableAt; t += rng.int(100, 3000)) {
    const kind = rng.weighted<string>([
      [4, 'send'],
      [4, 'poll'],
      [1.5, 'toLeader'],
      [1, 'toMember'],
    ]);
    if (kind !== 'poll') {
      add(t, { op: kind as 'send' | 'toLeader' | 'toMember' });
      continue;
    }
    const subject: PollSubject = rng.chance(0.3) ? 'action' : 'value';
    add(t, {
      op: 'poll',
      kind: rng.chance(0.5) ? 'majority' : 'consensus',
      subject,
      timeoutMs: rng.chance(0.2) ? undefined : rng.int(50, 3000),
      // Mostly comfortably late; sometimes too early for the poll to finish (refused).
      whenSlack: rng.chance(0.25) ? rng.int(-100, 40) : rng.int(50, 4000),
    });
  }

  const bound = livenessBound(timers, network.delayMax);
  add(stableAt, { op: 'stable' });
  const probeAt = stableAt + bound + timers.heartbeat;
  add(probeAt, { op: 'probePoll' });
  const probeTimeout = probeTimeoutMs(timers, network.delayMax);
  const end = probeAt + Math.max(probeTimeout + 2 * timers.heartbeat, 3 * timers.peerTimeout, 5000);

  // Stable sort: equal times keep generation order.
  ops.sort((a, b) => a.at - b.at);
  return { seed, ids, initial, minSize, timers, timerProfile: profile, network, skewMs, timerJitterMs, stableAt, bound, end, ops };
}

/** The stable-phase poll must be decidable: every vote's round trip fits comfortably. */
export function probeTimeoutMs(timers: TimerSettings, dMax: number): number {
  return Math.max(timers.consensusTimeout, 8 * dMax + 200);
}

export function describePlan(p: Plan): string {
  const t = p.timers;
  const n = p.network;
  return (
    `seed ${p.seed}: ${p.initial} members${p.ids.length > p.initial ? ` (+${p.ids.length - p.initial} joining)` : ''} minSize ${p.minSize}; ` +
    `timers ${p.timerProfile} hb=${t.heartbeat} election=${t.electionMin}..${t.electionMax} peer=${t.peerTimeout} consensus=${t.consensusTimeout}; ` +
    `net loss=${n.loss} dup=${n.duplicate} delay=${n.delayMin}..${n.delayMax} skew<=${p.skewMs} timer-jitter<=${p.timerJitterMs}; ` +
    `faults until ${p.stableAt} ms, liveness bound ${p.bound} ms, end ${p.end} ms, ${p.ops.length} ops`
  );
}
