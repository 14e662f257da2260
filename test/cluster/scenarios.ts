/**
 * The shipped bench-cluster scenarios (run by test/cluster/cluster.test.ts on
 * the netns backend; any backend can run them). 5 hosts, group Bench.main,
 * minSize 3, every agent auto-votes yes, `lan` timers (heartbeat 200,
 * election 500–800, peerTimeout 1200, consensus 1000 ms).
 */
import type { Discovery } from './backend.js';
import type { Scenario } from './scenario.js';

const FORM = 20_000; // formation includes tsx start-up jitter on a loaded box

export function formation(discovery: Discovery): Scenario {
  return {
    name: `formation-${discovery}`,
    title: `5 hosts discover each other (${discovery}), elect one leader; the leader is killed and restarted; the new one stops gracefully`,
    hosts: 5,
    discovery,
    steps: [
      { startHosts: 'all' },
      { waitForLeader: { within: FORM, members: 5, save: 'L' } },
      { expect: { leaders: 1, sameLeaderOnAll: true, members: 5, noFlapWithin: 1500 } },
      { kill: { host: '$L', signal: 'SIGKILL' } },
      { waitForLeader: { within: 8000, not: ['$L'], save: 'N' } },
      { expect: { leaders: 1, sameLeaderOnAll: true, leaderNot: '$L', termAbove: '$L' } },
      { startHosts: ['$L'] },
      { waitForLeader: { within: 15_000, members: 5, measure: 'restart of the killed leader → it knows the leader, 5 members everywhere' } },
      { expect: { leaderIs: '$N', termIs: '$N', roles: { $L: 'follower' }, noFlapWithin: 1500 } },
      // A graceful stop of the leader (SIGTERM: it leaves, handing over).
      { kill: { host: '$N', signal: 'SIGTERM' } },
      { waitForLeader: { within: 8000, not: ['$N'], members: 4, measure: 'SIGTERM leader (graceful leave) → new leader known to the other 4' } },
    ],
  };
}

export const leaderCut: Scenario = {
  name: 'leader-cut',
  title: "the leader's cable is cut, then restored",
  hosts: 5,
  steps: [
    { startHosts: 'all' },
    { waitForLeader: { within: FORM, members: 5, save: 'L' } },
    { cut: { host: '$L' } },
    { waitForLeader: { within: 8000, not: ['$L'], save: 'N' } },
    { expect: { leaders: 1, sameLeaderOnAll: true, leaderNot: '$L' } },
    // The isolated old leader steps down (check-quorum) and must not win anything alone.
    { expect: { roles: { $L: '!leader' } }, within: 4000, label: 'the cut old leader steps down', among: ['$N'] },
    { sleep: 1500 },
    { restore: { host: '$L' } },
    { waitForLeader: { within: 10_000, members: 5, measure: 'restore → old leader follows the new one, 5 members everywhere' } },
    // Rejoining does not disturb the group: same leader, same term, no flapping.
    { expect: { leaderIs: '$N', termIs: '$N', roles: { $L: 'follower' }, members: 5, noFlapWithin: 3000 } },
  ],
};

export const partition32: Scenario = {
  name: 'partition-3-2',
  title: 'partition 3|2 with the old leader in the minority, then heal',
  hosts: 5,
  steps: [
    { startHosts: 'all' },
    { waitForLeader: { within: FORM, members: 5, save: 'L' } },
    { partition: { sides: [['$L', '$L+1'], ['*']] } },
    { waitForLeader: { within: 8000, among: { side: 1 }, not: ['$L'], save: 'M' } },
    // Majority side: exactly one leader; minority (the old leader's): none, once check-quorum has run,
    // and its follower reports none either once the old leader has been silent for peerTimeout.
    { expect: { leadersPerSide: [0, 1] }, within: 5000 },
    { expect: { noLeader: true, noFlapWithin: 3000 }, within: 3000, among: { side: 0 }, label: 'the minority reports no leader (hasLeader false, leader calls throw)' },
    { expect: { leaders: 1, sameLeaderOnAll: true, noFlapWithin: 3000 }, among: { side: 1 } },
    { heal: true },
    { waitForLeader: { within: 10_000, members: 5, measure: 'heal → one leader known to all 5' } },
    { expect: { leaders: 1, sameLeaderOnAll: true, members: 5, noFlapWithin: 4000 } },
  ],
};

