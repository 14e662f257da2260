/**
 * The wire codec: {@link Envelope} (agent/core/messages.ts) ⇄ protobuf bytes
 * (proto/cohort.proto).
 *
 * protobufjs does the byte-level work; this module adds what proto3 cannot say
 * (field ranges, string shapes, list bounds, enum UNSPECIFIED) and applies the
 * same rules in both directions: a frame we encode always decodes, and a frame
 * we decode always re-encodes to an equal envelope. Decoding faces untrusted
 * input and never throws; encoding a bad envelope is a caller bug and throws
 * {@link EncodeError} at once rather than letting every receiver drop the frame.
 *
 * Each model field has a {@link FieldCodec}; the tables below are checked
 * against the schema when the module loads, so a field or enum value added on
 * one side only fails loudly instead of silently vanishing on the wire.
 */
import protobuf from 'protobufjs/light.js';
import {
  PROTOCOL_VERSION,
  type Body,
  type BodyType,
  type Envelope,
  type GroupData,
  type PollKind,
  type PollOutcome,
  type PollSubject,
  type Refusal,
  type Tally,
  type VoterConfig,
} from '../agent/core/messages.js';
import type { TimerSettings } from '../agent/core/timers.js';
import {
  MAX_COUNTER,
  MAX_ENVELOPE_BYTES,
  MAX_EPOCH_MS,
  MAX_MEMBER_IDS,
  MAX_POLL_TIMEOUT_MS,
  MAX_TEXT_LENGTH,
  MAX_TIMER_MS,
  MIN_TIMER_MS,
} from '../agent/core/limits.js';
import { ballotIdProblem, groupNameProblem, memberIdProblem } from '../agent/core/names.js';
import { COHORT_SCHEMA } from './schema.js';

export { MAX_ENVELOPE_BYTES };

export type CodecErrorCode = 'malformed' | 'unsupported-version' | 'invalid-field' | 'too-large';

/** Why a frame was refused. `field` is the model path of the bad field (`group`, `body.timers.heartbeat`), null for whole-frame errors. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly code: CodecErrorCode,
    readonly field: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** An envelope that breaks the wire rules was handed to {@link encodeEnvelope}. */
export class EncodeError extends Error {
  override name = 'EncodeError';
  constructor(
    readonly code: Exclude<CodecErrorCode, 'malformed'>,
    readonly field: string | null,
    message: string,
  ) {
    super(message);
  }
}

export type DecodeResult = { ok: true; envelope: Envelope } | { ok: false; error: DecodeError };

