/**
 * The `security` part of the agent's configuration (and `httpToken`), validated apart from
 * agent/config.ts so that file only wires it in.
 *
 *   security:
 *     keys: /etc/cohort/keys        # the node's own certificate: a directory holding one NAME.key_secret, or the file
 *     allow: /etc/cohort/allow      # peers' public certificates (*.key), re-read when it changes
 *   httpToken: /var/lib/cohort/http-token   # bearer token for the HTTP API (created 0600 if missing)
 */
import { resolve } from 'node:path';

export interface SecurityConfig {
  /** `--keys`: own keypair (directory with one `*.key_secret`, or the file). */
  keys: string;
  /** `--allow`: directory of peers' `*.key` certificates. */
  allow: string;
}

type Raw = Record<string, unknown>;

export class SecurityConfigFieldError extends Error {
  override name = 'ConfigError';
}

function path(v: unknown, field: string, baseDir: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new SecurityConfigFieldError(`${field} must be a path, got ${JSON.stringify(v)}`);
  return resolve(baseDir, v);
}

/** Validates `security` (null: plaintext) and checks the peer list fits it. */
export function parseSecurityConfig(raw: Raw, baseDir: string, peers: readonly string[], discovery: string): SecurityConfig | null {
  const v = raw.security;
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new SecurityConfigFieldError('security must be a mapping with keys and allow');
  const s = v as Raw;
  for (const k of Object.keys(s)) if (k !== 'keys' && k !== 'allow') throw new SecurityConfigFieldError(`security: unknown field "${k}" (known: keys, allow)`);
  if (s.keys === undefined && s.allow === undefined) return null;
  if (s.keys === undefined) throw new SecurityConfigFieldError('security.allow is set but security.keys (--keys) is not: a secure agent needs its own keypair');
  if (s.allow === undefined) throw new SecurityConfigFieldError('security.keys is set but security.allow (--allow) is not: give the directory of the peers\' public certificates (it may be empty)');
  if (discovery === 'static') {
    const unnamed = peers.filter((p) => !/^[^@\s]+@/.test(p));
    if (unnamed.length > 0) {
      throw new SecurityConfigFieldError(`peers: with security on, name each static peer as NAME@host:port (NAME = its certificate's name in the allow-list): ${unnamed.join(', ')}`);
    }
  }
  return { keys: path(s.keys, 'security.keys', baseDir), allow: path(s.allow, 'security.allow', baseDir) };
}

/** `httpToken`: a file path, or null (see http-auth.ts for when a token is required). */
export function parseHttpToken(raw: Raw, baseDir: string): string | null {
  const v = raw.httpToken;
  if (v === undefined || v === null || v === '') return null;
  return path(v, 'httpToken', baseDir);
}
