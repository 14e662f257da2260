/**
 * Golden wire frames (test/golden/): the checked-in bytes of one envelope per
 * body type. Unlike the round trips of codec.test.ts, these pin the wire
 * itself, so renumbering a field in both cohort.proto and schema.ts, or
 * changing its type, fails here. Also: how the decoder meets frames from a
 * newer (or older) agent. See docs/wire.md.
 *
 * Regenerate the frames, only for an intended wire change, with
 *
 *   GOLDEN_REWRITE=1 npx tap test/unit/golden.test.ts
 */
import t, { type Test } from 'tap';
import protobuf from 'protobufjs';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { BodyType, Envelope } from '../../agent/core/messages.js';
import { decodeEnvelope, encodeEnvelope, type DecodeError } from '../../proto/codec.js';
import { GOLDEN_ENVELOPES } from '../golden/envelopes.js';
import { decodeErr, decodeOk } from './decode-helpers.js';

const REWRITE = process.env['GOLDEN_REWRITE'] === '1';
const REWRITE_HINT = 'GOLDEN_REWRITE=1 npx tap test/unit/golden.test.ts';
const FRAMES_DIR = new URL('../golden/frames/', import.meta.url);
const BODY_TYPES = Object.keys(GOLDEN_ENVELOPES) as BodyType[];

const frameUrl = (type: BodyType): URL => new URL(`${type}.hex`, FRAMES_DIR);
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.trim(), 'hex'));
const concat = (...parts: ArrayLike<number>[]): Uint8Array => new Uint8Array(parts.flatMap((p) => Array.from(p)));

/** The checked-in frame of `type`, or null (after failing the test with how to create it). */
function readFrame(t: Test, type: BodyType): Uint8Array | null {
  const url = frameUrl(type);
  if (!existsSync(url)) {
    t.fail(`missing golden frame test/golden/frames/${type}.hex: create it with \`${REWRITE_HINT}\``);
    return null;
  }
  const hex = readFileSync(url, 'utf8').trim();
  if (!/^([0-9a-f]{2})+$/.test(hex)) {
    t.fail(`test/golden/frames/${type}.hex is not lowercase hex bytes: regenerate it with \`${REWRITE_HINT}\``);
    return null;
  }
  return fromHex(hex);
}


/** The frame of `type`: the checked-in one, or (when it is missing) a fresh encoding, so the evolution tests still run. */
function goldenFrame(type: BodyType): Uint8Array {
  return existsSync(frameUrl(type)) ? fromHex(readFileSync(frameUrl(type), 'utf8')) : encodeEnvelope(GOLDEN_ENVELOPES[type]);
}

/** A protobuf varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
/** A protobuf tag: field number and wire type (0 varint, 2 length-delimited). */
const tag = (field: number, wireType: 0 | 2): number[] => varint(field * 8 + wireType);
const stringField = (field: number, s: string): number[] => {
  const utf8 = Array.from(Buffer.from(s, 'utf8'));
  return [...tag(field, 2), ...varint(utf8.length), ...utf8];
};

// ---------------------------------------------------------------------------
// Golden frames

