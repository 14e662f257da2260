/** Decoding helpers shared by the codec and golden-frame tests. */
import { decodeEnvelope, type DecodeError } from '../../proto/codec.js';
import type { Envelope } from '../../agent/core/messages.js';

/** Decode a frame that must decode (throws the DecodeError otherwise). */
export function decodeOk(frame: Uint8Array): Envelope {
  const r = decodeEnvelope(frame);
  if (!r.ok) throw r.error;
  return r.envelope;
}

/** Decode a frame that must be refused, returning why. */
export function decodeErr(frame: Uint8Array): DecodeError {
  const r = decodeEnvelope(frame);
  if (r.ok) throw new Error(`expected a DecodeError, decoded ${JSON.stringify(r.envelope)}`);
  return r.error;
}
