import t from 'tap';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { PROTOCOL_VERSION, type Body, type BodyType, type Envelope } from '../../agent/core/messages.js';
import { DecodeError, EncodeError, MAX_ENVELOPE_BYTES, decodeEnvelope, decodeGeneral, encodeEnvelope, encodeGeneral, type DecodeResult } from '../../proto/codec.js';
import { COHORT_SCHEMA } from '../../proto/schema.js';
import { MAX_COUNTER, MAX_EPOCH_MS, MAX_MEMBER_IDS, MAX_POLL_TIMEOUT_MS, MAX_TIMER_MS } from '../../agent/core/limits.js';
import { decodeErr, decodeOk } from './decode-helpers.js';

const PROTO_SOURCE = readFileSync(new URL('../../proto/cohort.proto', import.meta.url), 'utf8');
// A second, independent load of the .proto, used to craft frames our encoder refuses to build.
const RawEnvelope = protobuf.parse(PROTO_SOURCE).root.lookupType('cohort.Envelope');
const raw = (obj: Record<string, unknown>): Uint8Array => RawEnvelope.encode(obj).finish();

/** protobufjs types util.Long loosely; it is long.js's class when the `long` package is installed (it is: protobufjs depends on it). */
const LongClass = protobuf.util.Long as unknown as {
  fromString(s: string, unsigned: boolean): protobuf.Long;
  fromNumber(n: number, unsigned: boolean): protobuf.Long;
};
const CODES = ['malformed', 'unsupported-version', 'invalid-field', 'too-large'];
const PRINTABLE = /^[^\p{Cc}\p{Cs}]*$/u;
/** The longest member id and ballot id the name forms allow. */
const LONGEST_ID = `${'n'.repeat(100)}/${'c'.repeat(100)}`;
const LONGEST_BALLOT = `${LONGEST_ID}#${MAX_COUNTER}.999999999999999`;
const TIMERS = { heartbeat: 1000, electionMin: 1500, electionMax: 2000, peerTimeout: 3000, consensusTimeout: 1500 };

function envelope<B extends Body>(body: B, header: Partial<Omit<Envelope, 'body'>> = {}): Envelope<B> {
  return { version: PROTOCOL_VERSION, group: 'Pumps.main', from: 'node1/Controller', incarnation: 1, term: 4, to: '', ...header, body };
}


/** Whatever decode returns must be one of the two documented shapes, and anything accepted must re-encode to itself. */
function wellFormed(r: DecodeResult): boolean {
  if (r.ok) return isDeepStrictEqual(decodeOk(encodeEnvelope(r.envelope)), r.envelope);
  return r.error instanceof DecodeError && CODES.includes(r.error.code) && r.error.message.length > 0;
}

t.test('schema.ts is the parsed cohort.proto', async (t) => {
  const parsed = protobuf.parse(PROTO_SOURCE).root.toJSON();
  const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
  t.strictSame(plain(COHORT_SCHEMA), plain(parsed), 'proto/schema.ts matches; if not, regenerate it with the command in its header comment');
});

t.test('every message, field, oneof and enum value of cohort.proto is commented', async (t) => {
  const ns = protobuf.parse(PROTO_SOURCE, { alternateCommentMode: true }).root.lookup('cohort') as protobuf.Namespace;
  const missing: string[] = [];
  for (const obj of ns.nestedArray) {
    if (!obj.comment) missing.push(obj.fullName);
    if (obj instanceof protobuf.Type) {
      for (const f of [...obj.fieldsArray, ...obj.oneofsArray]) if (!f.comment) missing.push(f.fullName);
    }
    if (obj instanceof protobuf.Enum) {
      for (const name of Object.keys(obj.values)) if (!obj.comments[name]) missing.push(`${obj.fullName}.${name}`);
    }
  }
  t.same(missing, []);
});

// ---------------------------------------------------------------------------
// Round trips

