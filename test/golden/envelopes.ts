/**
 * Golden envelopes: one deterministic, valid {@link Envelope} per body type,
 * with a non-default value in every field (no '', 0, false, empty list or
 * empty bytes), so that every field number of cohort.proto appears on the wire
 * of at least one frame. Their encodings are checked in as
 * `test/golden/frames/<bodyType>.hex`; `test/unit/golden.test.ts` compares
 * both directions, so renumbering a field (even in both cohort.proto and
 * schema.ts) or changing its wire type fails a test.
 *
 * Do not edit a value here without regenerating the frames
 * (`GOLDEN_REWRITE=1 npx tap test/unit/golden.test.ts`), and regenerate only
 * when a wire change is intended: see docs/wire.md.
 */
import { PROTOCOL_VERSION, type Body, type BodyType, type Envelope } from '../../agent/core/messages.js';
import type { TimerSettings } from '../../agent/core/timers.js';

/** Distinct timer values, so two timer fields swapping numbers changes the bytes too. */
const TIMERS: TimerSettings = { heartbeat: 1000, electionMin: 1500, electionMax: 2000, peerTimeout: 3000, consensusTimeout: 1700 };

/** The envelope header, with a non-default value in every field (`to` is a member, not ''). */
function golden<B extends Body>(body: B, to = 'node2/Controller'): Envelope<B> {
  return {
    version: PROTOCOL_VERSION,
    group: 'Pumps.main',
    from: 'node1/Controller',
    incarnation: 1_717_000_000_001,
    term: 7,
    to,
    body,
  };
}

export const GOLDEN_ENVELOPES: { readonly [K in BodyType]: Envelope<Extract<Body, { type: K }>> } = {
  memberHeartbeat: golden({
    type: 'memberHeartbeat',
    timers: TIMERS,
    minSize: 3,
    sentAt: 1_717_000_000_123.5,
    leader: 'node3/Controller',
    endpoint: 'tcp://10.0.0.1:5555',
  }),
  voteRequest: golden({
    type: 'voteRequest',
    preVote: true,
    electionTerm: 8,
    configTerm: 6,
    configVersion: 17,
    proposedVoters: ['node1/Controller', 'node2/Controller', 'node3/Controller'],
    transfer: true,
  }),
  voteReply: golden({ type: 'voteReply', preVote: true, electionTerm: 8, granted: true }),
  leaderHeartbeat: golden({
    type: 'leaderHeartbeat',
    config: { term: 6, version: 18, voters: ['node1/Controller', 'node2/Controller', 'node3/Controller'] },
    committedVersion: 17,
    endpoint: 'tcp://10.0.0.1:6000',
    timers: TIMERS,
    minSize: 2,
    sentAt: 1_717_000_000_250.25,
  }),
  heartbeatAck: golden({ type: 'heartbeatAck', configTerm: 6, configVersion: 18, accepted: true }),
  leave: golden({ type: 'leave' }),
  timeoutNow: golden({ type: 'timeoutNow' }),
  data: golden({ type: 'data', channel: 'fromLeader', payload: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]), sentAt: 1_717_000_000_500 }),
  pollRequest: golden({
    type: 'pollRequest',
    ballotId: 'node1/Controller#1717000000001.3',
    topic: new Uint8Array([0x73, 0x65, 0x74, 0x3d, 0x34, 0x32]),
    kind: 'consensus',
    subject: 'action',
    when: 1_717_000_010_000,
    timeoutMs: 2500,
  }),
  ballot: golden({
    type: 'ballot',
    ballotId: 'node2/Controller#1717000000002.4',
    topic: new Uint8Array([0x01, 0x02, 0x03]),
    kind: 'majority',
    subject: 'action',
    when: 1_717_000_020_000,
    timeoutMs: 3000,
    requester: 'node2/Controller',
    voters: ['node1/Controller', 'node2/Controller', 'node3/Controller'],
    remainingMs: 2875.5,
  }),
  // `yes` must be true here (false is proto3's default, which is never written); a reason
  // normally comes with a no, but the frame only pins the field numbers.
  memberVote: golden({ type: 'memberVote', ballotId: 'node2/Controller#1717000000002.4', yes: true, reason: 'clock guard: this clock is 2000 ms off the group' }),
  pollResult: golden({
    type: 'pollResult',
    ballotId: 'node2/Controller#1717000000002.4',
    requester: 'node2/Controller',
    outcome: 'timeout',
    kind: 'consensus',
    subject: 'action',
    when: 1_717_000_030_000,
    tally: { yes: 1, no: 1, voters: 3 },
    reason: 'leader stepped down',
    refusals: [{ member: 'node3/Controller', reason: 'clock guard: too little lead time' }],
    topic: new Uint8Array([0x6f, 0x70, 0x65, 0x6e]),
  }),
};