/**
 * `percent`% random loss on every host. direction 'both' (in and out on each host) drops
 * 1-(1-p)² of each host-to-host packet (20% → 36%); 'out' drops p per path.
 */
export function lossAll(percent: number, direction: 'both' | 'out', timers?: string, knownIssue?: string): Scenario {
  const dir = direction === 'both' ? 'in+out' : 'out';
  return {
    ...(knownIssue ? { knownIssue } : {}),
    name: `loss-${percent}-${direction === 'both' ? 'inout' : 'out'}${timers ? `-${timers}` : ''}`,
    title: `${percent}% random loss (${dir}) on every host: the leader is kept and votes still complete`,
    hosts: 5,
    ...(timers ? { timers } : {}),
    steps: [
      { startHosts: 'all' },
      { waitForLeader: { within: FORM, members: 5, save: 'L' } },
      { loss: { host: 'all', percent, direction } },
      { expect: { leaders: 1, sameLeaderOnAll: true, leaderIs: '$L', termIs: '$L', noFlapWithin: 8000 }, label: 'one leader kept under loss' },
      { requestVote: { from: '$L+1', kind: 'majority', within: 8000 } },
      { requestVote: { from: '$L+2', kind: 'consensus', within: 8000 } },
      { requestAction: { from: '$L+3', inMs: 2500 } },
      { expect: { leaders: 1, sameLeaderOnAll: true, leaderIs: '$L', termIs: '$L' }, label: 'still the same leader and term' },
      { loss: { host: 'all', percent: 0 } },
    ],
  };
}

export const votesAndActions: Scenario = {
  name: 'votes-actions',
  title: 'majority and consensus votes and an action vote across hosts; then one host 250 ms ahead, which the clock guard keeps from acting',
  hosts: 5,
  steps: [
    { startHosts: 'all' },
    { waitForLeader: { within: FORM, members: 5, save: 'L' } },
    { requestVote: { from: '$L+1', kind: 'majority' } },
    { requestVote: { from: '$L+2', kind: 'consensus' } },
    { requestAction: { from: '$L+3', inMs: 2000 } },
    // A board whose clock is 250 ms ahead would fire 250 ms early in real time. The clock guard
    // (README "Hardware and clocks": tolerance 100 ms) sees it off the group's clock and keeps it
    // from acting; the other four fire together.
    { clockOffset: { host: '$L+4', ms: 250 } },
    { waitForLeader: { within: 15_000, members: 5, measure: false } },
    { sleep: 3000 }, // heartbeats enough for the group clock to measure the offset
    { requestAction: { from: '$L+1', inMs: 2000, notOn: ['$L+4'] } },
  ],
};

/**
 * 20% in AND out on every host = 36% per host-to-host packet: TCP retransmission timeouts stall
 * heartbeats past electionMin and ZMTP heartbeats (1 s) tear bus links down; see docs/bench-cluster.md.
 */
/**
 * 20 % in and out on every host (36 % per host-to-host packet). Passes with the leader's
 * messages on both TCP paths (agent.ts, copyDirect) and linear retransmission timeouts for
 * thin streams on every host, the setting docs/bench-cluster.md asks board owners to make;
 * either alone does not (measured there).
 */
export const LOSS_20_INOUT: Scenario = {
  ...lossAll(
    20,
    'both',
    undefined,
    'flaky under load: passed 27 of 28 runs by hand, but with the CPUs saturated about 1 run in 3 fails: both TCP paths to a follower go silent for 1.2-4.4 s and it drops the leader (no-flapping check), or a ~1 s freeze of the whole machine makes the leader step down (see docs/bench-cluster.md "Under CPU load")',
  ),
  hostSysctls: ['net.ipv4.tcp_thin_linear_timeouts=1'],
};

export function shippedScenarios(mdns: boolean): Scenario[] {
  return [formation('static'), ...(mdns ? [formation('mdns')] : []), leaderCut, partition32, lossAll(20, 'out'), LOSS_20_INOUT, votesAndActions];
}
