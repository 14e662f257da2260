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
function name(problem: (v: unknown) => string | null, orNone = false): FieldCodec<string> {
  const good = new Set<string>();
  return same((v, path): string => {
    if (typeof v === 'string' && good.has(v)) return v;
    if (orNone && v === '') return v;
    const why = problem(v);
    if (why !== null) return fail(path, orNone ? `${why} (or '')` : why, v);
    if (good.size >= KNOWN_NAMES) good.clear();
    good.add(v as string);
    return v as string;
  });
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

/** Opaque bytes. Decoded values are copied into a plain Uint8Array so they never alias the received frame. */
const bytes: FieldCodec<Uint8Array> = {
  decode(wire, path) {
    // protobufjs yields a Buffer slice of the frame, or a shared empty [] when the field is absent.
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
  try {
    return { ok: true, envelope: decodeOrThrow(frame) };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, error: err };
    if (err instanceof FieldError) return { ok: false, error: new DecodeError(err.code, err.field, err.message) };
    // protobufjs's own errors (truncation, bad wire type, runaway nesting...) and anything unforeseen.
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, error: new DecodeError('malformed', null, `not a valid cohort.Envelope: ${why}`) };
  }
}

function decodeOrThrow(frame: Uint8Array): Envelope {
  if (!(frame instanceof Uint8Array)) throw new DecodeError('malformed', null, `frame must be a Uint8Array, got ${show(frame)}`);
  if (frame.length > MAX_ENVELOPE_BYTES) {
    throw new DecodeError('too-large', null, `frame of ${frame.length} bytes is more than MAX_ENVELOPE_BYTES (${MAX_ENVELOPE_BYTES})`);
  }
  // A zero-copy Buffer view makes protobufjs decode strings with Node's native UTF-8 decoder.
  const view = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.length);
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
  const w = protobuf.Writer.create();
  w.uint32((FIELD('version') << 3) | 0).uint32(PROTOCOL_VERSION);
  w.uint32((FIELD('group') << 3) | 2).string(group);
  w.uint32((FIELD('from') << 3) | 2).string(from);
  // protobufjs writes every field that is set, defaults included.
  w.uint32((FIELD('incarnation') << 3) | 0).uint64(incarnation);
  const prefix = w.finish();
  const probe = encodeEnvelope({ version: PROTOCOL_VERSION, group, from, incarnation, term: 1, to: '', body: { type: 'data', channel: 'group', payload: new Uint8Array(0), sentAt: 0 } });
  const same = probe.length > prefix.length && prefix.every((b, i) => probe[i] === b) && probe[prefix.length] === TERM_TAG;
  if (!same) throw new Error('codec: framePrefix does not match what encodeEnvelope writes');
  return prefix;
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
