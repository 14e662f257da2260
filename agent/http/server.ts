/**
 * The agent's HTTP face: `GET /status` (the JSON contract), `GET /metrics`
 * (Prometheus), `GET /events?after=N`, and a small control API used by the demo,
 * the bench-cluster scenarios and operators:
 *   POST /groups/{group}/send    {"object": any}
 *   POST /groups/{group}/vote    {"topic": any, "kind"?, "timeoutMs"?}        → {"ballotId"}
 *   POST /groups/{group}/action  {"action": any, "when"? | "inMs"?, "kind"?, "timeoutMs"?} → {"ballotId", "when"}
 *   POST /groups/{group}/leave
 * Control calls act on the agent's own member of the group (component `agent`).
 * Bind it to loopback (the default) unless the network is trusted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BadArgumentsError, CohortError, NoLeaderError, NotLeaderError } from '../core/errors.js';
import type { Agent } from '../runtime/agent.js';
import { agentMetrics } from './metrics.js';
import { authorized } from '../security/http-auth.js';

export const AGENT_COMPONENT = 'agent';
const MAX_BODY = 64 * 1024;

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

/** `token`: the bearer token every route but the open ones needs (security/http-auth.ts); null: open. */
export async function startHttpServer(agent: Agent, hostPort: string, token: string | null = null): Promise<{ server: Server; url: string }> {
  const registry = agentMetrics(agent);
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
    if (!authorized(req, path, token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return reply(res, 401, { error: 'Unauthorized', message: 'send Authorization: Bearer <token> (the agent\'s --http-token file)' });
    }
    if (req.method === 'GET' && path === '/status') return reply(res, 200, agent.status());
    if (req.method === 'GET' && path === '/metrics') return reply(res, 200, await registry.metrics(), registry.contentType);
    if (req.method === 'GET' && path === '/events') return reply(res, 200, agent.events.since(Number(url.searchParams.get('after') ?? 0) || 0));
    const m = /^\/groups\/([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\/(send|vote|action|leave)$/.exec(path);
    if (req.method === 'POST' && m) {
      const [, type, instance, verb] = m as unknown as [string, string, string, string];
      const group = agent.getGroup(AGENT_COMPONENT, type, instance);
      if (!group) return reply(res, 404, { error: 'NotFound', message: `this agent is not a member of ${type}.${instance}` });
      const body = await readJson(req);
      const kind = body.kind === undefined ? undefined : body.kind === 'majority' || body.kind === 'consensus' ? body.kind : badKind(body.kind);
      const timeoutMs = body.timeoutMs === undefined ? undefined : Number(body.timeoutMs);
      switch (verb) {
        case 'send':
          group.sendObject(body.object ?? null);
          return reply(res, 200, { ok: true });
        case 'vote':
          return reply(res, 200, { ballotId: group.requestVoteObject(body.topic ?? null, { kind, timeoutMs }) });
        case 'action': {
          const when = body.when !== undefined ? Number(body.when) : Date.now() + (body.inMs !== undefined ? Number(body.inMs) : 3000);
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const realPort = typeof addr === 'object' && addr ? addr.port : port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${realPort}` };
}

function badKind(v: unknown): never {
  throw new BadArgumentsError(`kind must be 'majority' or 'consensus', got ${JSON.stringify(v)}`);
}
