/**
 * Field-hardening scenarios on 6 hosts (issue "Field hardening" §5): what a group does when
 * half of its voters vanish at once, and that a 3|3 partition never has a leader on both
 * sides for a partition-safe minSize (docs/protocol.md §4.5). `lan` timers: peerTimeout 1200 ms,
 * so majority-loss recovery (3 × peerTimeout leaderless) starts about 4.8 s after the loss.
 */
import type { Scenario } from './scenario.js';

const FORM = 20_000;

/** minSize 3 of 6: recovery allowed. 3 hosts, the leader among them, lose power at once. */
export const majorityLoss: Scenario = {
  name: 'majority-loss-6',
  title: '6 hosts, minSize 3: the leader and two more are killed at once; the 3 survivors elect again',
  hosts: 6,
  minSize: 3,
  steps: [
    { startHosts: 'all' },
    { waitForLeader: { within: FORM, members: 6, save: 'L' } },
    { sleep: 2000 }, // let the voter configuration take in all six
    { kill: { host: '$L', signal: 'SIGKILL' } },
    { kill: { host: '$L+1', signal: 'SIGKILL' } },
    { kill: { host: '$L+2', signal: 'SIGKILL' } },
    { waitForLeader: { within: 15_000, not: ['$L', '$L+1', '$L+2'], members: 3, save: 'N', measure: '3 of 6 killed at once (leader among them) → the 3 survivors agree on a leader' } },
    { expect: { leaders: 1, sameLeaderOnAll: true, noFlapWithin: 3000 } },
  ],
};

/** minSize 4 of 6: partition-safe. A 3|3 split has no leader on either side, however long. */
export const partition33: Scenario = {
  name: 'partition-3-3-safe',
  title: '6 hosts, minSize 4: a 3|3 partition for 10 s never has a leader on either side; heal → one leader',
  hosts: 6,
  minSize: 4,
  steps: [
    { startHosts: 'all' },
    { waitForLeader: { within: FORM, members: 6, save: 'L' } },
    { sleep: 2000 },
    { partition: { sides: [['$L', '$L+1', '$L+2'], ['*']] } },
    { expect: { leadersPerSide: [0, 0] }, within: 4000, label: 'the old leader steps down; nobody leads' },
    { sleep: 6000 }, // past the majority-loss recovery time: neither side has minSize members
    { expect: { leadersPerSide: [0, 0] }, label: 'still nobody leads on either side' },
    { heal: true },
    { waitForLeader: { within: 15_000, members: 6, measure: 'heal after a 10 s 3|3 partition → one leader known to all 6' } },
    { expect: { leaders: 1, sameLeaderOnAll: true, noFlapWithin: 3000 } },
  ],
};

/**
 * Heal after a long cut (issue "Field hardening" §9): the minority's connections must not sit in
 * SYN-SENT on the kernel's retransmit backoff. Required: agreement within one heartbeat plus one
 * election round (lan: 200 + 800 ms) after healing; measured 6.0 s before the connect timeout, 0.48 s after.
 */
export const longPartition: Scenario = {
  name: 'partition-15s-heal',
  title: 'partition 3|2 for 15 s, then heal: one leader within one heartbeat plus one election round',
  hosts: 5,
  steps: [
    { startHosts: 'all' },
    { waitForLeader: { within: FORM, members: 5, save: 'L' } },
    { partition: { sides: [['$L', '$L+1'], ['*']] } },
    { sleep: 15_000 },
    { heal: true },
    { waitForLeader: { within: 2_000, members: 5, measure: 'heal after a 15 s partition → one leader known to all 5' } },
    { expect: { leaders: 1, sameLeaderOnAll: true, noFlapWithin: 2000 } },
  ],
};
