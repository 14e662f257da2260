/**
 * HTTP to an agent's API (GET /status, /events, /metrics; POST /groups/...), for every
 * harness: agent processes on loopback (host and port) and the bench cluster (a unix
 * socket forwarded into a namespace, or a board's address). JSON answers are parsed,
 * anything else is returned as text; an HTTP error status is a reply, not an exception
 * (the tests check it), except in the `...Ok` helpers.
 */
import http from 'node:http';

export interface HttpReply<T = unknown> {
  status: number;
  body: T;
}

export interface HttpTarget {
  /** A unix socket forwarding to the agent (netns backend)... */
  socketPath?: string;
  /** ...or host and port to dial directly. */
  host?: string;
  port?: number;
  /** Extra request headers, e.g. the bearer token of an agent in secure mode. */
  headers?: Record<string, string>;
}

/** One HTTP request with a JSON body/answer (keep-alive through `agent`, if given). */
export function httpJson<T>(target: HttpTarget, agent: http.Agent | undefined, method: string, path: string, body?: unknown, timeoutMs = 2000): Promise<HttpReply<T>> {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        ...(target.socketPath ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
        method,
        path,
        ...(agent ? { agent } : {}),
        headers: { ...target.headers, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolvePromise({ status: res.statusCode ?? 0, body: parsed as T });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`HTTP ${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET that must answer 200; returns the body. `who` names the agent in the error. */
export async function httpGetOk<T>(target: HttpTarget, agent: http.Agent | undefined, path: string, timeoutMs = 2000, who = ''): Promise<T> {
  const r = await httpJson<T>(target, agent, 'GET', path, undefined, timeoutMs);
  if (r.status !== 200) throw new Error(`GET ${path}${who ? ` on ${who}` : ''}: HTTP ${r.status}`);
  return r.body;
}

/** POST that must succeed (2xx); returns the body. */
export async function httpPostOk<T>(target: HttpTarget, agent: http.Agent | undefined, path: string, body: unknown, timeoutMs = 5000, who = ''): Promise<T> {
  const r = await httpJson<T>(target, agent, 'POST', path, body, timeoutMs);
  if (r.status < 200 || r.status > 299) throw new Error(`POST ${path}${who ? ` on ${who}` : ''}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