const BODY_EXAMPLES: { [K in BodyType]: Array<Extract<Body, { type: K }>> } = {
  memberHeartbeat: [
    { type: 'memberHeartbeat', timers: TIMERS, minSize: 3, sentAt: 1_717_000_000_123.5, leader: 'node2/Controller', endpoint: 'tcp://10.0.0.2:5555' },
    {
      type: 'memberHeartbeat',
      timers: { heartbeat: 1, electionMin: MAX_TIMER_MS, electionMax: 2, peerTimeout: 3, consensusTimeout: 4 },
      minSize: 0,
      sentAt: 0,
      leader: '',
      endpoint: '',
    },
  ],
  voteRequest: [
    { type: 'voteRequest', preVote: true, electionTerm: 5, configTerm: 4, configVersion: 17, proposedVoters: [], transfer: false },
    {
      type: 'voteRequest',
      preVote: false,
      electionTerm: MAX_COUNTER,
      configTerm: 0,
      configVersion: 0,
      proposedVoters: ['a/x', 'b/y', 'node-1/Comp_2', LONGEST_ID],
      transfer: true,
    },
  ],
  voteReply: [
    { type: 'voteReply', preVote: true, electionTerm: 5, granted: true },
    { type: 'voteReply', preVote: false, electionTerm: 0, granted: false },
  ],
  leaderHeartbeat: [
    {
      type: 'leaderHeartbeat',
      config: { term: 4, version: 9, voters: ['node1/Controller', 'node2/Controller', 'node3/Controller'] },
      committedVersion: 8,
      endpoint: 'tcp://10.0.0.1:6000',
      timers: TIMERS,
      minSize: 2,
      sentAt: 1_717_000_000_000,
    },
    {
      type: 'leaderHeartbeat',
      config: { term: MAX_COUNTER, version: MAX_COUNTER, voters: Array.from({ length: 1024 }, (_, i) => `n${i}/c`) },
      committedVersion: MAX_COUNTER,
      endpoint: 'x'.repeat(1024),
      timers: TIMERS,
      minSize: MAX_MEMBER_IDS,
      sentAt: MAX_EPOCH_MS,
    },
  ],
  heartbeatAck: [
    { type: 'heartbeatAck', configTerm: 4, configVersion: 9, accepted: true },
    { type: 'heartbeatAck', configTerm: 0, configVersion: 0, accepted: false },
  ],
  leave: [{ type: 'leave' }],
  timeoutNow: [{ type: 'timeoutNow' }],
  data: [
    { type: 'data', channel: 'group', payload: new Uint8Array([0, 1, 2, 255]), sentAt: 1_717_000_000_000.25 },
    { type: 'data', channel: 'toLeader', payload: new Uint8Array(0), sentAt: 0 },
    { type: 'data', channel: 'fromLeader', payload: new Uint8Array(MAX_ENVELOPE_BYTES - 200).fill(7), sentAt: MAX_EPOCH_MS - 0.25 },
  ],
  pollRequest: [
    { type: 'pollRequest', ballotId: 'node1/Controller#1.1', topic: new TextEncoder().encode('open valve 3'), kind: 'majority', subject: 'value', when: 0, timeoutMs: 1500 },
    { type: 'pollRequest', ballotId: LONGEST_BALLOT, topic: new Uint8Array(0), kind: 'consensus', subject: 'action', when: MAX_EPOCH_MS, timeoutMs: MAX_POLL_TIMEOUT_MS },
    { type: 'pollRequest', ballotId: 'a/b#0.0', topic: new Uint8Array(0), kind: 'consensus', subject: 'action', when: 1_717_000_005_000, timeoutMs: 0 },
  ],
  ballot: [
    {
      type: 'ballot',
      ballotId: 'node1/Controller#1717000000000.12',
      topic: new Uint8Array([42]),
      kind: 'consensus',
      subject: 'action',
      when: 1_717_000_005_000,
      timeoutMs: 1500,
      requester: 'node1/Controller',
      voters: ['node1/Controller', 'node2/Controller'],
      remainingMs: 1499.75,
    },
    { type: 'ballot', ballotId: 'r/x#0.0', topic: new Uint8Array(0), kind: 'majority', subject: 'value', when: 0, timeoutMs: 0, requester: 'r/x', voters: [], remainingMs: 0 },
    {
      type: 'ballot',
      ballotId: LONGEST_BALLOT,
      topic: new Uint8Array(0),
      kind: 'majority',
      subject: 'value',
      when: MAX_EPOCH_MS,
      timeoutMs: MAX_POLL_TIMEOUT_MS,
      requester: LONGEST_ID,
      voters: [LONGEST_ID],
      remainingMs: MAX_POLL_TIMEOUT_MS,
    },
  ],
  memberVote: [
    { type: 'memberVote', ballotId: 'node2/Sensor#5.1', yes: true },
    { type: 'memberVote', ballotId: 'node2/Sensor#5.1', yes: false },
  ],
  pollResult: [
    {
      type: 'pollResult',
      ballotId: 'node2/Sensor#5.1',
      requester: 'node2/Sensor',
      outcome: 'yes',
      kind: 'majority',
      subject: 'value',
      when: 0,
      tally: { yes: 2, no: 1, voters: 3 },
      reason: '',
    },
    {
      type: 'pollResult',
      ballotId: 'node2/Sensor#5.2',
      requester: 'node2/Sensor',
      outcome: 'timeout',
      kind: 'consensus',
      subject: 'action',
      when: 1_717_000_005_000,
      tally: { yes: 0, no: 0, voters: 0 },
      reason: 'leader stepped down',
    },
    {
      type: 'pollResult',
      ballotId: 'node2/Sensor#5.3',
      requester: 'node2/Sensor',
      outcome: 'yes',
      kind: 'majority',
      subject: 'action',
      when: 1_717_000_005_000,
      tally: { yes: 3, no: 0, voters: 3 },
      reason: '',
      // The action's topic, for a member that missed the ballot (added after version 1: optional).
      topic: new Uint8Array([0x6f, 0x70, 0x65, 0x6e]),
    },
    {
      type: 'pollResult',
      ballotId: 'n/c#1.3',
      requester: 'n/c',
      outcome: 'no',
      kind: 'majority',
      subject: 'value',
      when: -0,
      tally: { yes: MAX_MEMBER_IDS, no: 0, voters: MAX_MEMBER_IDS },
      reason: 'r'.repeat(1024),
    },
  ],
};

t.test('every body type round-trips', async (t) => {
  for (const [type, examples] of Object.entries(BODY_EXAMPLES)) {
    examples.forEach((body: Body, i) => {
      const env = envelope(body);
      const decoded = decodeOk(encodeEnvelope(env));
      // tap's diffing compare is slow on a 1 MiB payload; node's is not.
      if (body.type === 'data' && body.payload.length > 65536) t.ok(isDeepStrictEqual(decoded, env), `${type} #${i}`);
      else t.strictSame(decoded, env, `${type} #${i}`);
    });
  }
});

t.test('header edge values round-trip', async (t) => {
  const headers: Array<Partial<Omit<Envelope, 'body'>>> = [
    { incarnation: 0, term: 0, to: '' },
    { incarnation: MAX_COUNTER, term: MAX_COUNTER, to: 'node9/Actuator' },
    { group: `${'A'.repeat(100)}.${'b'.repeat(100)}`, from: LONGEST_ID, to: LONGEST_ID },
    { group: '_a.b-c_9', from: '-/_' },
  ];
  for (const h of headers) {
    const env = envelope({ type: 'leave' }, h);
    t.strictSame(decodeOk(encodeEnvelope(env)), env, JSON.stringify(h).slice(0, 60));
  }
});

t.test('decoded bytes are fresh plain Uint8Arrays', async (t) => {
  const frame = Buffer.from(encodeEnvelope(envelope({ type: 'data', channel: 'group', payload: new Uint8Array([1, 2, 3]), sentAt: 0 })));
  const decoded = decodeOk(frame).body as Extract<Body, { type: 'data' }>;
  frame.fill(0);
  t.equal(decoded.payload.constructor, Uint8Array);
  t.strictSame(decoded.payload, new Uint8Array([1, 2, 3]), 'payload does not alias the frame');
  const empty = decodeOk(encodeEnvelope(envelope({ type: 'data', channel: 'group', payload: new Uint8Array(0), sentAt: 0 }))).body as Extract<Body, { type: 'data' }>;
  t.equal(empty.payload.constructor, Uint8Array);
  t.equal(empty.payload.length, 0);
  const voters = (decodeOk(encodeEnvelope(envelope(BODY_EXAMPLES.voteRequest[0]!))).body as Extract<Body, { type: 'voteRequest' }>).proposedVoters;
  t.notOk(Object.isFrozen(voters), 'an empty list is a fresh array, not a shared frozen default');
});

// ---------------------------------------------------------------------------
// Properties