t.test('golden envelopes: one per body type, every field non-default', async (t) => {
  const Envelope = protobuf.parse(readFileSync(new URL('../../proto/cohort.proto', import.meta.url), 'utf8')).root.lookupType('cohort.Envelope');
  t.same(BODY_TYPES.slice().sort(), Object.keys(Envelope.oneofs['body']!.oneof.reduce((o, k) => ({ ...o, [k]: 1 }), {})).sort(), 'a golden envelope for every body of the oneof');
  // Every field of every message, as seen on the wire (no defaults filled in): a field left at
  // its proto3 default would not be written, so its number would go unchecked.
  const seen = new Set<string>();
  const walk = (type: protobuf.Type, msg: Record<string, unknown>): void => {
    for (const field of type.fieldsArray) {
      const v = msg[field.name];
      if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
      seen.add(`${type.name}.${field.name}`);
      const sub = field.resolve().resolvedType;
      // A repeated message (PollResult.refusals): every element is on the wire.
      if (sub instanceof protobuf.Type) for (const m of Array.isArray(v) ? v : [v]) walk(sub, m as Record<string, unknown>);
    }
  };
  for (const type of BODY_TYPES) {
    const env = GOLDEN_ENVELOPES[type];
    t.equal(env.body.type, type, `${type}: the envelope carries a ${type} body`);
    t.same(decodeOk(encodeEnvelope(env)), env, `${type}: valid (encodes and decodes to itself)`);
    walk(Envelope, Envelope.toObject(Envelope.decode(encodeEnvelope(env)), { defaults: false }));
  }
  const all: string[] = [];
  const collect = (type: protobuf.Type, done: Set<string>): void => {
    if (done.has(type.name)) return;
    done.add(type.name);
    for (const field of type.fieldsArray) {
      all.push(`${type.name}.${field.name}`);
      const sub = field.resolve().resolvedType;
      if (sub instanceof protobuf.Type) collect(sub, done);
    }
  };
  collect(Envelope, new Set());
  t.same(all.filter((f) => !seen.has(f)), [], 'every field of cohort.proto is on the wire of some golden frame');
});

t.test(REWRITE ? 'golden frames: GOLDEN_REWRITE=1, rewriting test/golden/frames/' : 'golden frames: decode to the golden envelopes and re-encode to the same bytes', async (t) => {
  for (const type of BODY_TYPES) {
    const env = GOLDEN_ENVELOPES[type];
    if (REWRITE) {
      writeFileSync(frameUrl(type), `${toHex(encodeEnvelope(env))}\n`);
      t.pass(`rewrote test/golden/frames/${type}.hex (GOLDEN_REWRITE=1): review the diff before committing`);
      continue;
    }
    const frame = readFrame(t, type);
    if (frame === null) continue;
    const r = decodeEnvelope(frame);
    if (!r.ok) {
      t.fail(`${type}: the checked-in frame no longer decodes: ${r.error.code} ${r.error.message}`);
      continue;
    }
    t.same(r.envelope, env, `${type}: the checked-in frame decodes to the golden envelope`);
    t.equal(toHex(encodeEnvelope(env)), toHex(frame), `${type}: the golden envelope encodes to the checked-in bytes (a wire change? see docs/wire.md)`);
  }
  if (REWRITE) t.comment(`GOLDEN_REWRITE=1: rewrote ${BODY_TYPES.length} frames in test/golden/frames/; run again without it to check them`);
});

// ---------------------------------------------------------------------------
// Evolution: frames from agents that speak another version of the wire

t.test('evolution: a frame of protocol version 2 is refused as unsupported-version', async (t) => {
  const frame = goldenFrame('memberHeartbeat');
  // Envelope.version is field 1, a varint: the frame starts with tag 0x08 and the value 0x01.
  t.same([frame[0], frame[1]], [0x08, 0x01], 'the frame starts with version = 1');
  const v2 = frame.slice();
  v2[1] = 0x02;
  const err = decodeErr(v2);
  t.equal(err.code, 'unsupported-version');
  t.equal(err.field, 'version');
  t.match(err.message, 'got 2');
  // The version is checked first: a version-2 frame whose body this agent cannot read is reported as such.
  const unknownBody = concat([...tag(1, 0), 2], stringField(2, 'Pumps.main'), stringField(3, 'node1/Controller'), [...tag(99, 2), 0]);
  t.equal(decodeErr(unknownBody).code, 'unsupported-version', 'also with a body this agent does not know');
});

