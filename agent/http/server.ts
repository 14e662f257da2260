/**
 * The agent's HTTP face: `GET /status` (the JSON contract), `GET /metrics`
 * (Prometheus), `GET /events?after=N`, and a small control API used by the demo,
 * the bench-cluster scenarios and operators:
 *   GET  /healthz                200 healthy / 503 not, with the reason per group
 *   POST /groups/{group}/send    {"object": any}
 *   POST /groups/{group}/vote    {"topic": any, "kind"?, "timeoutMs"?}        → {"ballotId"}
 *   POST /groups/{group}/action  {"action": any, "when"? | "inMs"?, "kind"?, "timeoutMs"?} → {"ballotId", "when"}
 *   POST /groups/{group}/leave
 * Control calls act on the agent's own member of the group (component `agent`); when the
 * agent hosts the group only through components, on the one component member there is (or
 * the one named by `"component"` in the body).
 * Bind it to loopback (the default) unless the network is trusted.
 *
 * Requests pass a list of middleware before the routes (see {@link Middleware}); one that
 * answers the request (e.g. an authentication check) ends it there.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BadArgumentsError, CohortError, NoLeaderError, NotLeaderError } from '../core/errors.js';
import { MAX_EPOCH_MS, MAX_POLL_TIMEOUT_MS } from '../core/limits.js';
import type { Group } from '../api/group.js';
import type { Agent } from '../runtime/agent.js';
import { GroupWatch } from '../group-watch.js';
import type { Registry } from 'prom-client';

export const AGENT_COMPONENT = 'agent';
const MAX_BODY = 64 * 1024;

/**
 * Runs before the routes. Return true when it has answered the request (then nothing else
 * runs), false to pass it on.
 */
export type Middleware = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface HttpServerOptions {
  /** Run in order before the routes. */
  middleware?: Middleware[];
  /** The watch behind /healthz (default: one started for this server, stopped with it). */
  watch?: GroupWatch;
}

function reply(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BadArgumentsError(`request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadArgumentsError('request body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadArgumentsError('request body must be a JSON object');
  return v as Record<string, unknown>;
}

function statusFor(err: unknown): number {
  if (err instanceof NoLeaderError) return 409;
  if (err instanceof NotLeaderError) return 409;
  if (err instanceof BadArgumentsError) return 400;
  if (err instanceof CohortError) return 409;
  return 500;
}

/** A whole number of ms in 1..max for `field`, or undefined when absent. */
function msField(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new BadArgumentsError(`${field} must be a number of milliseconds in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The member this agent answers control calls with, for `Type.instance`. */
function controlGroup(agent: Agent, type: string, instance: string, component: unknown): Group | { error: number; message: string } {
  const name = `${type}.${instance}`;
  if (component !== undefined) {
    if (typeof component !== 'string') throw new BadArgumentsError(`component must be a component name, got ${JSON.stringify(component)}`);
    return agent.getGroup(component, type, instance) ?? { error: 404, message: `component ${component} of this agent is not a member of ${name}` };
  }
  const own = agent.getGroup(AGENT_COMPONENT, type, instance);
  if (own) return own;
  const members = agent.status().groups.filter((g) => g.group === name);
  if (members.length === 1) return agent.getGroup(members[0]!.component, type, instance)!;
  if (members.length === 0) return { error: 404, message: `this agent is not a member of ${name}` };
  return { error: 400, message: `this agent has ${members.length} members in ${name} (${members.map((g) => g.component).join(', ')}): say which with "component"` };
}

export async function startHttpServer(agent: Agent, hostPort: string, opts: HttpServerOptions = {}): Promise<{ server: Server; url: string }> {
  // prom-client and the metric definitions load on the first scrape: an agent nobody
  // scrapes never pays for them (~4 MiB of RSS). The counters are read from the agent's
  // status at each scrape, so nothing is missed before the first one.
  let registry: Promise<Registry> | null = null;
  const metrics = () => (registry ??= import('./metrics.js').then((m) => m.agentMetrics(agent)));
  const ownWatch = opts.watch === undefined;
  const watch = opts.watch ?? new GroupWatch(agent).start();
  const middleware = opts.middleware ?? [];
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = statusFor(err);
      if (status === 500) agent.log.error({ err }, 'http handler failed');
      reply(res, status, { error: (err as Error).name, message: (err as Error).message });
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const path = url.pathname;
    for (const m of middleware) if (await m(req, res, url)) return;
    if (req.method === 'GET' && path === '/status') return reply(res, 200, agent.status());
    if (req.method === 'GET' && path === '/healthz') {
      const h = watch.health();
      return reply(res, h.healthy ? 200 : 503, h);
    }
    if (req.method === 'GET' && path === '/metrics') {
      const r = await metrics();
      return reply(res, 200, await r.metrics(), r.contentType);
    }
    if (req.method === 'GET' && path === '/events') {
      const after = url.searchParams.get('after') ?? '0';
      if (!/^\d{1,15}$/.test(after)) throw new BadArgumentsError(`after must be an event sequence number (a whole number >= 0), got ${JSON.stringify(after)}`);
      return reply(res, 200, agent.events.since(Number(after)));
    }
    const m = /^\/groups\/([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\/(send|vote|action|leave)$/.exec(path);
    if (req.method === 'POST' && m) {
      const [, type, instance, verb] = m as unknown as [string, string, string, string];
      const body = await readJson(req);
      const group = controlGroup(agent, type, instance, body.component);
      if ('error' in group) return reply(res, group.error, { error: group.error === 404 ? 'NotFound' : 'BadArguments', message: group.message });
      const kind = body.kind === undefined ? undefined : body.kind === 'majority' || body.kind === 'consensus' ? body.kind : badKind(body.kind);
      const timeoutMs = msField(body, 'timeoutMs', 1, MAX_POLL_TIMEOUT_MS);
      switch (verb) {
        case 'send':
          group.sendObject(body.object ?? null);
          return reply(res, 200, { ok: true });
        case 'vote':
          return reply(res, 200, { ballotId: group.requestVoteObject(body.topic ?? null, { kind, timeoutMs }) });
        case 'action': {
          const inMs = msField(body, 'inMs', 0, MAX_POLL_TIMEOUT_MS);
          const when = body.when !== undefined ? msField(body, 'when', 0, MAX_EPOCH_MS)! : Date.now() + (inMs ?? 3000);
          const ballotId = group.requestActionVoteObject(body.action ?? null, when, { kind, timeoutMs });
          return reply(res, 200, { ballotId, when });
        }
        case 'leave':
          await group.leave();
          return reply(res, 200, { ok: true });
      }
    }
    reply(res, 404, { error: 'NotFound', message: `no route ${req.method} ${path}` });
  }
  const idx = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, idx).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(idx + 1));
  if (ownWatch) server.once('close', () => watch.stop());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      if (ownWatch) watch.stop();
      reject(err);
    });
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const realPort = typeof addr === 'object' && addr ? addr.port : port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${realPort}` };
}

function badKind(v: unknown): never {
  throw new BadArgumentsError(`kind must be 'majority' or 'consensus', got ${JSON.stringify(v)}`);
}