/** Plain-prototype records: decoded envelopes are plain objects, and deep equality compares prototypes. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const nameArb = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), fc.constantFrom('n'.repeat(100), '-', '_'));
const memberIdArb = fc.tuple(nameArb, nameArb).map(([n, c]) => `${n}/${c}`);
const memberIdOrNoneArb = fc.oneof(fc.constant(''), memberIdArb);
const textArb = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => s.length <= 1024 && PRINTABLE.test(s));
const memberIdsArb = fc.array(memberIdArb, { maxLength: 6 });
const memberCountArb = fc.integer({ min: 0, max: MAX_MEMBER_IDS });
const timerArb = fc.integer({ min: 1, max: MAX_TIMER_MS });
const counterArb = fc.oneof(fc.integer({ min: 0, max: MAX_COUNTER }), fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, MAX_COUNTER));
const ballotIdArb = fc.tuple(memberIdArb, counterArb, fc.maxSafeNat()).map(([m, inc, seq]) => `${m}#${inc}.${seq % 1e15}`);
const instantArb = fc.oneof(fc.double({ min: 0, max: MAX_EPOCH_MS, noNaN: true }), fc.constantFrom(0, MAX_EPOCH_MS));
const durationArb = fc.oneof(fc.double({ min: 0, max: MAX_POLL_TIMEOUT_MS, noNaN: true }), fc.constantFrom(0, MAX_POLL_TIMEOUT_MS));
const bytesArb = fc.uint8Array({ maxLength: 48 });
const groupPartArb = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,11}$/), fc.constant(`_${'x'.repeat(99)}`));
const groupNameArb = fc.tuple(groupPartArb, groupPartArb).map(([a, b]) => `${a}.${b}`);
const tallyArb = fc
  .integer({ min: 0, max: MAX_MEMBER_IDS })
  .chain((voters) => fc.integer({ min: 0, max: voters }).chain((yes) => fc.integer({ min: 0, max: voters - yes }).map((no) => ({ yes, no, voters }))));
const timersArb = rec({
  heartbeat: timerArb,
  electionMin: timerArb,
  electionMax: timerArb,
  peerTimeout: timerArb,
  consensusTimeout: timerArb,
});
const kindArb = fc.constantFrom('majority' as const, 'consensus' as const);
const subjectArb = fc.constantFrom('value' as const, 'action' as const);

const BODY_ARBS: { [K in BodyType]: fc.Arbitrary<Extract<Body, { type: K }>> } = {
  memberHeartbeat: rec({
    type: fc.constant('memberHeartbeat' as const),
    timers: timersArb,
    minSize: memberCountArb,
    sentAt: instantArb,
    leader: memberIdOrNoneArb,
    endpoint: textArb,
  }),
  voteRequest: rec({
    type: fc.constant('voteRequest' as const),
    preVote: fc.boolean(),
    electionTerm: counterArb,
    configTerm: counterArb,
    configVersion: counterArb,
    proposedVoters: memberIdsArb,
    transfer: fc.boolean(),
  }),
  voteReply: rec({ type: fc.constant('voteReply' as const), preVote: fc.boolean(), electionTerm: counterArb, granted: fc.boolean() }),
  leaderHeartbeat: rec({
    type: fc.constant('leaderHeartbeat' as const),
    config: rec({ term: counterArb, version: counterArb, voters: memberIdsArb }),
    committedVersion: counterArb,
    endpoint: textArb,
    timers: timersArb,
    minSize: memberCountArb,
    sentAt: instantArb,
  }),
  heartbeatAck: rec({ type: fc.constant('heartbeatAck' as const), configTerm: counterArb, configVersion: counterArb, accepted: fc.boolean() }),
  leave: fc.constant({ type: 'leave' as const }),
  timeoutNow: fc.constant({ type: 'timeoutNow' as const }),
  data: rec({
    type: fc.constant('data' as const),
    channel: fc.constantFrom('group' as const, 'toLeader' as const, 'fromLeader' as const),
    payload: bytesArb,
    sentAt: instantArb,
  }),
  pollRequest: rec({
    type: fc.constant('pollRequest' as const),
    ballotId: ballotIdArb,
    topic: bytesArb,
    kind: kindArb,
    subject: subjectArb,
    when: instantArb,
    timeoutMs: durationArb,
  }),
  ballot: rec({
    type: fc.constant('ballot' as const),
    ballotId: ballotIdArb,
    topic: bytesArb,
    kind: kindArb,
    subject: subjectArb,
    when: instantArb,
    timeoutMs: durationArb,
    requester: memberIdArb,
    voters: memberIdsArb,
    remainingMs: durationArb,
  }),
  memberVote: rec({ type: fc.constant('memberVote' as const), ballotId: ballotIdArb, yes: fc.boolean() }),
  pollResult: rec({
    type: fc.constant('pollResult' as const),
    ballotId: ballotIdArb,
    requester: memberIdArb,
    outcome: fc.constantFrom('yes' as const, 'no' as const, 'timeout' as const),
    kind: kindArb,
    subject: subjectArb,
    when: instantArb,
    tally: tallyArb,
    reason: textArb,
  }),
};

const envelopeArb: fc.Arbitrary<Envelope> = rec({
  version: fc.constant(PROTOCOL_VERSION),
  group: groupNameArb,
  from: memberIdArb,
  incarnation: counterArb,
  term: counterArb,
  to: memberIdOrNoneArb,
  body: fc.oneof(...Object.values(BODY_ARBS)) as fc.Arbitrary<Body>,
});

t.test('property: every valid envelope round-trips', async (t) => {
  for (const [type, arb] of Object.entries(BODY_ARBS)) {
    fc.assert(
      fc.property(envelopeArb, arb as fc.Arbitrary<Body>, (env, body) => {
        const input = { ...env, body };
        return isDeepStrictEqual(decodeOk(encodeEnvelope(input)), input);
      }),
      { numRuns: 150 },
    );
    t.pass(type);
  }
});

t.test('property: group data takes the hand-written path, byte for byte what protobufjs writes', async (t) => {
  const dataArb = BODY_ARBS.data.chain((body) => fc.oneof(fc.constant(body), fc.uint8Array({ minLength: 100, maxLength: 5000 }).map((payload) => ({ ...body, payload }))));
  fc.assert(
    fc.property(envelopeArb, dataArb, (env, body) => {
      const input = { ...env, body };
      return Buffer.from(encodeEnvelope(input)).equals(Buffer.from(encodeGeneral(input)));
    }),
    { numRuns: 2000 },
  );
  // Bad values are refused the same way, with the same field named.
  const good = { version: PROTOCOL_VERSION, group: 'G.a', from: 'n1/c', incarnation: 1, term: 3, to: '', body: { type: 'data' as const, channel: 'group' as const, payload: new Uint8Array([1]), sentAt: 5 } };
  const bad: Array<Record<string, unknown>> = [
    { term: -1 }, { term: 1.5 }, { term: MAX_COUNTER + 1 }, { term: '3' }, { to: 'nobody' }, { to: 5 }, { version: 2 },
    { group: 'nogroup' }, { from: 'x' }, { incarnation: -2 }, { incarnation: 2 ** 60 },
    { body: { ...good.body, channel: 'sideways' } }, { body: { ...good.body, channel: 'toString' } }, { body: { ...good.body, payload: [1, 2] } },
    { body: { ...good.body, sentAt: NaN } }, { body: { ...good.body, sentAt: -1 } }, { body: { ...good.body, sentAt: MAX_EPOCH_MS * 2 } },
    { body: { ...good.body, payload: new Uint8Array(MAX_ENVELOPE_BYTES) } },
  ];
  for (const change of bad) {
    const env = { ...good, ...change } as unknown as Envelope;
    const general = (() => { try { encodeGeneral(env); return null; } catch (err) { return err as EncodeError; } })();
    t.ok(general instanceof EncodeError, `the general path refuses ${JSON.stringify(Object.keys(change))}`);
    t.throws(() => encodeEnvelope(env), { name: 'EncodeError', code: general?.code, field: general?.field }, `and so does encodeEnvelope (${general?.field})`);
  }
});

t.test('property: the hand-written data decoder agrees with the general one on any frame', async (t) => {
  const dataArb = BODY_ARBS.data.chain((body) => fc.oneof(fc.constant(body), fc.uint8Array({ minLength: 100, maxLength: 5000 }).map((payload) => ({ ...body, payload }))));
  const frameArb = fc.tuple(envelopeArb, dataArb).map(([env, body]) => Buffer.from(encodeEnvelope({ ...env, body })));
  const same = (frame: Uint8Array): boolean => {
    const fast = decodeEnvelope(frame);
    const general = decodeGeneral(frame);
    if (fast.ok !== general.ok) return false;
    if (!fast.ok || !general.ok) return fast.ok === general.ok && !fast.ok && !general.ok && fast.error.message === general.error.message;
    const a = fast.envelope.body as Extract<Body, { type: 'data' }>;
    const b = general.envelope.body as Extract<Body, { type: 'data' }>;
    return isDeepStrictEqual(fast.envelope, general.envelope) && (a.type !== 'data' || (a.payload.constructor === Uint8Array && b.payload.constructor === Uint8Array));
  };
  fc.assert(fc.property(frameArb, (frame) => same(frame)), { numRuns: 1000 });
  // Every byte changed, one at a time, for a few frames; then random changes, cuts and tails.
  for (const env of fc.sample(fc.tuple(envelopeArb, BODY_ARBS.data), 6)) {
    const frame = Buffer.from(encodeEnvelope({ ...env[0], body: env[1] }));
    for (let i = 0; i < frame.length; i++) {
      for (const v of [0, 1, 0x7f, 0x80, 0xff, frame[i]! ^ 1, frame[i]! + 1]) {
        const f = Buffer.from(frame);
        f[i] = v & 0xff;
        if (!same(f)) t.fail(`byte ${i} set to ${v} of ${frame.toString('hex')}`);
      }
    }
  }
  fc.assert(fc.property(frameArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (frame, at, byte) => { const f = Buffer.from(frame); f[at % f.length] = byte; return same(f); }), { numRuns: 3000 });
  fc.assert(fc.property(frameArb, fc.nat(), (frame, cut) => same(frame.subarray(0, cut % frame.length))), { numRuns: 1000 });
  fc.assert(fc.property(frameArb, fc.uint8Array({ minLength: 1, maxLength: 12 }), (frame, tail) => same(Buffer.concat([frame, tail]))), { numRuns: 1000 });
  // Non-ASCII and invalid UTF-8 in the names: the general path decides (and refuses).
  const f = Buffer.from(encodeEnvelope({ version: PROTOCOL_VERSION, group: 'G.a', from: 'n1/c', incarnation: 1, term: 3, to: '', body: { type: 'data', channel: 'group', payload: new Uint8Array([1]), sentAt: 5 } }));
  for (const b of [0xc3, 0xe9, 0x80, 0x00, 0x2f]) {
    const g = Buffer.from(f);
    g[4] = b; // the group's first character
    t.ok(same(g), `group byte 0x${b.toString(16)}`);
  }
  t.pass('fast and general decoders agree');
});

t.test('encoded frames are never overwritten by later ones (zeromq.js may still hold them)', async (t) => {
  const env = (i: number) => ({ version: PROTOCOL_VERSION, group: 'G.a', from: 'n1/c', incarnation: 1, term: 3, to: '', body: { type: 'data' as const, channel: 'group' as const, payload: new Uint8Array([100, 4000, 4100, 9000, 20000][i % 5]!).fill(i), sentAt: 5 } });
  const frames = Array.from({ length: 300 }, (_, i) => encodeEnvelope(env(i)));
  const copies = frames.map((f) => Buffer.from(f));
  for (let i = 0; i < 300; i++) encodeEnvelope(env(i + 1)); // more frames, past a slab or two
  frames.forEach((f, i) => { if (!copies[i]!.equals(f)) t.fail(`frame ${i} changed`); });
  t.pass('frames unchanged');
});

t.test('decoded payloads never share bytes with each other or the frame', async (t) => {
  const frames = Array.from({ length: 50 }, (_, i) => Buffer.from(encodeEnvelope({ version: PROTOCOL_VERSION, group: 'G.a', from: 'n1/c', incarnation: 1, term: 3, to: '', body: { type: 'data', channel: 'group', payload: new Uint8Array(i * 97 % 5000).fill(i), sentAt: 5 } })));
  const payloads = frames.map((f) => (decodeOk(f).body as Extract<Body, { type: 'data' }>).payload);
  for (const f of frames) f.fill(0xaa);
  payloads.forEach((p, i) => {
    if (!(p.constructor === Uint8Array && p.length === (i * 97) % 5000 && p.every((b) => b === i))) t.fail(`payload ${i} changed`);
    p.fill(0x55);
  });
  payloads.forEach((p, i) => { if (!p.every((b) => b === 0x55)) t.fail(`payload ${i} overwritten by another`); });
  t.pass('fresh and separate');
});

t.test('fuzz: decoding never throws', async (t) => {
  const frameArb = envelopeArb.map((env) => encodeEnvelope(env));
  t.test('random bytes', async (t) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => wellFormed(decodeEnvelope(bytes))), { numRuns: 3000 });
    t.pass();
  });
  t.test('every truncation of valid frames', async (t) => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        for (let n = 0; n < frame.length; n++) if (!wellFormed(decodeEnvelope(frame.subarray(0, n)))) return false;
        return true;
      }),
      { numRuns: 200 },
    );
    t.pass();
  });
  t.test('single-byte mutations of valid frames', async (t) => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (frame, at, byte) => {
        const mutated = Uint8Array.from(frame);
        mutated[at % mutated.length] = byte;
        return wellFormed(decodeEnvelope(mutated));
      }),
      { numRuns: 3000 },
    );
    t.pass();
  });
  t.test('trailing garbage and hostile shapes', async (t) => {
    fc.assert(
      fc.property(frameArb, fc.uint8Array({ minLength: 1, maxLength: 32 }), (frame, tail) => {
        const joined = new Uint8Array(frame.length + tail.length);
        joined.set(frame);
        joined.set(tail, frame.length);
        return wellFormed(decodeEnvelope(joined));
      }),
      { numRuns: 1000 },
    );
    // Deeply nested start-group tags make protobufjs recurse until the stack overflows.
    t.ok(wellFormed(decodeEnvelope(new Uint8Array(200_000).fill(0x3b))), 'nested groups');
    t.ok(wellFormed(decodeEnvelope(new Uint8Array([0x52, 0xff, 0xff, 0xff, 0xff, 0x0f]))), 'huge length prefix');
    for (const notBytes of [undefined, null, 'frame', 42, [8, 1], new ArrayBuffer(4)]) {
      const r = decodeEnvelope(notBytes as unknown as Uint8Array);
      t.equal(r.ok ? 'ok' : r.error.code, 'malformed', `input ${String(notBytes)}`);
    }
  });
});

// ---------------------------------------------------------------------------
// Rejections

const HEADER = { version: 1, group: 'Pumps.main', from: 'node1/Controller', incarnation: 1, term: 4, to: '' };
const GOOD_TIMERS = { heartbeat: 1000, electionMin: 1500, electionMax: 2000, peerTimeout: 3000, consensusTimeout: 1500 };

t.test('rejections', async (t) => {
  const expectRejected = (frame: Uint8Array, code: string, field: string | null, what: string): void => {
    const err = decodeErr(frame);
    t.equal(err.code, code, `${what}: code`);
    t.equal(err.field, field, `${what}: field`);
    if (field !== null) t.ok(err.message.includes(field), `${what}: message names the field`);
  };
  t.equal(decodeOk(raw({ ...HEADER, leave: {} })).body.type, 'leave', 'the crafting helper makes valid frames');

  expectRejected(raw({ ...HEADER, version: 2, leave: {} }), 'unsupported-version', 'version', 'version 2');
  expectRejected(raw({ ...HEADER, version: 0, leave: {} }), 'unsupported-version', 'version', 'version absent');
  expectRejected(raw({ ...HEADER, version: 2, group: '' }), 'unsupported-version', 'version', 'another version wins over other faults');

  expectRejected(raw({ ...HEADER }), 'malformed', 'body', 'no body');
  const twoBodies = new Uint8Array([...raw({ ...HEADER, leave: {} }), ...raw({ timeoutNow: {} })]);
  expectRejected(twoBodies, 'malformed', 'body', 'two bodies');

  expectRejected(raw({ ...HEADER, group: 'bad group!', leave: {} }), 'invalid-field', 'group', 'bad group name');
  expectRejected(raw({ ...HEADER, group: '', leave: {} }), 'invalid-field', 'group', 'empty group');
  expectRejected(raw({ ...HEADER, group: 'g'.repeat(201), leave: {} }), 'invalid-field', 'group', 'long group');
  expectRejected(raw({ ...HEADER, group: 'pumps', leave: {} }), 'invalid-field', 'group', 'group without an instance');
  expectRejected(raw({ ...HEADER, group: `A.${'b'.repeat(101)}`, leave: {} }), 'invalid-field', 'group', 'group part of 101');
  expectRejected(raw({ ...HEADER, group: 'a.b.c', leave: {} }), 'invalid-field', 'group', 'group of three parts');
  expectRejected(raw({ ...HEADER, from: '#zB', leave: {} }), 'invalid-field', 'from', 'from not <node>/<component>');
  expectRejected(raw({ ...HEADER, from: 'a/b/c', leave: {} }), 'invalid-field', 'from', 'from with two slashes');
  expectRejected(raw({ ...HEADER, from: 'ñodo/x', leave: {} }), 'invalid-field', 'from', 'non-ASCII node');
  expectRejected(raw({ ...HEADER, from: `${'n'.repeat(101)}/c`, leave: {} }), 'invalid-field', 'from', 'node of 101');
  expectRejected(raw({ ...HEADER, to: 'node2', leave: {} }), 'invalid-field', 'to', 'to without a component');
  expectRejected(raw({ ...HEADER, from: '', leave: {} }), 'invalid-field', 'from', 'empty from');
  expectRejected(raw({ ...HEADER, from: 'a\nb', leave: {} }), 'invalid-field', 'from', 'control character in from');
  expectRejected(raw({ ...HEADER, from: 'f'.repeat(201), leave: {} }), 'invalid-field', 'from', 'long from');
  expectRejected(raw({ ...HEADER, to: 'x\u0000', leave: {} }), 'invalid-field', 'to', 'NUL in to');

  const big = LongClass.fromString('9007199254740992', true);
  const max = LongClass.fromString('18446744073709551615', true);
  expectRejected(raw({ ...HEADER, term: big, leave: {} }), 'invalid-field', 'term', 'term 2^53');
  expectRejected(raw({ ...HEADER, incarnation: max, leave: {} }), 'invalid-field', 'incarnation', 'incarnation 2^64-1');
  expectRejected(raw({ ...HEADER, term: LongClass.fromNumber(Number.MAX_SAFE_INTEGER, true), leave: {} }), 'invalid-field', 'term', 'term 2^53-1');
  t.equal(decodeOk(raw({ ...HEADER, term: LongClass.fromNumber(MAX_COUNTER, true), leave: {} })).term, MAX_COUNTER);

  expectRejected(raw({ ...HEADER, data: { channel: 0, payload: new Uint8Array(1), sentAt: 1 } }), 'invalid-field', 'body.channel', 'UNSPECIFIED channel');
  expectRejected(raw({ ...HEADER, data: { channel: 9, payload: new Uint8Array(1), sentAt: 1 } }), 'invalid-field', 'body.channel', 'unknown channel');
  const spec = { ballotId: 'r/x#1.1', topic: new Uint8Array(0), kind: 1, subject: 1, when: 0, timeoutMs: 100 };
  expectRejected(raw({ ...HEADER, pollRequest: { ...spec, kind: 0 } }), 'invalid-field', 'body.kind', 'UNSPECIFIED kind');
  expectRejected(raw({ ...HEADER, pollRequest: { ...spec, subject: 0 } }), 'invalid-field', 'body.subject', 'UNSPECIFIED subject');
  expectRejected(raw({ ...HEADER, pollRequest: { ...spec, ballotId: '' } }), 'invalid-field', 'body.ballotId', 'empty ballot id');
  for (const bad of ['b-1', 'r/x#1', 'r/x#1.', 'r/x#01.1', 'r/x#1.1.1', 'r#1.1', 'r/x#-1.1', 'r/x#1.1234567890123456', 'r/x#1e3.1']) {
    expectRejected(raw({ ...HEADER, pollRequest: { ...spec, ballotId: bad } }), 'invalid-field', 'body.ballotId', `ballot id ${bad}`);
  }
  expectRejected(raw({ ...HEADER, pollRequest: { ...spec, timeoutMs: -1 } }), 'invalid-field', 'body.timeoutMs', 'negative timeout');
  expectRejected(raw({ ...HEADER, pollRequest: { ...spec, timeoutMs: NaN } }), 'invalid-field', 'body.timeoutMs', 'NaN timeout');
  expectRejected(raw({ ...HEADER, pollRequest: { ...spec, when: Infinity } }), 'invalid-field', 'body.when', 'infinite when');
  const ballot = { ...spec, requester: 'r/x', voters: ['a/b'], remainingMs: 5 };
  expectRejected(raw({ ...HEADER, ballot: { ...ballot, remainingMs: -0.5 } }), 'invalid-field', 'body.remainingMs', 'negative remainingMs');
  expectRejected(raw({ ...HEADER, ballot: { ...ballot, voters: ['a/b', ''] } }), 'invalid-field', 'body.voters[1]', 'empty voter id');
  expectRejected(raw({ ...HEADER, ballot: { ...ballot, requester: '' } }), 'invalid-field', 'body.requester', 'empty requester');
  const result = { ballotId: 'r/x#1.1', requester: 'r/x', outcome: 1, kind: 1, subject: 1, when: 0, tally: { yes: 1, no: 0, voters: 1 }, reason: '' };
  expectRejected(raw({ ...HEADER, pollResult: { ...result, outcome: 0 } }), 'invalid-field', 'body.outcome', 'UNSPECIFIED outcome');
  expectRejected(raw({ ...HEADER, pollResult: { ...result, tally: null } }), 'invalid-field', 'body.tally', 'missing tally');

  const hb = { timers: GOOD_TIMERS, minSize: 1, sentAt: 1, leader: '', endpoint: '' };
  expectRejected(raw({ ...HEADER, memberHeartbeat: { ...hb, timers: { ...GOOD_TIMERS, heartbeat: 0 } } }), 'invalid-field', 'body.timers.heartbeat', 'zero timer');
  expectRejected(raw({ ...HEADER, memberHeartbeat: { ...hb, timers: null } }), 'invalid-field', 'body.timers', 'missing timers');
  expectRejected(raw({ ...HEADER, memberHeartbeat: { ...hb, sentAt: NaN } }), 'invalid-field', 'body.sentAt', 'NaN sentAt');
  expectRejected(raw({ ...HEADER, memberHeartbeat: { ...hb, leader: '#zB' } }), 'invalid-field', 'body.leader', 'leader not a member id');
  t.equal((decodeOk(raw({ ...HEADER, memberHeartbeat: { ...hb, leader: '' } })).body as { leader: string }).leader, '', "leader may be ''");
  const tooMany = Array.from({ length: 1025 }, (_, i) => `n${i}/c`);
  const lhb = { config: { term: 1, version: 1, voters: tooMany }, committedVersion: 1, endpoint: '', timers: GOOD_TIMERS, minSize: 1, sentAt: 1 };
  expectRejected(raw({ ...HEADER, leaderHeartbeat: lhb }), 'invalid-field', 'body.config.voters', '1025 voters');
  const err = decodeErr(raw({ ...HEADER, leaderHeartbeat: lhb }));
  t.match(err.message, /^leaderHeartbeat: /, 'body errors name the body type');
  t.equal(err.name, 'DecodeError');
  t.ok(err instanceof Error);

  const oversize = decodeErr(new Uint8Array(MAX_ENVELOPE_BYTES + 1));
  t.equal(oversize.code, 'too-large');
  t.equal(oversize.field, null);
  t.not(decodeErr(new Uint8Array(MAX_ENVELOPE_BYTES)).code, 'too-large', 'a frame of exactly the limit is parsed');
});

t.test('decoding works when protobufjs yields plain numbers for uint64 (no long package)', async (t) => {
  const frameBig = raw({ ...HEADER, term: LongClass.fromString('9007199254740993', true), leave: {} });
  const frameMax = raw({ ...HEADER, term: MAX_COUNTER, leave: {} });
  const frameOver = raw({ ...HEADER, term: MAX_COUNTER + 1, leave: {} });
  const Long = protobuf.util.Long;
  try {
    protobuf.util.Long = null as unknown as typeof Long;
    protobuf.configure();
    t.equal(typeof (RawEnvelope.decode(frameMax) as unknown as { term: unknown }).term, 'number', 'protobufjs now yields numbers');
    t.equal(decodeErr(frameBig).field, 'term');
    t.equal(decodeErr(frameOver).field, 'term');
    t.equal(decodeOk(frameMax).term, MAX_COUNTER);
    t.equal(decodeOk(raw({ ...HEADER, term: 0, leave: {} })).term, 0);
  } finally {
    protobuf.util.Long = Long;
    protobuf.configure();
  }
  t.equal(decodeOk(frameMax).term, MAX_COUNTER, 'restored');
});

t.test('encoding refuses envelopes that break the wire rules', async (t) => {
  const ok = envelope(BODY_EXAMPLES.memberHeartbeat[0]!);
  const cases: Array<[string, unknown, string, string | null]> = [
    ['version 2', { ...ok, version: 2 }, 'unsupported-version', 'version'],
    ['bad group', { ...ok, group: 'a b' }, 'invalid-field', 'group'],
    ['negative term', { ...ok, term: -1 }, 'invalid-field', 'term'],
    ['fractional incarnation', { ...ok, incarnation: 1.5 }, 'invalid-field', 'incarnation'],
    ['unsafe term', { ...ok, term: 2 ** 53 }, 'invalid-field', 'term'],
    ['negative timer', { ...ok, body: { ...ok.body, timers: { ...TIMERS, heartbeat: -1 } } }, 'invalid-field', 'body.timers.heartbeat'],
    ['NaN timer', { ...ok, body: { ...ok.body, timers: { ...TIMERS, peerTimeout: NaN } } }, 'invalid-field', 'body.timers.peerTimeout'],
    ['fractional timer', { ...ok, body: { ...ok.body, timers: { ...TIMERS, electionMin: 1.5 } } }, 'invalid-field', 'body.timers.electionMin'],
    ['timer over uint32', { ...ok, body: { ...ok.body, timers: { ...TIMERS, electionMax: 2 ** 32 } } }, 'invalid-field', 'body.timers.electionMax'],
    ['missing field', { ...ok, body: { ...ok.body, sentAt: undefined } }, 'invalid-field', 'body.sentAt'],
    ['unknown body', { ...ok, body: { type: 'gossip' } }, 'invalid-field', 'body.type'],
    ['no body', { ...ok, body: undefined }, 'invalid-field', 'body.type'],
    ['bad enum', envelope({ ...BODY_EXAMPLES.pollRequest[0]!, kind: 'unanimous' as 'majority' }), 'invalid-field', 'body.kind'],
    ['payload not bytes', envelope({ ...BODY_EXAMPLES.data[0]!, payload: [1, 2] as unknown as Uint8Array }), 'invalid-field', 'body.payload'],
    ['lone surrogate', { ...ok, from: 'a\uD800' }, 'invalid-field', 'from'],
    ['too large', envelope({ ...BODY_EXAMPLES.data[0]!, payload: new Uint8Array(MAX_ENVELOPE_BYTES) }), 'too-large', null],
  ];
  for (const [what, env, code, field] of cases) {
    t.throws(() => encodeEnvelope(env as Envelope), { name: 'EncodeError', code, field }, what);
  }
  t.throws(() => encodeEnvelope(null as unknown as Envelope), EncodeError, 'null envelope');
});

// ---------------------------------------------------------------------------
// Numeric bounds (agent/core/limits.ts), at their edges, in both directions

type Path = ReadonlyArray<string>;

/** The model value at `path` ('body' steps into the body). */
function getAt(obj: unknown, path: Path): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
}

