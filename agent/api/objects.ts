/**
 * Objects travel as MessagePack: compact, binary-safe and language-neutral
 * (unlike v8.serialize or RIAPS's pickle), so boards running other languages can
 * join later.
 */
import { createRequire } from 'node:module';
import { BadArgumentsError } from '../core/errors.js';

/** MessagePack, loaded on first use: an agent whose members never send objects never loads it. */
let msgpack: typeof import('@msgpack/msgpack') | null = null;
const mp = () => (msgpack ??= createRequire(import.meta.url)('@msgpack/msgpack') as typeof import('@msgpack/msgpack'));

export function encodeObject(value: unknown): Uint8Array {
  try {
    return mp().encode(value);
  } catch (err) {
    throw new BadArgumentsError(`value cannot be encoded as MessagePack: ${(err as Error).message}`);
  }
}

export function decodeObject<T = unknown>(bytes: Uint8Array): T {
  try {
    return mp().decode(bytes) as T;
  } catch (err) {
    throw new BadArgumentsError(`payload is not MessagePack: ${(err as Error).message}`);
  }
}