t.test('evolution: a body of an unknown oneof field number is refused as malformed', async (t) => {
  // Hand-written: version 1, group, from, then field 99 (length-delimited, 3 bytes of a
  // sub-message holding field 1 = varint 5): a body type added by a newer agent.
  const frame = concat(
    [...tag(1, 0), 1],
    stringField(2, 'Pumps.main'),
    stringField(3, 'node1/Controller'),
    [...tag(99, 2), 2, ...tag(1, 0), 5],
  );
  t.same(Array.from(frame.slice(-5)), [0x9a, 0x06, 0x02, 0x08, 0x05], 'field 99 is tag 0x9a 0x06');
  const err = decodeErr(frame);
  t.equal(err.code, 'malformed');
  t.equal(err.field, 'body');
  t.match(err.message, /body .*missing.*(not know|unknown)/, 'the message says the body is missing or unknown');
  // Without the unknown field, the same header is refused the same way: the unknown body is simply not seen.
  t.equal(decodeErr(frame.slice(0, -5)).message, err.message);
});

t.test('evolution: unknown fields in a known frame are skipped', async (t) => {
  const hb = goldenFrame('memberHeartbeat');
  // Envelope-level: field 50, varint 42 (tag (50 << 3) | 0 = 400 = 0x90 0x03), appended.
  const extra = concat(hb, [...tag(50, 0), 42]);
  t.same(Array.from(extra.slice(-3)), [0x90, 0x03, 0x2a]);
  t.same(decodeOk(extra), GOLDEN_ENVELOPES.memberHeartbeat, 'an unknown envelope field: decodes to the same envelope');
  // A length-delimited unknown field (number 7, kept free for future header fields) too.
  t.same(decodeOk(concat(hb, stringField(7, 'future'))), GOLDEN_ENVELOPES.memberHeartbeat, 'an unknown string header field in 7..9');
  // Body-level: Leave is written last, as field 16 (tag 0x82 0x01) with length 0; give it an
  // unknown field 1 = varint 5 inside.
  const leave = goldenFrame('leave');
  t.same(Array.from(leave.slice(-3)), [0x82, 0x01, 0x00], 'the leave frame ends with an empty body, field 16');
  const leaveExtra = concat(leave.slice(0, -1), [2, ...tag(1, 0), 5]);
  t.same(decodeOk(leaveExtra), GOLDEN_ENVELOPES.leave, 'an unknown field inside a known body: decodes to the same envelope');
});

t.test('evolution: frames from agents before MemberVote.reason and PollResult.refusals/topic decode without them', async (t) => {
  // The checked-in frames as they were before the two optional fields were added.
  const oldVote = fromHex('0801120a50756d70732e6d61696e1a106e6f6465312f436f6e74726f6c6c65722081a4b3a9fc31280732106e6f6465322f436f6e74726f6c6c6572a201240a206e6f6465322f436f6e74726f6c6c657223313731373030303030303030322e341001');
  const { reason: _r, ...vote } = GOLDEN_ENVELOPES.memberVote.body;
  t.same(decodeOk(oldVote), { ...GOLDEN_ENVELOPES.memberVote, body: vote });
  t.notOk('reason' in (decodeOk(oldVote).body as object), 'no reason key at all, not an empty one');
  const oldResult = fromHex('0801120a50756d70732e6d61696e1a106e6f6465312f436f6e74726f6c6c65722081a4b3a9fc31280732106e6f6465322f436f6e74726f6c6c6572aa01600a206e6f6465322f436f6e74726f6c6c657223313731373030303030303030322e3412106e6f6465322f436f6e74726f6c6c657218032002280231000073d452fc78423a0608011001180342136c6561646572207374657070656420646f776e');
  const { refusals: _f, topic: _tp, ...result } = GOLDEN_ENVELOPES.pollResult.body;
  t.same(decodeOk(oldResult), { ...GOLDEN_ENVELOPES.pollResult, body: result });
  // Without the new fields an envelope encodes to exactly the old bytes (nothing written for "not given").
  t.equal(toHex(encodeEnvelope({ ...GOLDEN_ENVELOPES.memberVote, body: vote })), toHex(oldVote));
  t.equal(toHex(encodeEnvelope({ ...GOLDEN_ENVELOPES.pollResult, body: result })), toHex(oldResult));
});
