/** Certificates (czmq zcert format), key loading without silent downgrade, the live allow-list, direct tags, HTTP tokens. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import * as zmq from 'zeromq';
import { formatCertificate, parseCertificate, publicKeyOf } from '../../agent/security/cert.js';
import { z85Decode, z85Encode } from '../../agent/security/z85.js';
import { generateCertificate, loadOwnKeys, scanAllowList, SecurityConfigError } from '../../agent/security/keys.js';
import { AllowList } from '../../agent/security/allow-list.js';
import { DirectAuth } from '../../agent/security/direct-auth.js';
import { authorized, httpTokenFile, loadOrCreateToken } from '../../agent/security/http-auth.js';

const quiet = { info() {}, warn() {}, debug() {}, error() {} };

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'cohort-sec-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('Z85 round-trips the keys libzmq makes, and the public key follows from the secret', async (t) => {
  for (let i = 0; i < 20; i++) {
    const { publicKey, secretKey } = zmq.curveKeyPair();
    t.equal(z85Encode(z85Decode(publicKey)!), publicKey);
    t.equal(publicKeyOf(secretKey), publicKey, 'X25519(secret) = libzmq public key');
  }
  // RFC 32's test vector.
  t.equal(z85Encode(Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])), 'HelloWorld');
  t.equal(z85Decode('Hello Worl'), null, 'a space is not Z85');
  t.equal(z85Decode('%%%%%'), null, 'a chunk over 2^32 - 1 is refused');
});

t.test('zcert text: the layout czmq writes and reads, metadata name, secret optional', async (t) => {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  const text = formatCertificate({ publicKey, secretKey, metadata: { name: 'board-3' } }, 'secret', new Date(2026, 0, 2, 3, 4, 5));
  t.match(text, /^# {3}\*{4} {2}Generated on 2026-01-02 03:04:05 by cohort keygen {2}\*{4}\n# {3}ZeroMQ CURVE \*\*Secret\*\* Certificate\n/);
  t.match(text, /\nmetadata\n {4}name = "board-3"\ncurve\n {4}public-key = "[^"]{40}"\n {4}secret-key = "[^"]{40}"\n$/);
  t.same(parseCertificate(text), { publicKey, secretKey, metadata: { name: 'board-3' } });
  const pub = formatCertificate({ publicKey, metadata: {} }, 'public');
  t.notMatch(pub, /secret-key/);
  t.same(parseCertificate(pub), { publicKey, metadata: {} });
  // A certificate as czmq writes it (zconfig_save: comments, then sections with 4-space items).
  const czmq = `#   ****  Generated on 2015-01-20 12:44:09 by CZMQ  ****\n#   ZeroMQ CURVE Public Certificate\n\nmetadata\n    email = "ph@imatix.com"\n    name = "Pieter Hintjens"\ncurve\n    public-key = "${publicKey}"\n`;
  t.same(parseCertificate(czmq).metadata, { email: 'ph@imatix.com', name: 'Pieter Hintjens' });
  t.throws(() => parseCertificate('metadata\n'), /no "curve" section/);
  t.throws(() => parseCertificate('curve\n    public-key = "short"\n'), /Z85/);
  const other = zmq.curveKeyPair();
  t.throws(() => parseCertificate(`curve\n    public-key = "${publicKey}"\n    secret-key = "${other.secretKey}"\n`), /does not belong/);
  t.throws(() => parseCertificate('curve\n\tpublic-key = "x"\n'), /indentation|expected/);
});

t.test('keygen writes NAME.key (public) and NAME.key_secret (0600), never overwrites', async (t) => {
  const d = tmp(t);
  const r = generateCertificate(d, 'board-7');
  t.equal(statSync(r.secretFile).mode & 0o777, 0o600);
  t.notMatch(readFileSync(r.publicFile, 'utf8'), /secret-key/);
  const own = loadOwnKeys(d, 'board-7');
  t.equal(own.publicKey, r.publicKey);
  t.equal(loadOwnKeys(join(d, 'board-7.key'), 'board-7').publicKey, r.publicKey, '--keys NAME.key means its _secret');
  t.throws(() => generateCertificate(d, 'board-7'), /exists: not overwriting/);
  t.throws(() => generateCertificate(d, 'bad name'), SecurityConfigError);
});

t.test('own keys: missing, unreadable mode, malformed, public-only, wrong node, ambiguous directory → SecurityConfigError', async (t) => {
  const d = tmp(t);
  t.throws(() => loadOwnKeys(join(d, 'nope'), 'a'), /does not exist/);
  t.throws(() => loadOwnKeys(d, 'a'), /holds no \*\.key_secret/);
  const r = generateCertificate(d, 'a');
  chmodSync(r.secretFile, 0o644);
  t.throws(() => loadOwnKeys(d, 'a'), /mode 0644: others can read it; chmod 600/);
  chmodSync(r.secretFile, 0o600);
  t.throws(() => loadOwnKeys(d, 'b'), /is for node "a", but this agent is node "b"/);
  generateCertificate(d, 'b');
  t.throws(() => loadOwnKeys(d, 'a'), /holds 2 \*\.key_secret files/);
  t.equal(loadOwnKeys(r.secretFile, 'a').name, 'a');
  const bad = join(d, 'c.key_secret');
  writeFileSync(bad, 'curve\n    public-key = "nope"\n', { mode: 0o600 });
  t.throws(() => loadOwnKeys(bad, 'c'), /c\.key_secret is malformed/);
  const pubOnly = join(d, 'p.key_secret');
  writeFileSync(pubOnly, readFileSync(r.publicFile, 'utf8').replace('name = "a"', 'name = "p"'), { mode: 0o600 });
  t.throws(() => loadOwnKeys(pubOnly, 'p'), /no curve\/secret-key/);
});

t.test('allow-list: names from metadata or file name; bad files skipped and reported; live reload', async (t) => {
  const keysDir = tmp(t);
  const allowDir = tmp(t);
  const own = generateCertificate(keysDir, 'self');
  const b = generateCertificate(keysDir, 'b');
  const c = generateCertificate(keysDir, 'c');
  writeFileSync(join(allowDir, 'b.key'), readFileSync(b.publicFile));
  // No metadata name: the file name stands for the node.
  writeFileSync(join(allowDir, 'c-board.key'), `curve\n    public-key = "${c.publicKey}"\n`);
  writeFileSync(join(allowDir, 'junk.key'), 'not a cert');
  writeFileSync(join(allowDir, 'dup.key'), readFileSync(b.publicFile));
  writeFileSync(join(allowDir, 'ignored.txt'), 'x');
  const scan = scanAllowList(allowDir);
  t.same(scan.keys.map((k) => k.name).sort(), ['b', 'c-board']);
  t.same(scan.problems.map((p) => p.file.replace(`${allowDir}/`, '')).sort(), ['dup.key', 'junk.key']);
  rmSync(join(allowDir, 'junk.key'));
  rmSync(join(allowDir, 'dup.key'));

  const allow = new AllowList(allowDir, loadOwnKeys(keysDir.concat('/self.key_secret'), 'self'), quiet);
  t.teardown(() => allow.close());
  t.equal(allow.nameOf(own.publicKey), 'self', 'our own key is always admitted');
  t.equal(allow.nameOf(b.publicKey), 'b');
  t.equal(allow.keyFor('c-board'), c.publicKey);
  t.equal(allow.nameOf(zmq.curveKeyPair().publicKey), undefined, 'a stranger');
  const changes: { added: string[]; removed: string[] }[] = [];
  allow.on('change', (ch) => changes.push({ added: ch.added.map((k) => k.name), removed: ch.removed.map((k) => k.name) }));
  allow.watch(200);
  unlinkSync(join(allowDir, 'b.key'));
  for (let i = 0; i < 50 && allow.nameOf(b.publicKey) !== undefined; i++) await sleep(50);
  t.equal(allow.nameOf(b.publicKey), undefined, 'a removed certificate is refused without a restart');
  t.same(changes[0], { added: [], removed: ['b'] });
});

t.test('direct tags: only the named sender (with its key) makes a tag the receiver accepts', async (t) => {
  const a = zmq.curveKeyPair();
  const b = zmq.curveKeyPair();
  const m = zmq.curveKeyPair();
  const keysOf = (name: string) => ({ a: [a.publicKey], b: [b.publicKey], m: [m.publicKey] })[name] ?? [];
  const A = new DirectAuth('a', a.secretKey, keysOf);
  const B = new DirectAuth('b', b.secretKey, keysOf);
  const M = new DirectAuth('m', m.secretKey, keysOf);
  const frame = Buffer.from('ballot');
  const tag = A.tag(b.publicKey, frame);
  t.equal(B.verify(Buffer.from('a'), tag, frame), 'a');
  t.equal(B.verify(Buffer.from('a'), tag, Buffer.from('ballox')), null, 'another frame');
  t.equal(B.verify(Buffer.from('m'), tag, frame), null, 'another claimed sender');
  t.equal(B.verify(Buffer.from('a'), M.tag(b.publicKey, frame), frame), null, 'an admitted key cannot speak for another node');
  t.equal(B.verify(Buffer.from('x'), tag, frame), null, 'an unknown node');
  t.equal(B.verify(Buffer.from('a'), tag.subarray(0, 8), frame), null, 'a short tag');
});

t.test('HTTP token: created 0600, refused when others can read it, required except on open routes', async (t) => {
  const d = tmp(t);
  const file = join(d, 'sub', 'http-token');
  const token = loadOrCreateToken(file);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(loadOrCreateToken(file), token, 'read back on the next start');
  chmodSync(file, 0o640);
  t.throws(() => loadOrCreateToken(file), /others can read it/);
  t.equal(httpTokenFile({ httpToken: null, secure: false, stateDir: '/x', node: 'n' }), null, 'plaintext without --http-token: open');
  t.equal(httpTokenFile({ httpToken: null, secure: true, stateDir: '/x', node: 'n' }), '/x/n/http-token');
  t.throws(() => httpTokenFile({ httpToken: null, secure: true, stateDir: null, node: 'n' }), /set --http-token/);
  const req = (h?: string) => ({ headers: h ? { authorization: h } : {} }) as never;
  t.notOk(authorized(req(), '/status', token));
  t.notOk(authorized(req(`Bearer ${token}x`), '/status', token));
  t.ok(authorized(req(`Bearer ${token}`), '/status', token));
  t.ok(authorized(req(), '/healthz', token), '/healthz stays open');
  t.ok(authorized(req(), '/status', null), 'no token configured: open');
});
