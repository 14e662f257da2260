/**
 * Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 32 bytes ↔ 40 characters.
 * zeromq.js can make key pairs but not convert keys, and the ZAP handler receives the
 * client's key as 32 raw bytes while certificates hold text.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** A 40-character Z85 CURVE key (any Z85 character; decoding checks the value). */
export const Z85_KEY_RE = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError('z85: input length must be a multiple of 4');
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i]! << 24) >>> 0) + (bytes[i + 1]! << 16) + (bytes[i + 2]! << 8) + bytes[i + 3]!;
    const chunk: string[] = [];
    for (let k = 0; k < 5; k++) {
      chunk.unshift(ALPHABET[v % 85]!);
      v = Math.floor(v / 85);
    }
    out += chunk.join('');
  }
  return out;
}

/** Decodes Z85 text; returns null for bad length, characters, or a chunk over 2^32 - 1. */
export function z85Decode(text: string): Uint8Array | null {
  if (text.length % 5 !== 0) return null;
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let v = 0;
    for (let k = 0; k < 5; k++) {
      const c = text.charCodeAt(i + k);
      const d = c < 128 ? DECODE[c]! : -1;
      if (d < 0) return null;
      v = v * 85 + d;
    }
    if (v > 0xffffffff) return null;
    out[o] = v >>> 24;
    out[o + 1] = (v >>> 16) & 0xff;
    out[o + 2] = (v >>> 8) & 0xff;
    out[o + 3] = v & 0xff;
  }
  return out;
}