/** A copy of `env` with `value` at `path`. */
function withValue(env: Envelope, path: Path, value: unknown): Envelope {
  const copy = structuredClone(env) as unknown as Record<string, unknown>;
  const parent = getAt(copy, path.slice(0, -1)) as Record<string, unknown>;
  parent[path[path.length - 1]!] = value;
  return copy as unknown as Envelope;
}

/** `env` encoded, then re-encoded by plain protobufjs with `value` (a number or a Long) at `path`: a frame our encoder would refuse to build. */
function frameWithValue(env: Envelope, path: Path, value: unknown): Uint8Array {
  const wire = RawEnvelope.toObject(RawEnvelope.decode(encodeEnvelope(env)), { longs: Number, defaults: true }) as Record<string, unknown>;
  const wirePath = path[0] === 'body' ? [env.body.type, ...path.slice(1)] : path;
  const parent = getAt(wire, wirePath.slice(0, -1)) as Record<string, unknown>;
  parent[wirePath[wirePath.length - 1]!] = value;
  return raw(wire);
}

interface Bound {
  kind: 'counter' | 'timer' | 'count' | 'instant' | 'duration';
  min: number;
  max: number;
}
const COUNTER: Bound = { kind: 'counter', min: 0, max: MAX_COUNTER };
const TIMER: Bound = { kind: 'timer', min: 1, max: MAX_TIMER_MS };
const COUNT: Bound = { kind: 'count', min: 0, max: MAX_MEMBER_IDS };
const INSTANT: Bound = { kind: 'instant', min: 0, max: MAX_EPOCH_MS };
const DURATION: Bound = { kind: 'duration', min: 0, max: MAX_POLL_TIMEOUT_MS };

