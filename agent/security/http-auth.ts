/**
 * Bearer-token authentication of the HTTP control API.
 *
 * A token file fits both systemd and Docker: the agent creates it (32 random bytes, hex,
 * mode 0600) on first start in its state directory, or at `--http-token FILE`; `cohort
 * status --http-token FILE` and scripts read it from there (a root-only file under
 * /var/lib/cohort, or a Docker volume/secret mounted into both containers). Requests send
 * `Authorization: Bearer <token>`. A Unix socket was the alternative; it does not cross a
 * container boundary without a shared volume either, and breaks every HTTP client that
 * does not speak to sockets.
 *
 * When is a token required: always in secure mode (keys configured), and whenever
 * `--http-token` is given. A plaintext agent without `--http-token` keeps the old open API
 * (and says so in its log) so that existing benches keep working; it still binds
 * loopback by default.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { SecurityConfigError } from './keys.js';

/** Routes served without a token (liveness probes for systemd / Docker HEALTHCHECK). */
export const OPEN_ROUTES: readonly string[] = ['/healthz'];

export const TOKEN_FILE_NAME = 'http-token';

/** Reads the token in `file`, creating it (0600) if it does not exist. */
export function loadOrCreateToken(file: string): string {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SecurityConfigError(`HTTP token ${file} cannot be read: ${(err as Error).message}`);
  }
  if (!st) {
    const token = randomBytes(32).toString('hex');
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${token}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw new SecurityConfigError(`cannot create HTTP token ${file}: ${(err as Error).message}`);
    }
    return token;
  }
  if (!st.isFile()) throw new SecurityConfigError(`HTTP token ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) throw new SecurityConfigError(`HTTP token ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: others can read it; chmod 600 ${file}`);
  return readToken(file);
}

/** Reads a token file (for clients such as `cohort status`). */
export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new SecurityConfigError(`HTTP token ${file} cannot be read: ${(err as Error).message}`);
  }
  if (!/^[A-Za-z0-9._~+/=-]{16,512}$/.test(text)) throw new SecurityConfigError(`HTTP token ${file} does not hold a token (16..512 URL-safe characters)`);
  return text;
}

/** Which token file the agent uses, or null for an open API. */
export function httpTokenFile(o: { httpToken: string | null; secure: boolean; stateDir: string | null; node: string }): string | null {
  if (o.httpToken) return o.httpToken;
  if (!o.secure) return null;
  if (!o.stateDir) throw new SecurityConfigError('security is on and the HTTP API needs a token: set --http-token FILE (there is no state directory to keep one in)');
  return join(o.stateDir, o.node, TOKEN_FILE_NAME);
}

/** Whether `req` may proceed: open routes always; others need the bearer token (when one is set). */
export function authorized(req: IncomingMessage, path: string, token: string | null): boolean {
  if (token === null || OPEN_ROUTES.includes(path)) return true;
  const h = req.headers.authorization;
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) return false;
  const given = Buffer.from(h.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** The HTTP server middleware (agent/http/server.ts) that answers 401 without the token. */
export function bearerAuth(token: string): (req: IncomingMessage, res: ServerResponse, url: URL) => boolean {
  return (req, res, url) => {
    if (authorized(req, url.pathname, token)) return false;
    res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store', 'www-authenticate': 'Bearer' });
    res.end(`${JSON.stringify({ error: 'Unauthorized', message: "send Authorization: Bearer <token> (the agent's --http-token file)" })}\n`);
    return true;
  };
}