/** Internal: a rule broken at `field`; turned into a DecodeError or EncodeError at the API edge. */
class FieldError extends Error {
  constructor(
    readonly code: Exclude<CodecErrorCode, 'malformed' | 'too-large'>,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function fail(field: string, rule: string, got: unknown, code: FieldError['code'] = 'invalid-field'): never {
  throw new FieldError(code, field, `${field} ${rule}, got ${show(got)}`);
}

/** A short, safe rendering of a (possibly hostile) value for error messages. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (isLongLike(v)) return String((BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return typeof v;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

// ---------------------------------------------------------------------------
// Field codecs

/** One model field's mapping. Both directions validate and throw FieldError naming `path`. */
interface FieldCodec<V> {
  /** What protobufjs decoded → the model value. */
  decode(wire: unknown, path: string): V;
  /** For messages: like decode, but adds the fields to `out` (which may already hold some). */
  decodeInto?(wire: unknown, path: string, out: Record<string, unknown>): void;
  /** A model value (unchecked: plain-JS callers exist) → what protobufjs encodes. */
  encode(value: unknown, path: string): unknown;
}

/** A codec per field of T, so adding a model field without a wire mapping fails to compile. */
type Fields<T> = { [K in keyof T]-?: FieldCodec<T[K]> };

/** A codec whose wire and model values are the same, after `check`. */
function same<V>(check: (v: unknown, path: string) => V): FieldCodec<V> {
  return { decode: check, encode: check };
}

const bool = same((v, path): boolean => (typeof v === 'boolean' ? v : fail(path, 'must be a boolean', v)));

/** A whole number in min..max (uint32 on the wire; every max here is far below 2^32). */
function whole(min: number, max: number): FieldCodec<number> {
  return same((v, path): number =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(path, `must be a whole number in ${min}..${max}`, v),
  );
}

const COUNTER_RULE = `must be a whole number in 0..${MAX_COUNTER}`;

function checkCounter(v: unknown, path: string): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_COUNTER ? v : fail(path, COUNTER_RULE, v);
}

interface LongLike {
  low: number;
  high: number;
}
function isLongLike(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}

/**
 * A counter (term, version, incarnation): uint64 on the wire, 0..MAX_COUNTER in the
 * model, so that `term + 1` is still a safe integer the codec accepts. protobufjs
 * yields a Long when the `long` package is installed, else a (possibly rounded) number.
 */
const counter: FieldCodec<number> = {
  decode(wire, path) {
    if (isLongLike(wire)) {
      // Exact up to 2^53; beyond that the sum is rounded but still far above MAX_COUNTER.
      const n = (wire.high >>> 0) * 0x1_0000_0000 + (wire.low >>> 0);
      return n <= MAX_COUNTER ? n : fail(path, COUNTER_RULE, wire);
    }
    return checkCounter(wire, path);
  },
  encode: checkCounter,
};

/** A finite double in 0..max (fractions allowed). */
function bounded(max: number, what: string): FieldCodec<number> {
  return same((v, path): number =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max ? v : fail(path, `must be ${what} in 0..${max}`, v),
  );
}

/** An epoch-ms instant (double); 0 means "no instant". */
const instant = bounded(MAX_EPOCH_MS, 'a finite number of epoch milliseconds');

/** A poll duration in ms (double). */
const duration = bounded(MAX_POLL_TIMEOUT_MS, 'a finite number of milliseconds');

/** No control characters and no lone UTF-16 surrogates (which would not survive UTF-8). */
const PRINTABLE = /^[^\p{Cc}\p{Cs}]*$/u;

function text(minLength: 0 | 1, maxLength: number, what: string): FieldCodec<string> {
  return same((v, path): string =>
    typeof v === 'string' && v.length >= minLength && v.length <= maxLength && PRINTABLE.test(v)
      ? v
      : fail(path, `must be ${what}: ${minLength}..${maxLength} printable characters`, v),
  );
}

/** How many good names each name field remembers (see {@link name}). */
const KNOWN_NAMES = 512;

/**
 * A string of a documented name form (agent/core/names.ts); `problem` says why not.
 * The same few group names and member ids arrive in every frame: the ones found good
 * are remembered (a bounded set, emptied when full), so a frame costs a set lookup per
 * name instead of a regular-expression match. Only good names are remembered, so the
 * verdict is the same either way.
 */
function name(problem: (v: unknown) => string | null, orNone = false): FieldCodec<string> & { knows(v: string): boolean } {
  const good = new Set<string>();
  const codec = same((v, path): string => {
    if (typeof v === 'string' && good.has(v)) return v;
    if (orNone && v === '') return v;
    const why = problem(v);
    if (why !== null) return fail(path, orNone ? `${why} (or '')` : why, v);
    if (good.size >= KNOWN_NAMES) good.clear();
    good.add(v as string);
    return v as string;
  });
  /** Whether `v` is a good name, remembering it if so (a lookup once it is known). */
  const knows = (v: string): boolean => {
    if (good.has(v)) return true;
    try {
      codec.encode(v, '');
      return true;
    } catch {
      return false;
    }
  };
  return { ...codec, knows };
}

const groupName = name(groupNameProblem);
const memberId = name(memberIdProblem);
/** A member id or '' (none / everyone). */
const memberIdOrNone = name(memberIdProblem, true);
const ballotId = name(ballotIdProblem);
const freeText = text(0, MAX_TEXT_LENGTH, 'text');

/**
 * A field added after version 1 went out, optional in the model: its proto3 default ('' or
 * an empty list) means "not given" and decodes to absent, so frames from older agents and
 * envelopes built without it round-trip unchanged.
 */
function optional<V>(inner: FieldCodec<V>, /** the wire value for "not given" (undefined: not written) */ empty: () => unknown, isEmpty: (wire: unknown) => boolean): FieldCodec<V | undefined> {
  return {
    decode: (wire, path) => (wire === undefined || wire === null || isEmpty(wire) ? undefined : inner.decode(wire, path)),
    encode: (value, path) => (value === undefined ? empty() : inner.encode(value, path)),
  };
}

const memberIds = same((v, path): string[] => {
  if (!Array.isArray(v) || v.length > MAX_MEMBER_IDS) fail(path, `must be a list of at most ${MAX_MEMBER_IDS} member ids`, v);
  // A fresh array: never hand out protobufjs's shared (frozen) default or the caller's list.
  return v.map((id, i) => memberId.decode(id, `${path}[${i}]`));
});

/**
 * Decoded bytes (payloads, topics) are copied out of the received frame into plain
 * Uint8Arrays, so they never alias it. Up to POOLED_MAX bytes, the copy is a view into a
 * shared slab (as Node pools small Buffers): `new Uint8Array(n)` costs a backing store of its
 * own per message (measured: 1.8 us for 100 B, against 0.07 us for a slab view), and
 * received payloads are the hot path. So `payload.buffer` may hold other payloads too: read
 * a payload through its own byteOffset and byteLength, never through `.buffer` alone.
 */
const SLAB_BYTES = 64 * 1024;
const POOLED_MAX = 4 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** A fresh copy of `src[start, end)`, in a plain Uint8Array. */
function freshBytes(src: Buffer, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 0) return new Uint8Array(0);
  let out: Uint8Array;
  if (n > POOLED_MAX) out = new Uint8Array(n);
  else {
    if (slabUsed + n > SLAB_BYTES) {
      slab = new ArrayBuffer(SLAB_BYTES);
      slabUsed = 0;
    }
    out = new Uint8Array(slab, slabUsed, n);
    slabUsed += (n + 7) & ~7; // 8-byte aligned, so a payload can be viewed as wider numbers
  }
  src.copy(out, 0, start, end);
  return out;
}

