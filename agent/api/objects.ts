/**
 * Objects travel as MessagePack: compact, binary-safe and language-neutral
 * (unlike v8.serialize or RIAPS's pickle), so boards running other languages can
 * join later.
 */
import { decode, encode } from '@msgpack/msgpack';
import { BadArgumentsError } from '../core/errors.js';

export function encodeObject(value: unknown): Uint8Array {
  try {
    return encode(value);
  } catch (err) {
    throw new BadArgumentsError(`value cannot be encoded as MessagePack: ${(err as Error).message}`);
  }
}

export function decodeObject<T = unknown>(bytes: Uint8Array): T {
  try {
    return decode(bytes) as T;
  } catch (err) {
    throw new BadArgumentsError(`payload is not MessagePack: ${(err as Error).message}`);
  }
}
