/**
 * CURVE certificates in czmq's `zcert` format, so keys made with `zcert`/`zcertstore`
 * (or `cohort keygen`) work unchanged. A certificate is two ZPL (ZeroMQ RFC 4) text files:
 *
 *   NAME.key          public: `metadata` section, `curve` section with `public-key`
 *   NAME.key_secret   the same plus `secret-key`; mode 0600
 *
 * Keys are 40-character Z85 strings in double quotes. Cohort reads the metadata entry
 * `name` as the node id the key belongs to; without one, NAME (the file name without
 * `.key`) is used.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { z85Decode, z85Encode, Z85_KEY_RE } from './z85.js';

export interface Certificate {
  publicKey: string;
  /** Only in a secret certificate. */
  secretKey?: string;
  metadata: Record<string, string>;
}

export class CertificateError extends Error {
  override name = 'CertificateError';
}

interface ZplNode {
  name: string;
  value: string | null;
  children: ZplNode[];
}

/** Parses the subset of ZPL that zcert writes (and what people write by hand): 4-space
 *  indentation per level, `name = value` with a quoted or bare value, `#` comments. */
export function parseZpl(text: string): ZplNode {
  const root: ZplNode = { name: 'root', value: null, children: [] };
  const stack: ZplNode[] = [root];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/\s+$/, '');
    if (/^\s*(#.*)?$/.test(line)) continue;
    const indent = /^ */.exec(line)![0].length;
    if (indent % 4 !== 0 || line[indent] === '\t') throw new CertificateError(`line ${i + 1}: indentation must be a multiple of 4 spaces`);
    const level = indent / 4;
    if (level > stack.length - 1) throw new CertificateError(`line ${i + 1}: indented deeper than its parent`);
    const m = /^([A-Za-z0-9$\-_@.&+/]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s#"']*)))?\s*(#.*)?$/.exec(line.slice(indent));
    if (!m) throw new CertificateError(`line ${i + 1}: expected "name" or "name = value"`);
    const node: ZplNode = { name: m[1]!, value: m[2] ?? m[3] ?? m[4] ?? null, children: [] };
    stack.length = level + 1;
    stack[level]!.children.push(node);
    stack.push(node);
  }
  return root;
}

function section(root: ZplNode, name: string): ZplNode | undefined {
  return root.children.find((c) => c.name === name);
}

/** Reads a certificate's text. Throws CertificateError naming what is wrong. */
export function parseCertificate(text: string): Certificate {
  const root = parseZpl(text);
  const curve = section(root, 'curve');
  if (!curve) throw new CertificateError('no "curve" section');
  const get = (k: string) => curve.children.find((c) => c.name === k)?.value ?? undefined;
  const publicKey = get('public-key');
  if (publicKey === undefined) throw new CertificateError('no curve/public-key');
  if (!Z85_KEY_RE.test(publicKey) || !z85Decode(publicKey)) throw new CertificateError('curve/public-key is not a 40-character Z85 key');
  const cert: Certificate = { publicKey, metadata: {} };
  const secretKey = get('secret-key');
  if (secretKey !== undefined) {
    if (!Z85_KEY_RE.test(secretKey) || !z85Decode(secretKey)) throw new CertificateError('curve/secret-key is not a 40-character Z85 key');
    if (publicKeyOf(secretKey) !== publicKey) throw new CertificateError('curve/secret-key does not belong to curve/public-key');
    cert.secretKey = secretKey;
  }
  for (const item of section(root, 'metadata')?.children ?? []) cert.metadata[item.name] = item.value ?? '';
  return cert;
}

function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The text zcert_save_public / zcert_save_secret write (comment header, metadata, curve). */
export function formatCertificate(cert: Certificate, kind: 'public' | 'secret', now = new Date()): string {
  const header =
    kind === 'public'
      ? ['   ZeroMQ CURVE Public Certificate', '   Exchange securely, or use a secure mechanism to verify the contents', '   of this file after exchange. Store public certificates in your home', '   directory, in the .curve subdirectory.']
      : ['   ZeroMQ CURVE **Secret** Certificate', '   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.'];
  const lines = [`#   ****  Generated on ${timestamp(now)} by cohort keygen  ****`, ...header.map((h) => `#${h}`), '', 'metadata'];
  for (const [k, v] of Object.entries(cert.metadata)) {
    if (!/^[A-Za-z0-9$\-_@.&+/]+$/.test(k) || v.includes('"') || /[\r\n]/.test(v)) throw new CertificateError(`metadata ${JSON.stringify(k)} cannot be written in ZPL`);
    lines.push(`    ${k} = "${v}"`);
  }
  lines.push('curve', `    public-key = "${cert.publicKey}"`);
  if (kind === 'secret') {
    if (!cert.secretKey) throw new CertificateError('a secret certificate needs the secret key');
    lines.push(`    secret-key = "${cert.secretKey}"`);
  }
  return `${lines.join('\n')}\n`;
}

// X25519 private keys in PKCS#8 DER: this fixed prefix, then the 32 key bytes.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The CURVE public key (Z85) that belongs to a secret key (Z85): X25519 of the base point. */
export function publicKeyOf(secretKey: string): string {
  const raw = z85Decode(secretKey);
  if (!raw || raw.length !== 32) throw new CertificateError('secret key is not a 40-character Z85 key');
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(priv).export({ format: 'jwk' }).x;
  if (!x) throw new CertificateError('cannot derive the public key');
  return z85Encode(Buffer.from(x, 'base64url'));
}

/** A node crypto private key object for a Z85 secret key (for the direct-message tags). */
export function x25519PrivateKey(secretKey: string): ReturnType<typeof createPrivateKey> {
  const raw = z85Decode(secretKey);
  if (!raw || raw.length !== 32) throw new CertificateError('secret key is not a 40-character Z85 key');
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
}

/** A node crypto public key object for a Z85 public key. */
export function x25519PublicKey(publicKey: string): ReturnType<typeof createPublicKey> {
  const raw = z85Decode(publicKey);
  if (!raw || raw.length !== 32) throw new CertificateError('public key is not a 40-character Z85 key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}