/** The bound of a numeric model field, by its name (the names are unambiguous across bodies). */
const BOUND_OF: Record<string, Bound> = {
  incarnation: COUNTER,
  term: COUNTER,
  electionTerm: COUNTER,
  configTerm: COUNTER,
  configVersion: COUNTER,
  version: COUNTER, // config.version; the envelope's protocol version is not a bound
  committedVersion: COUNTER,
  heartbeat: TIMER,
  electionMin: TIMER,
  electionMax: TIMER,
  peerTimeout: TIMER,
  consensusTimeout: TIMER,
  minSize: COUNT,
  yes: COUNT,
  no: COUNT,
  voters: COUNT,
  sentAt: INSTANT,
  when: INSTANT,
  timeoutMs: DURATION,
  remainingMs: DURATION,
};

/** Every numeric leaf of an envelope, as a path, but the protocol version. */
function numericPaths(obj: unknown, prefix: Path = []): Path[] {
  if (obj instanceof Uint8Array || typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [];
  return Object.entries(obj).flatMap(([k, v]): Path[] => {
    const path = [...prefix, k];
    if (typeof v === 'number') return prefix.length === 0 && k === 'version' ? [] : [path];
    return numericPaths(v, path);
  });
}

const LONG_MAX = LongClass.fromString('18446744073709551615', true);
/** Values outside `b` that its wire type can carry (so a hostile frame may hold them). */
function wireOutOfBound(b: Bound): unknown[] {
  if (b.kind === 'counter') return [b.max + 1, 2 ** 32 * 2 ** 17, Number.MAX_SAFE_INTEGER, LONG_MAX];
  if (b.kind === 'timer' || b.kind === 'count') return [...(b.min > 0 ? [b.min - 1] : []), b.max + 1, 0xffff_ffff];
  return [-1, -Number.MIN_VALUE, b.max + 1, b.max * 2, Number.MAX_VALUE, NaN, Infinity, -Infinity];
}
/** Values outside `b` a (buggy) caller may hand the encoder. */
function modelOutOfBound(b: Bound): unknown[] {
  const numbers = wireOutOfBound(b).filter((v) => typeof v === 'number');
  if (b.kind === 'instant' || b.kind === 'duration') return [...numbers, '5', null];
  return [...numbers, -1, 0.5, b.max - 0.5, NaN, Infinity, 2 ** 53, '5', null];
}

/** One envelope per body type that has numbers (the first example of each). */
const BOUND_CASES: Envelope[] = Object.values(BODY_EXAMPLES).map((examples) => envelope(examples[0]!));

t.test('bounds: every numeric field accepts its max and refuses max+1, naming the field, in both directions', async (t) => {
  let checked = 0;
  for (const env of BOUND_CASES) {
    for (const path of numericPaths(env)) {
      const leaf = path[path.length - 1]!;
      const b = BOUND_OF[leaf];
      if (b === undefined) {
        t.fail(`no bound for ${path.join('.')}`);
        continue;
      }
      const what = `${env.body.type} ${path.join('.')}`;
      const field = path.join('.');
      // A tally's yes/no can reach the max only with as many voters.
      const base = path[1] === 'tally' ? withValue(env, ['body', 'tally'], { yes: 0, no: 0, voters: MAX_MEMBER_IDS }) : env;
      for (const ok of [b.min, b.max]) {
        const good = withValue(base, path, ok);
        t.equal(getAt(decodeOk(encodeEnvelope(good)), path), ok, `${what} = ${ok}: encodes and decodes`);
        t.equal(getAt(decodeOk(frameWithValue(base, path, ok)), path), ok, `${what} = ${ok}: a crafted frame decodes`);
      }
      const over = b.max + 1;
      t.throws(() => encodeEnvelope(withValue(base, path, over)), { name: 'EncodeError', code: 'invalid-field', field }, `${what} = max+1: encode refuses`);
      const err = decodeErr(frameWithValue(base, path, over));
      t.equal(err.field, field, `${what} = max+1: decode refuses, naming the field`);
      t.match(err.message, `${field} must be`, `${what}: the message names the field`);
      t.match(err.message, String(b.max), `${what}: the message gives the bound`);
      if (b.min > 0) {
        t.equal(decodeErr(frameWithValue(base, path, b.min - 1)).field, field, `${what} = min-1: decode refuses`);
        t.throws(() => encodeEnvelope(withValue(base, path, b.min - 1)), { name: 'EncodeError', field }, `${what} = min-1: encode refuses`);
      }
      checked++;
    }
  }
  t.ok(checked >= 35, `${checked} numeric fields checked`);
});

t.test('bounds: a tally with yes + no above voters is refused', async (t) => {
  const body = BODY_EXAMPLES.pollResult[0]!;
  const bad = envelope({ ...body, tally: { yes: 2, no: 2, voters: 3 } });
  t.throws(() => encodeEnvelope(bad), { name: 'EncodeError', code: 'invalid-field', field: 'body.tally' });
  const err = decodeErr(frameWithValue(envelope(body), ['body', 'tally'], { yes: 2, no: 2, voters: 3 }));
  t.equal(err.field, 'body.tally');
  t.match(err.message, 'body.tally must have yes + no <= voters, got yes 2, no 2, voters 3');
  t.ok(decodeOk(encodeEnvelope(envelope({ ...body, tally: { yes: 2, no: 1, voters: 3 } }))), 'yes + no = voters is fine');
});

t.test('the field bug: a HeartbeatAck of term 2^53-1 is refused; beyond MAX_COUNTER the encoder refuses cleanly', async (t) => {
  const ack = { configTerm: 4, configVersion: 9, accepted: false };
  const frame = raw({ ...HEADER, to: 'node2/Controller', term: LongClass.fromNumber(Number.MAX_SAFE_INTEGER, true), heartbeatAck: ack });
  const err = decodeErr(frame);
  t.equal(err.code, 'invalid-field');
  t.equal(err.field, 'term');
  t.equal(err.message, `term must be a whole number in 0..281474976710656, got 9007199254740991`);
  const inBody = decodeErr(raw({ ...HEADER, heartbeatAck: { ...ack, configTerm: LongClass.fromNumber(Number.MAX_SAFE_INTEGER, true) } }));
  t.equal(inBody.field, 'body.configTerm');
  t.equal(inBody.message, 'heartbeatAck: body.configTerm must be a whole number in 0..281474976710656, got 9007199254740991');
  // Whatever term a member adopts from the wire, its next campaign's term is a safe integer...
  t.ok(Number.isSafeInteger(MAX_COUNTER + 1));
  t.equal(decodeOk(encodeEnvelope(envelope({ type: 'heartbeatAck', ...ack }, { term: MAX_COUNTER - 1 }))).term + 1, MAX_COUNTER, "term+1 of MAX_COUNTER-1 is the largest encodable term");
  const next = envelope({ type: 'voteRequest', preVote: false, electionTerm: MAX_COUNTER + 1, configTerm: 0, configVersion: 0, proposedVoters: [], transfer: false });
  // ...that the codec refuses cleanly (EncodeError naming the field), never a crash deep in protobufjs.
  t.throws(() => encodeEnvelope(next), { name: 'EncodeError', field: 'body.electionTerm' });
});

t.test('property: any out-of-bound numeric field is refused by encode and decode, naming the field', async (t) => {
  fc.assert(
    fc.property(envelopeArb, fc.nat(), fc.nat(), fc.nat(), (env, pickPath, pickWire, pickModel) => {
      const paths = numericPaths(env);
      if (paths.length === 0) return true;
      const path = paths[pickPath % paths.length]!;
      const b = BOUND_OF[path[path.length - 1]!]!;
      const field = path.join('.');
      const wireValues = wireOutOfBound(b);
      const modelValues = modelOutOfBound(b);
      const wireValue = wireValues[pickWire % wireValues.length];
      const modelValue = modelValues[pickModel % modelValues.length];
      const r = decodeEnvelope(frameWithValue(env, path, wireValue));
      if (r.ok || r.error.field !== field || r.error.code !== 'invalid-field') return false;
      try {
        encodeEnvelope(withValue(env, path, modelValue));
        return false;
      } catch (err) {
        return err instanceof EncodeError && err.field === field && err.code === 'invalid-field';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------
// Name forms (agent/core/names.ts) on the wire

t.test('names: the decoder and encoder hold ids to their documented forms', async (t) => {
  const hb = envelope(BODY_EXAMPLES.memberHeartbeat[0]!);
  const cases: Array<[string, Path, string]> = [
    ['group', ['group'], 'Sensors.1x'],
    ['group', ['group'], 'pumps'],
    ['from', ['from'], '#zB'],
    ['from', ['from'], 'node1'],
    ['to', ['to'], 'node1/'],
    ['body.leader', ['body', 'leader'], '#zB'],
  ];
  for (const [field, path, value] of cases) {
    const err = decodeErr(frameWithValue(hb, path, value));
    t.equal(err.field, field, `${value} in ${field}: decode refuses`);
    t.throws(() => encodeEnvelope(withValue(hb, path, value)), { name: 'EncodeError', field }, `${value} in ${field}: encode refuses`);
  }
  const group = decodeErr(frameWithValue(hb, ['group'], 'Sensors.1x'));
  t.match(group.message, 'each part must start with a letter or _ and use [A-Za-z0-9_-]');
  t.match(group.message, 'the instance "1x" starts with "1"', 'says which part broke the rule');
  t.equal(decodeOk(encodeEnvelope(withValue(hb, ['to'], ''))).to, '', "to may be ''");
  const ballot = envelope(BODY_EXAMPLES.ballot[0]!);
  for (const [path, value] of [
    [['body', 'ballotId'], 'node1/Controller#12'],
    [['body', 'requester'], 'Controller'],
    [['body', 'voters', '1'], 'x'],
  ] as const) {
    const field = path.join('.').replace('.1', '[1]');
    t.equal(decodeErr(frameWithValue(ballot, path, value)).field, field, `${value} in ${field}: decode refuses`);
  }
});