const bytes: FieldCodec<Uint8Array> = {
  decode(wire, path) {
    // protobufjs yields a Buffer slice of the frame, or a shared empty [] when the field is absent.
    if (Buffer.isBuffer(wire)) return freshBytes(wire, 0, wire.length);
    if (wire instanceof Uint8Array || Array.isArray(wire)) return new Uint8Array(wire);
    return fail(path, 'must be bytes', wire);
  },
  encode(value, path) {
    return value instanceof Uint8Array ? value : fail(path, 'must be a Uint8Array', value);
  },
};

// ---------------------------------------------------------------------------
// Schema

const root = protobuf.Root.fromJSON(COHORT_SCHEMA);
const EnvelopeType = root.lookupType('cohort.Envelope');

/**
 * A proto enum ⇄ a model string union. The numbers come from the schema
 * (`majority` ⇄ POLL_KIND_MAJORITY); the model's values are listed as record
 * keys so the compiler checks they are complete.
 */
function protoEnum<T extends string>(enumName: string, prefix: string, modelValues: Record<T, null>): FieldCodec<T> {
  const schemaEnum = root.lookupEnum(enumName);
  const toWire = new Map<string, number>();
  const toModel = new Map<number, T>();
  for (const value of Object.keys(modelValues) as T[]) {
    const wireName = `${prefix}_${value.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const n = schemaEnum.values[wireName];
    if (n === undefined || n === 0) throw new Error(`codec: ${enumName} has no value ${wireName} for model value '${value}'`);
    toWire.set(value, n);
    toModel.set(n, value);
  }
  for (const [wireName, n] of Object.entries(schemaEnum.values)) {
    if (n !== 0 && !toModel.has(n)) throw new Error(`codec: ${enumName}.${wireName} has no model value`);
  }
  if (schemaEnum.valuesById[0] !== `${prefix}_UNSPECIFIED`) throw new Error(`codec: ${enumName} lacks ${prefix}_UNSPECIFIED = 0`);
  const known = [...toWire.keys()].join(', ');
  return {
    decode(wire, path) {
      if (wire === 0) fail(path, `must be set (${prefix}_UNSPECIFIED is never valid)`, wire);
      const value = typeof wire === 'number' ? toModel.get(wire) : undefined;
      return value ?? fail(path, `must be one of ${known}`, wire);
    },
    encode(value, path) {
      const n = typeof value === 'string' ? toWire.get(value) : undefined;
      return n ?? fail(path, `must be one of ${known}`, value);
    },
  };
}

/** Fail at load time when the codec's field list and the schema's disagree. */
function assertSameFields(type: protobuf.Type, names: readonly string[], skip: readonly string[] = []): void {
  const wire = Object.keys(type.fields).filter((f) => !skip.includes(f));
  const missing = wire.filter((f) => !names.includes(f));
  const extra = names.filter((f) => !wire.includes(f));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(`codec: fields of ${type.fullName} out of sync with the schema (not mapped: ${missing.join(', ') || '-'}; not in schema: ${extra.join(', ') || '-'})`);
  }
}

/** A proto message ⇄ a model object, one FieldCodec per field. */
function protoMessage<T>(type: protobuf.Type, fields: Fields<T>, skip: readonly string[] = []): FieldCodec<T> {
  const names = Object.keys(fields) as Array<keyof T & string>;
  const codecs = names.map((n) => fields[n] as FieldCodec<unknown>);
  assertSameFields(type, names, skip);
  // The fields' paths, made once per parent path rather than once per field per frame (a
  // message type is nearly always met under the same parent path).
  let parent: string | null = null;
  let paths: string[] = [];
  const pathsUnder = (path: string): string[] => {
    if (path !== parent) {
      parent = path;
      paths = names.map((n) => join(path, n));
    }
    return paths;
  };
  const decodeInto = (wire: unknown, path: string, out: Record<string, unknown>): void => {
    // Proto3 omits an unset sub-message entirely; ours are always set by the sender.
    if (typeof wire !== 'object' || wire === null) fail(path || 'envelope', 'is missing', wire);
    const src = wire as Record<string, unknown>;
    const p = pathsUnder(path);
    for (let i = 0; i < names.length; i++) {
      // An optional field at its default decodes to nothing (see `optional`), not to undefined.
      const v = codecs[i]!.decode(src[names[i]!], p[i]!);
      if (v !== undefined) out[names[i]!] = v;
    }
  };
  return {
    decode(wire, path) {
      const out: Record<string, unknown> = {};
      decodeInto(wire, path, out);
      return out as T;
    },
    decodeInto,
    encode(value, path) {
      if (typeof value !== 'object' || value === null) fail(path || 'envelope', 'must be an object', value);
      const src = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const p = pathsUnder(path);
      for (let i = 0; i < names.length; i++) out[names[i]!] = codecs[i]!.encode(src[names[i]!], p[i]!);
      return out;
    },
  };
}

function schemaType(name: string): protobuf.Type {
  return root.lookupType(`cohort.${name}`);
}

const pollKind = protoEnum<PollKind>('cohort.PollKind', 'POLL_KIND', { majority: null, consensus: null });
const pollSubject = protoEnum<PollSubject>('cohort.PollSubject', 'POLL_SUBJECT', { value: null, action: null });
const pollOutcome = protoEnum<PollOutcome>('cohort.PollOutcome', 'POLL_OUTCOME', { yes: null, no: null, timeout: null });
const dataChannel = protoEnum<GroupData['channel']>('cohort.DataChannel', 'DATA_CHANNEL', {
  group: null,
  toLeader: null,
  fromLeader: null,
});

/** The same bound `validateTimers` (agent/core/timers.ts) applies, so every settings a member accepts can be sent. */
const timerMs = whole(MIN_TIMER_MS, MAX_TIMER_MS);
const timers = protoMessage<TimerSettings>(schemaType('TimerSettings'), {
  heartbeat: timerMs,
  electionMin: timerMs,
  electionMax: timerMs,
  peerTimeout: timerMs,
  consensusTimeout: timerMs,
});
const voterConfig = protoMessage<VoterConfig>(schemaType('VoterConfig'), { term: counter, version: counter, voters: memberIds });
/** A group size: no more than a list of member ids may hold. */
const memberCount = whole(0, MAX_MEMBER_IDS);
const minSize = memberCount;
const tally = consistentTally(protoMessage<Tally>(schemaType('Tally'), { yes: memberCount, no: memberCount, voters: memberCount }));

/** Only voters vote, once each: yes + no never exceeds the voter count. */
function consistentTally(inner: FieldCodec<Tally>): FieldCodec<Tally> {
  const check = (t: Tally, path: string): Tally => {
    if (t.yes + t.no > t.voters) {
      throw new FieldError('invalid-field', path, `${path} must have yes + no <= voters, got yes ${t.yes}, no ${t.no}, voters ${t.voters}`);
    }
    return t;
  };
  return {
    decode: (wire, path) => check(inner.decode(wire, path), path),
    encode: (value, path) => {
      const out = inner.encode(value, path);
      check(out as Tally, path);
      return out;
    },
  };
}

/** A 'no' vote's reason: optional free text. */
const refusalReason = optional(freeText, () => undefined, (w) => w === '');
const refusal = protoMessage<Refusal>(schemaType('Refusal'), { member: memberId, reason: freeText });
/** At most one refusal per voter. */
function listOf<V>(item: FieldCodec<V>, what: string): FieldCodec<V[]> {
  const check = (v: unknown, path: string): unknown[] => (Array.isArray(v) && v.length <= MAX_MEMBER_IDS ? v : fail(path, `must be a list of at most ${MAX_MEMBER_IDS} ${what}`, v));
  return {
    decode: (wire, path) => check(wire, path).map((x, i) => item.decode(x, `${path}[${i}]`)),
    encode: (value, path) => check(value, path).map((x, i) => item.encode(x, `${path}[${i}]`)),
  };
}
/** A result's topic (added after version 1): empty on the wire means not given. */
const resultTopic = optional<Uint8Array>(bytes, () => undefined, (w) => (w instanceof Uint8Array || Array.isArray(w)) && w.length === 0);
const refusals = optional<Refusal[]>(
  listOf(refusal, 'refusals'),
  () => undefined,
  (w) => Array.isArray(w) && w.length === 0,
);

type BodyOf<K extends BodyType> = Omit<Extract<Body, { type: K }>, 'type'>;

/** Body field tables, keyed by body type, which is also the name of its `Envelope.body` oneof field. */
const BODY_FIELDS: { [K in BodyType]: Fields<BodyOf<K>> } = {
  memberHeartbeat: { timers, minSize, sentAt: instant, leader: memberIdOrNone, endpoint: freeText },
  voteRequest: {
    preVote: bool,
    electionTerm: counter,
    configTerm: counter,
    configVersion: counter,
    proposedVoters: memberIds,
    transfer: bool,
  },
  voteReply: { preVote: bool, electionTerm: counter, granted: bool },
  leaderHeartbeat: {
    config: voterConfig,
    committedVersion: counter,
    endpoint: freeText,
    timers,
    minSize,
    sentAt: instant,
  },
  heartbeatAck: { configTerm: counter, configVersion: counter, accepted: bool },
  leave: {},
  timeoutNow: {},
  data: { channel: dataChannel, payload: bytes, sentAt: instant },
  pollRequest: { ballotId, topic: bytes, kind: pollKind, subject: pollSubject, when: instant, timeoutMs: duration },
  ballot: {
    ballotId,
    topic: bytes,
    kind: pollKind,
    subject: pollSubject,
    when: instant,
    timeoutMs: duration,
    requester: memberId,
    voters: memberIds,
    remainingMs: duration,
  },
  memberVote: { ballotId, yes: bool, reason: refusalReason },
  pollResult: {
    ballotId,
    requester: memberId,
    outcome: pollOutcome,
    kind: pollKind,
    subject: pollSubject,
    when: instant,
    tally,
    reason: freeText,
    refusals,
    topic: resultTopic,
  },
};

const bodyOneof = EnvelopeType.oneofs['body'];
if (bodyOneof === undefined) throw new Error('codec: cohort.Envelope has no oneof body');
const BODY_TYPES = Object.keys(BODY_FIELDS) as BodyType[];
assertSameFields(EnvelopeType, [...BODY_TYPES, 'version', 'group', 'from', 'incarnation', 'term', 'to']);
if (bodyOneof.oneof.length !== BODY_TYPES.length || !BODY_TYPES.every((t) => bodyOneof.oneof.includes(t))) {
  throw new Error(`codec: Envelope.body oneof (${bodyOneof.oneof.join(', ')}) does not match the body types (${BODY_TYPES.join(', ')})`);
}

const BODIES = Object.fromEntries(
  BODY_TYPES.map((type) => {
    const wireType = EnvelopeType.fields[type]?.resolve().resolvedType;
    if (!(wireType instanceof protobuf.Type)) throw new Error(`codec: Envelope.${type} is not a message`);
    return [type, protoMessage(wireType, BODY_FIELDS[type] as Fields<object>)];
  }),
) as { [K in BodyType]: FieldCodec<BodyOf<K>> };

const protocolVersion = same((v, path): number =>
  v === PROTOCOL_VERSION ? v : fail(path, `must be ${PROTOCOL_VERSION} (this agent speaks only protocol version ${PROTOCOL_VERSION})`, v, 'unsupported-version'),
);

/** The envelope minus its body. `version` comes first so that a frame of another version is reported as such, whatever else it holds. */
const header = protoMessage<Omit<Envelope, 'body'>>(
  EnvelopeType,
  { version: protocolVersion, group: groupName, from: memberId, incarnation: counter, term: counter, to: memberIdOrNone },
  BODY_TYPES,
);

// ---------------------------------------------------------------------------
// API

/** Encode an envelope for the wire. Throws {@link EncodeError} naming the field if it breaks a wire rule. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  // Group data is the hot path: written straight into one buffer (see encodeData); anything
  // that path does not vouch for goes the general way, which also names what is wrong.
  const body: unknown = env?.body;
  if (typeof body === 'object' && body !== null && (body as { type?: unknown }).type === 'data') {
    const frame = encodeData(env as Envelope<GroupData>);
    if (frame !== null) return frame;
  }
  return encodeGeneral(env);
}

/** @internal The general encoder (protobufjs after the field codecs), without the data fast path: tests compare the two. */
export function encodeGeneral(env: Envelope): Uint8Array {
  let frame: Uint8Array;
  try {
    const wire = header.encode(env, '') as Record<string, unknown>;
    const body: unknown = env.body;
    const type = typeof body === 'object' && body !== null ? (body as { type?: unknown }).type : undefined;
    if (!BODY_TYPES.includes(type as BodyType)) fail('body.type', `must be one of ${BODY_TYPES.join(', ')}`, type);
    wire[type as BodyType] = BODIES[type as BodyType].encode(body, 'body');
    frame = EnvelopeType.encode(wire).finish();
  } catch (err) {
    if (err instanceof FieldError) throw new EncodeError(err.code, err.field, `cannot encode envelope: ${err.message}`);
    throw err;
  }
  if (frame.length > MAX_ENVELOPE_BYTES) {
    throw new EncodeError('too-large', null, `cannot encode envelope: ${frame.length} bytes is more than MAX_ENVELOPE_BYTES (${MAX_ENVELOPE_BYTES})`);
  }
  return frame;
}

/** Decode and validate one received frame. Never throws: any problem comes back as a {@link DecodeError}. */
export function decodeEnvelope(frame: Uint8Array): DecodeResult {
  return decodeWith(frame, true);
}

/** @internal The general decoder (protobufjs, then the field codecs), without the data fast path: tests compare the two. */
export function decodeGeneral(frame: Uint8Array): DecodeResult {
  return decodeWith(frame, false);
}

function decodeWith(frame: Uint8Array, fast: boolean): DecodeResult {
  try {
    return { ok: true, envelope: decodeOrThrow(frame, fast) };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, error: err };
    if (err instanceof FieldError) return { ok: false, error: new DecodeError(err.code, err.field, err.message) };
    // protobufjs's own errors (truncation, bad wire type, runaway nesting...) and anything unforeseen.
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, error: new DecodeError('malformed', null, `not a valid cohort.Envelope: ${why}`) };
  }
}

function decodeOrThrow(frame: Uint8Array, fast: boolean): Envelope {
  if (!(frame instanceof Uint8Array)) throw new DecodeError('malformed', null, `frame must be a Uint8Array, got ${show(frame)}`);
  if (frame.length > MAX_ENVELOPE_BYTES) {
    throw new DecodeError('too-large', null, `frame of ${frame.length} bytes is more than MAX_ENVELOPE_BYTES (${MAX_ENVELOPE_BYTES})`);
  }
  // A zero-copy Buffer view makes protobufjs decode strings with Node's native UTF-8 decoder.
  const view = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  if (fast) {
    const env = decodeData(view);
    if (env !== null) return env;
  }
  const wire = EnvelopeType.decode(view) as unknown as Record<string, unknown>;
  const env: Record<string, unknown> = {};
  header.decodeInto!(wire, '', env);
  let type: BodyType | undefined;
  let present = 0;
  for (const t of BODY_TYPES) {
    if (wire[t] === null || wire[t] === undefined) continue;
    present++;
    type ??= t;
  }
  if (type === undefined || present > 1) {
    const all = BODY_TYPES.filter((t) => wire[t] !== null && wire[t] !== undefined);
    const why = present === 0 ? 'is missing (or of a type this agent does not know)' : `must be exactly one, got ${present} (${all.join(', ')})`;
    throw new DecodeError('malformed', 'body', `body ${why}`);
  }
  try {
    const body: Record<string, unknown> = { type };
    BODIES[type].decodeInto!(wire[type], 'body', body);
    env['body'] = body;
    return env as unknown as Envelope;
  } catch (err) {
    if (err instanceof FieldError) throw new FieldError(err.code, err.field, `${type}: ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Group data, encoded by hand (the hot path)

/**
 * Validated header prefixes (version, group, from, incarnation: see framePrefix) of the few
 * senders this process encodes for, most recent first. A prefix is made only from a header
 * the field codecs accepted, so a hit vouches for those four fields.
 */
const prefixes: Array<{ group: string; from: string; incarnation: number; bytes: Uint8Array }> = [];
const MAX_PREFIXES = 8;

function headerPrefix(group: unknown, from: unknown, incarnation: unknown): Uint8Array | null {
  for (let i = 0; i < prefixes.length; i++) {
    const p = prefixes[i]!;
    if (p.group === group && p.from === from && p.incarnation === incarnation) return p.bytes;
  }
  if (typeof group !== 'string' || typeof from !== 'string' || typeof incarnation !== 'number') return null;
  try {
    groupName.encode(group, 'group');
    memberId.encode(from, 'from');
    counter.encode(incarnation, 'incarnation');
  } catch {
    return null; // the general path reports it
  }
  const bytes = writePrefix(group, from, incarnation);
  if (prefixes.length >= MAX_PREFIXES) prefixes.pop();
  prefixes.unshift({ group, from, incarnation, bytes });
  return bytes;
}

/**
 * Outgoing frames up to FRAME_POOLED_MAX bytes are cut from a shared slab that is never
 * written twice (a full slab is dropped, not reused), so a frame zeromq.js still holds
 * (it sends frames over 128 B without copying) can never change under it. Node pools
 * Buffers only below 4 KiB; above, each allocation is a backing store of its own, which
 * the 4 KiB broadcast profile showed at ~16 % of the sender.
 */
const FRAME_SLAB_BYTES = 256 * 1024;
const FRAME_POOLED_MAX = 16 * 1024;
let frameSlab = new ArrayBuffer(FRAME_SLAB_BYTES);
let frameSlabUsed = 0;

function frameBuffer(n: number): Buffer {
  if (n < 4096 || n > FRAME_POOLED_MAX) return Buffer.allocUnsafe(n);
  if (frameSlabUsed + n > FRAME_SLAB_BYTES) {
    frameSlab = new ArrayBuffer(FRAME_SLAB_BYTES);
    frameSlabUsed = 0;
  }
  const buf = Buffer.from(frameSlab, frameSlabUsed, n);
  frameSlabUsed += (n + 7) & ~7;
  return buf;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Writes `n` (a whole number, 0 ≤ n < 2^53) as a varint at `at`; returns the next offset. */
function writeVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

const CHANNEL_WIRE = { group: 0, toLeader: 0, fromLeader: 0 } as Record<GroupData['channel'], number>;
for (const c of Object.keys(CHANNEL_WIRE) as GroupData['channel'][]) CHANNEL_WIRE[c] = dataChannel.encode(c, 'body.channel') as number;
const DATA_FIELD = (name: string, wireType: number): number => {
  const f = schemaType('GroupData').fields[name];
  if (f === undefined) throw new Error(`codec: cohort.GroupData has no field ${name}`);
  return (f.id << 3) | wireType;
};
const CHANNEL_TAG = DATA_FIELD('channel', 0);
const PAYLOAD_TAG = DATA_FIELD('payload', 2);
const SENT_AT_TAG = DATA_FIELD('sentAt', 1);

/**
 * A `data` envelope written straight into one buffer: the bytes protobufjs would write
 * (every field present, in field order; checked by test/unit/codec.test.ts against
 * {@link encodeGeneral}) without its per-field writer objects or the model → wire copy.
 * The same rules are applied; null when any value is not plainly good (the general path
 * then encodes it or throws the EncodeError naming the field).
 */
function encodeData(env: Envelope<GroupData>): Uint8Array | null {
  const { term, to, body } = env;
  if (env.version !== PROTOCOL_VERSION) return null;
  if (typeof term !== 'number' || !Number.isInteger(term) || term < 0 || term > MAX_COUNTER) return null;
  if (typeof to !== 'string' || (to !== '' && !memberId.knows(to))) return null;
  const channel = CHANNEL_WIRE[body.channel];
  const { payload, sentAt } = body;
  if (channel === undefined || !Object.hasOwn(CHANNEL_WIRE, body.channel) || !(payload instanceof Uint8Array)) return null;
  if (typeof sentAt !== 'number' || !(sentAt >= 0 && sentAt <= MAX_EPOCH_MS)) return null;
  const prefix = headerPrefix(env.group, env.from, env.incarnation);
  if (prefix === null) return null;
  const toLength = to.length; // member ids are ASCII (names.ts): one byte per character
  const bodyLength = 2 + 1 + varintLength(payload.length) + payload.length + 9;
  const total = prefix.length + 1 + varintLength(term) + 1 + varintLength(toLength) + toLength + 1 + varintLength(bodyLength) + bodyLength;
  if (total > MAX_ENVELOPE_BYTES) return null;
  const buf = frameBuffer(total);
  buf.set(prefix, 0);
  let at = prefix.length;
  buf[at++] = TERM_TAG;
  at = writeVarint(buf, at, term);
  buf[at++] = TO_TAG;
  at = writeVarint(buf, at, toLength);
  if (toLength > 0) at += buf.write(to, at, 'latin1');
  buf[at++] = DATA_TAG;
  at = writeVarint(buf, at, bodyLength);
  buf[at++] = CHANNEL_TAG;
  buf[at++] = channel;
  buf[at++] = PAYLOAD_TAG;
  at = writeVarint(buf, at, payload.length);
  buf.set(payload, at);
  at += payload.length;
  buf[at++] = SENT_AT_TAG;
  buf.writeDoubleLE(sentAt, at);
  return buf;
}

// ---------------------------------------------------------------------------
// Own-echo recognition (a hot-path shortcut for the runtime)

const FIELD = (name: string): number => {
  const f = EnvelopeType.fields[name];
  if (f === undefined) throw new Error(`codec: cohort.Envelope has no field ${name}`);
  return f.id;
};
/** Wire tags (field id << 3 | wire type) of the fields after the prefix. */
const TERM_TAG = (FIELD('term') << 3) | 0;
const TO_TAG = (FIELD('to') << 3) | 2;
const DATA_TAG = (FIELD('data') << 3) | 2;
if (TERM_TAG > 0x7f || TO_TAG > 0x7f || DATA_TAG > 0x7f) throw new Error('codec: own-echo tags must fit one byte');

/**
 * The bytes every frame starts with that member `from` (of `group`, incarnation
 * `incarnation`) encodes: fields version, group, from, incarnation, which protobufjs
 * writes first, in field order (then term, `to`, and the body). Checked against a real encoding, so a schema or
 * encoder change that breaks the assumption fails here, loudly.
 */
export function framePrefix(group: string, from: string, incarnation: number): Uint8Array {
  const prefix = writePrefix(group, from, incarnation);
  const probe = encodeGeneral({ version: PROTOCOL_VERSION, group, from, incarnation, term: 1, to: '', body: { type: 'data', channel: 'group', payload: new Uint8Array(0), sentAt: 0 } });
  const same = probe.length > prefix.length && prefix.every((b, i) => probe[i] === b) && probe[prefix.length] === TERM_TAG;
  if (!same) throw new Error('codec: framePrefix does not match what encodeEnvelope writes');
  return prefix;
}

/** The prefix bytes themselves (unchecked: callers validated the fields). */
function writePrefix(group: string, from: string, incarnation: number): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((FIELD('version') << 3) | 0).uint32(PROTOCOL_VERSION);
  w.uint32((FIELD('group') << 3) | 2).string(group);
  w.uint32((FIELD('from') << 3) | 2).string(from);
  // protobufjs writes every field that is set, defaults included.
  w.uint32((FIELD('incarnation') << 3) | 0).uint64(incarnation);
  return w.finish();
}

/**
 * Whether `frame` is a group-data broadcast (`to` empty) that starts with `prefix`
 * (see {@link framePrefix}): what a member's own messages look like when the bus loops
 * them back. Looks at a few bytes only and decodes nothing: a frame that matches may
 * still be malformed further on.
 */
export function isDataBroadcastWithPrefix(frame: Uint8Array, prefix: Uint8Array): boolean {
  const n = prefix.length;
  if (frame.length <= n + 1) return false;
  for (let i = 0; i < n; i++) if (frame[i] !== prefix[i]) return false;
  let p = n;
  if (frame[p] === TERM_TAG) {
    p++;
    // A varint: at most 10 bytes, the last without the high bit.
    const end = Math.min(frame.length, p + 10);
    while (p < end && (frame[p]! & 0x80) !== 0) p++;
    p++;
  }
  if (frame[p] === TO_TAG) {
    // protobufjs writes an empty `to` as tag + length 0; anything longer is a directed message.
    if (frame[p + 1] !== 0) return false;
    p += 2;
  }
  return p < frame.length && frame[p] === DATA_TAG;
}

// ---------------------------------------------------------------------------
// Group data, decoded by hand (the hot path)

const VERSION_TAG = (FIELD('version') << 3) | 0;
const GROUP_TAG = (FIELD('group') << 3) | 2;
const FROM_TAG = (FIELD('from') << 3) | 2;
const INCARNATION_TAG = (FIELD('incarnation') << 3) | 0;
const CHANNEL_MODEL: Array<GroupData['channel'] | undefined> = [];
for (const [c, n] of Object.entries(CHANNEL_WIRE)) CHANNEL_MODEL[n] = c as GroupData['channel'];

/** Senders whose header prefix was validated, so a frame that starts with one costs a byte comparison. */
interface KnownSender {
  bytes: Uint8Array;
  group: string;
  from: string;
  incarnation: number;
}
const senders: Array<KnownSender | undefined> = [];
const MAX_SENDERS = 32;
let nextSender = 0;

/** Where the last {@link readVarint} ended. */
let varintEnd = 0;

/** A varint of at most 7 bytes (< 2^49, above every bound here) at `p`, or -1 (then the general path decides). */
function readVarint(f: Buffer, p: number): number {
  let n = 0;
  let scale = 1;
  const end = Math.min(f.length, p + 7);
  while (p < end) {
    const b = f[p++]!;
    n += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = p;
      return n;
    }
    scale *= 128;
  }
  return -1;
}

/** `f[start, end)` as a string, if every byte is printable ASCII (then latin1 and UTF-8 read the same); else null. */
function asciiAt(f: Buffer, start: number, end: number): string | null {
  for (let i = start; i < end; i++) {
    const b = f[i]!;
    if (b < 0x21 || b > 0x7e) return null;
  }
  return f.toString('latin1', start, end);
}

function knownSender(f: Buffer, prefixEnd: number): KnownSender | undefined {
  for (let i = 0; i < senders.length; i++) {
    const s = senders[i]!;
    if (s.bytes.length !== prefixEnd) continue;
    let j = prefixEnd - 1;
    // From the end: senders of one group share the start.
    while (j >= 0 && s.bytes[j] === f[j]) j--;
    if (j < 0) return s;
  }
  return undefined;
}

/**
 * A group-data frame laid out exactly as encodeData writes it (every field present, in
 * field order, each once, nothing else), decoded and checked against the same rules as
 * the general path, without protobufjs's intermediate objects or a string decode per
 * known sender. Anything else, including every frame that breaks a rule, returns null:
 * the general path then decodes it or says what is wrong. Within that layout every byte
 * is accounted for, so protobufjs would read the same values (test/unit/codec.test.ts
 * compares the two on mutated frames).
 */
function decodeData(f: Buffer): Envelope | null {
  const n = f.length;
  if (n < 16 || f[0] !== VERSION_TAG || f[1] !== PROTOCOL_VERSION || f[2] !== GROUP_TAG) return null;
  const groupLength = readVarint(f, 3);
  if (groupLength < 0) return null;
  const groupStart = varintEnd;
  const groupEnd = groupStart + groupLength;
  if (groupEnd >= n || f[groupEnd] !== FROM_TAG) return null;
  const fromLength = readVarint(f, groupEnd + 1);
  if (fromLength < 0) return null;
  const fromStart = varintEnd;
  const fromEnd = fromStart + fromLength;
  if (fromEnd >= n || f[fromEnd] !== INCARNATION_TAG) return null;
  const incarnation = readVarint(f, fromEnd + 1);
  if (incarnation < 0 || incarnation > MAX_COUNTER) return null;
  const prefixEnd = varintEnd;
  let sender = knownSender(f, prefixEnd);
  if (sender === undefined) {
    const group = asciiAt(f, groupStart, groupEnd);
    const from = asciiAt(f, fromStart, fromEnd);
    if (group === null || from === null || !groupName.knows(group) || !memberId.knows(from)) return null;
    sender = { bytes: Uint8Array.prototype.slice.call(f, 0, prefixEnd), group, from, incarnation };
    senders[nextSender] = sender;
    nextSender = (nextSender + 1) % MAX_SENDERS;
  }
  let p = prefixEnd;
  if (f[p] !== TERM_TAG) return null;
  const term = readVarint(f, p + 1);
  if (term < 0 || term > MAX_COUNTER) return null;
  p = varintEnd;
  if (f[p] !== TO_TAG) return null;
  const toLength = readVarint(f, p + 1);
  if (toLength < 0) return null;
  p = varintEnd;
  let to = '';
  if (toLength > 0) {
    const s = p + toLength <= n ? asciiAt(f, p, p + toLength) : null;
    if (s === null || !memberId.knows(s)) return null;
    to = s;
    p += toLength;
  }
  if (f[p] !== DATA_TAG) return null;
  const bodyLength = readVarint(f, p + 1);
  if (bodyLength < 0 || varintEnd + bodyLength !== n) return null;
  p = varintEnd;
  if (f[p] !== CHANNEL_TAG) return null;
  const channel = CHANNEL_MODEL[f[p + 1]!];
  if (channel === undefined) return null;
  p += 2;
  if (f[p] !== PAYLOAD_TAG) return null;
  const payloadLength = readVarint(f, p + 1);
  if (payloadLength < 0) return null;
  p = varintEnd;
  const payloadEnd = p + payloadLength;
  if (payloadEnd + 9 !== n || f[payloadEnd] !== SENT_AT_TAG) return null;
  const sentAt = f.readDoubleLE(payloadEnd + 1);
  if (!(sentAt >= 0 && sentAt <= MAX_EPOCH_MS)) return null;
  const body: GroupData = { type: 'data', channel, payload: freshBytes(f, p, payloadEnd), sentAt };
  return { version: PROTOCOL_VERSION, group: sender.group, from: sender.from, incarnation: sender.incarnation, term, to, body };
}
