/**
 * Loading the agent's own CURVE keypair and its allow-list of peers' certificates, with
 * no silent downgrade: keys that are configured but missing, unreadable, malformed or
 * readable by others are a {@link SecurityConfigError} (the CLI prints one line and exits
 * with {@link EXIT_SECURITY}), never a fallback to plaintext.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, statSync, writeSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import * as zmq from 'zeromq';
import { nodeNameProblem } from '../core/names.js';
import { CertificateError, formatCertificate, parseCertificate, type Certificate } from './cert.js';

/** Exit status of `cohort agent` for unusable security settings (distinct from EXIT in startup-errors.ts: usage 2, environment 3, runtime 4). */
export const EXIT_SECURITY = 5;

export class SecurityConfigError extends Error {
  override name = 'SecurityConfigError';
}

export interface OwnKeys {
  /** The node id the certificate names (metadata `name`, else the file name). */
  name: string;
  publicKey: string;
  secretKey: string;
  file: string;
}

/** One admitted peer certificate. */
export interface AllowedKey {
  name: string;
  publicKey: string;
  file: string;
  /** Modification time (ms): with two keys for one name (a rotation), the newer is dialled. */
  mtimeMs: number;
}

const SECRET_SUFFIX = '.key_secret';
const PUBLIC_SUFFIX = '.key';

/** The node name a certificate stands for: metadata `name`, else the file name minus `.key`/`.key_secret`. */
export function certName(cert: Certificate, file: string): string {
  const meta = cert.metadata.name;
  return meta !== undefined && meta !== '' ? meta : basename(file).replace(/\.key(_secret)?$/, '');
}

function statOrThrow(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SecurityConfigError(`${what} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`}`);
  }
}

/** Which file `--keys PATH` means: PATH itself (`NAME.key_secret`, or `NAME.key` → its `_secret`),
 *  or, for a directory, the single `*.key_secret` in it. */
export function ownSecretFile(path: string): string {
  const st = statOrThrow(path, '--keys');
  if (st.isDirectory()) {
    let names: string[];
    try {
      names = readdirSync(path).filter((f) => f.endsWith(SECRET_SUFFIX));
    } catch (err) {
      throw new SecurityConfigError(`--keys ${path} cannot be listed: ${(err as Error).message}`);
    }
    if (names.length === 0) throw new SecurityConfigError(`--keys ${path} holds no *${SECRET_SUFFIX} file (make one with: cohort keygen --out ${path})`);
    if (names.length > 1) throw new SecurityConfigError(`--keys ${path} holds ${names.length} *${SECRET_SUFFIX} files (${names.join(', ')}): name one, --keys ${join(path, names[0]!)}`);
    return join(path, names[0]!);
  }
  if (path.endsWith(PUBLIC_SUFFIX)) return `${path}_secret`;
  return path;
}

/** Loads and checks the agent's own keypair. `node`: the agent's node id, which the certificate must name. */
export function loadOwnKeys(path: string, node: string): OwnKeys {
  const file = ownSecretFile(path);
  const st = statOrThrow(file, 'secret certificate');
  if (!st.isFile()) throw new SecurityConfigError(`secret certificate ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new SecurityConfigError(`secret certificate ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: others can read it; chmod 600 ${file} (and consider the key leaked if others did read it)`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SecurityConfigError(`secret certificate ${file} cannot be read: ${(err as Error).message}`);
  }
  let cert: Certificate;
  try {
    cert = parseCertificate(text);
  } catch (err) {
    if (err instanceof CertificateError) throw new SecurityConfigError(`secret certificate ${file} is malformed: ${err.message}`);
    throw err;
  }
  if (!cert.secretKey) throw new SecurityConfigError(`${file} has no curve/secret-key: it is a public certificate; --keys needs the NAME${SECRET_SUFFIX} file`);
  const name = certName(cert, file);
  if (name !== node) throw new SecurityConfigError(`secret certificate ${file} is for node ${JSON.stringify(name)}, but this agent is node ${JSON.stringify(node)}: peers bind a key to the name in its certificate, so they would drop all its frames`);
  return { name, publicKey: cert.publicKey, secretKey: cert.secretKey, file };
}

export interface AllowListScan {
  keys: AllowedKey[];
  /** Files skipped, with the reason (malformed, unreadable, duplicate key, bad name). */
  problems: { file: string; reason: string }[];
}

/** Reads every `*.key` in `dir` (like czmq's zcertstore). Problems are reported, not thrown,
 *  except when the directory itself cannot be listed. */
export function scanAllowList(dir: string): AllowListScan {
  const st = statOrThrow(dir, '--allow');
  if (!st.isDirectory()) throw new SecurityConfigError(`--allow ${dir} is not a directory`);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(PUBLIC_SUFFIX)).sort();
  } catch (err) {
    throw new SecurityConfigError(`--allow ${dir} cannot be listed: ${(err as Error).message}`);
  }
  const keys: AllowedKey[] = [];
  const problems: AllowListScan['problems'] = [];
  const byKey = new Map<string, AllowedKey>();
  for (const f of files) {
    const file = join(dir, f);
    try {
      const fst = statSync(file);
      if (!fst.isFile()) throw new CertificateError('not a regular file');
      const cert = parseCertificate(readFileSync(file, 'utf8'));
      const name = certName(cert, file);
      const bad = nodeNameProblem(name);
      if (bad) throw new CertificateError(`certificate name ${bad}`);
      const other = byKey.get(cert.publicKey);
      if (other) throw new CertificateError(`same public key as ${other.file}`);
      const k: AllowedKey = { name, publicKey: cert.publicKey, file, mtimeMs: fst.mtimeMs };
      byKey.set(k.publicKey, k);
      keys.push(k);
    } catch (err) {
      problems.push({ file, reason: (err as Error).message });
    }
  }
  return { keys, problems };
}

/** Writes `DIR/NAME.key` (0644) and `DIR/NAME.key_secret` (0600); refuses to overwrite. */
export function generateCertificate(dir: string, name: string, now = new Date()): { publicFile: string; secretFile: string; publicKey: string } {
  const bad = nodeNameProblem(name);
  if (bad) throw new SecurityConfigError(`--name ${bad}`);
  const { publicKey, secretKey } = zmq.curveKeyPair();
  const cert: Certificate = { publicKey, secretKey, metadata: { name } };
  const publicFile = join(dir, `${name}${PUBLIC_SUFFIX}`);
  const secretFile = join(dir, `${name}${SECRET_SUFFIX}`);
  for (const f of [publicFile, secretFile]) {
    let exists = true;
    try {
      statSync(f);
    } catch {
      exists = false;
    }
    if (exists) throw new SecurityConfigError(`${f} exists: not overwriting a key (move it aside first)`);
  }
  writeNew(secretFile, formatCertificate(cert, 'secret', now), 0o600);
  writeNew(publicFile, formatCertificate(cert, 'public', now), 0o644);
  return { publicFile, secretFile, publicKey };
}

function writeNew(file: string, text: string, mode: number): void {
  let fd: number;
  try {
    // 'wx': never follow or truncate something already there; the mode applies at creation.
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    throw new SecurityConfigError(`cannot create ${file}: ${(err as Error).message}`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
