/** Builds the secure mode of `cohort agent` from its config: keys, allow-list, HTTP token. */
import type { LevelLogger } from '../runtime/rate-limited-log.js';
import { AllowList } from './allow-list.js';
import type { SecurityConfig } from './config.js';
import { httpTokenFile, loadOrCreateToken } from './http-auth.js';
import { loadOwnKeys, SecurityConfigError, type OwnKeys } from './keys.js';
import { PeerSecurity } from './peer-security.js';

export interface SecuritySetup {
  security: PeerSecurity | undefined;
  /** The HTTP bearer token, or null (open API). */
  httpToken: string | null;
  httpTokenFile: string | null;
}

/**
 * The own keys and the allow-list, as `cohort agent` would load them (and `cohort check`
 * checks them). Throws SecurityConfigError (one line) for missing, unreadable, misnamed or
 * malformed keys and for any unusable certificate in the allow-list.
 */
export function loadSecurity(security: SecurityConfig, node: string, log: LevelLogger): { keys: OwnKeys; allow: AllowList } {
  const keys = loadOwnKeys(security.keys, node);
  const allow = new AllowList(security.allow, keys, log);
  const bad = allow.initialProblems[0];
  if (bad) throw new SecurityConfigError(`allow-list certificate ${bad.file}: ${bad.reason}${allow.initialProblems.length > 1 ? ` (and ${allow.initialProblems.length - 1} more)` : ''}`);
  return { keys, allow };
}

/** Throws SecurityConfigError (one line; the CLI exits with EXIT_SECURITY) for anything unusable. */
export function setUpSecurity(
  config: { node: string; security: SecurityConfig | null; httpToken: string | null; stateDir: string | null; http: string | null },
  log: LevelLogger,
): SecuritySetup {
  let security: PeerSecurity | undefined;
  if (config.security) {
    const { keys, allow } = loadSecurity(config.security, config.node, log);
    security = new PeerSecurity(keys, allow, log);
    log.info({ publicKey: keys.publicKey, keys: keys.file, allow: allow.dir, peers: allow.list().map((k) => k.name) }, 'secure mode: CURVE on every socket, allow-listed peers only');
  } else {
    log.warn({}, 'plaintext mode: no --keys/--allow; anyone on the network can read, join, vote and forge (README "Security")');
  }
  const file = config.http ? httpTokenFile({ httpToken: config.httpToken, secure: security !== undefined, stateDir: config.stateDir, node: config.node }) : null;
  const httpToken = file ? loadOrCreateToken(file) : null;
  if (config.http && !httpToken) log.warn({}, 'HTTP API without a token: anyone who can reach it can read status and control groups (set --http-token FILE)');
  return { security, httpToken, httpTokenFile: file };
}
