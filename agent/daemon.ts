/**
 * `cohort agent`: build an Agent from a validated config, join its groups, host
 * its components, serve HTTP, and leave cleanly on SIGINT/SIGTERM.
 */
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { ComponentHost } from './components/host.js';
import type { AgentConfig } from './config.js';
import { GroupWatch } from './group-watch.js';
import { AGENT_COMPONENT, startHttpServer, type Middleware } from './http/server.js';
import { Agent } from './runtime/agent.js';
import { FileHardStateStore, MemoryHardStateStore } from './runtime/hard-state-store.js';
import type { Discovery } from '../discovery/discovery.js';
import { MdnsDiscovery, mdnsOptionsFor } from '../discovery/mdns.js';
import { StaticDiscovery } from '../discovery/static.js';
import { setUpSecurity } from './security/setup.js';
import { bearerAuth } from './security/http-auth.js';

export interface RunningAgent {
  agent: Agent;
  httpUrl: string | null;
  /** Health and progress lines (see group-watch.ts). */
  watch: GroupWatch;
  stop(): Promise<void>;
}

/** Which start-up step failed, so the CLI can name the flag: binding the bus/direct ports, joining, or the HTTP server. */
export class AgentStartError extends Error {
  override name = 'AgentStartError';
  constructor(
    readonly step: 'transport' | 'join' | 'http',
    override readonly cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause), { cause });
  }
}

export interface RunAgentOptions {
  /** HTTP middleware, run before the routes (e.g. authentication). */
  httpMiddleware?: Middleware[];
}

export function makeLogger(level: string, node: string): Logger {
  const pretty = process.stdout.isTTY && !process.env.NO_PRETTY_LOGS;
  // `node` is in every line once, from here; log calls must not repeat it.
  return pino({ level, base: { node }, ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } } : {}) });
}

export async function runAgent(config: AgentConfig, log: Logger = makeLogger(config.logLevel, config.node), opts: RunAgentOptions = {}): Promise<RunningAgent> {
  const secure = setUpSecurity(config, log.child({ part: 'security' }));
  const agent = new Agent({
    security: secure.security,
    node: config.node,
    listenHost: config.listen,
    advertiseHost: config.advertise ?? undefined,
    busPort: config.busPort,
    directPort: config.directPort,
    discovery: makeDiscovery(config, log),
    store: config.stateDir
      ? new FileHardStateStore({ dir: config.stateDir, node: config.node, resetState: config.resetState, warn: (msg, file) => log.warn({ file }, msg) })
      : new MemoryHardStateStore(),
    logger: log,
    floodLimits: config.floodLimits,
  });
  if (!config.stateDir) {
    log.warn('no state directory (--no-state, stateDir: none): votes are kept in memory only; a restarted member may vote twice in a term if its old vote was granted in the same term; members start amnesiac and abstain from elections for a while');
  } else log.info({ stateDir: config.stateDir, resetState: config.resetState }, 'state directory');
  if (config.nodeSource === 'hostname') {
    log.warn({ node: config.node }, 'no machine id (/etc/machine-id, /var/lib/dbus/machine-id): the node id is the bare host name, which boards made from one image share; set --node');
  }
  let endpoints: { bus: string; direct: string };
  try {
    endpoints = await agent.start();
  } catch (err) {
    await agent.stop().catch(() => {});
    throw new AgentStartError('transport', err);
  }
  let hosts: ComponentHost[];
  try {
    hosts = await joinAll(agent, config);
  } catch (err) {
    // E.g. a damaged state file (StateFileError): leave what was joined, close the sockets, report.
    await agent.stop().catch(() => {});
    throw new AgentStartError('join', err);
  }
  try {
    // Secure mode (or --http-token): every route but /healthz wants the bearer token.
    const auth = secure.httpToken ? [bearerAuth(secure.httpToken)] : [];
    return await serve(agent, config, hosts, endpoints, log, { ...opts, httpMiddleware: [...auth, ...(opts.httpMiddleware ?? [])] });
  } catch (err) {
    for (const h of hosts) await h.deactivate().catch(() => {});
    await agent.stop().catch(() => {});
    throw new AgentStartError('http', err);
  }
}

async function joinAll(agent: Agent, config: AgentConfig): Promise<ComponentHost[]> {
  for (const g of config.groups) {
    const [type, instance] = g.name.split('.') as [string, string];
    const group = agent.join(AGENT_COMPONENT, type, instance, { minSize: g.minSize, timers: g.timers, timed: g.timed, deliverToSelf: g.deliverToSelf, adapt: g.adapt === false ? false : {}, clock: g.clock, timersReason: g.timersReason, ...(g.autoTimers && { autoTimers: g.autoTimers }) });
    if (config.autoVote !== 'abstain') {
      const yes = config.autoVote === 'yes';
      group.on('voteRequest', (r) => r.canVote && group.vote(r.ballotId, yes));
      group.on('actionVoteRequest', (r) => r.canVote && group.vote(r.ballotId, yes));
    }
  }
  const hosts = config.components.map((c) => new ComponentHost(agent, c));
  for (const h of hosts) await h.activate();
  return hosts;
}

async function serve(agent: Agent, config: AgentConfig, hosts: ComponentHost[], endpoints: { bus: string; direct: string }, log: Logger, opts: RunAgentOptions): Promise<RunningAgent> {
  let server: Server | null = null;
  let httpUrl: string | null = null;
  const watch = new GroupWatch(agent, { log, peers: config.discovery === 'static' ? config.peers : [] });
  if (config.http) ({ server, url: httpUrl } = await startHttpServer(agent, config.http, { watch, middleware: opts.httpMiddleware ?? [] }));
  log.info({ ...endpoints, http: httpUrl, groups: config.groups.map((g) => g.name), components: config.components.map((c) => c.name) }, 'agent ready');
  watch.start();

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      watch.stop();
      for (const h of hosts) await h.deactivate();
      await agent.stop();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server?.closeAllConnections();
    })());
  return { agent, httpUrl, watch, stop };
}

/**
 * The configured discovery. mDNS follows the agent's own address unless an interface is
 * set: an agent on loopback (the default listen address) announces on loopback only, with
 * multicast TTL 0, so nothing leaves the machine; one advertising an address of this
 * machine announces on that interface; a host name gets bonjour's default interface.
 * Throws MdnsOptionsError for an interface this machine does not have.
 */
export function makeDiscovery(config: AgentConfig, log: Logger): Discovery {
  if (config.discovery === 'static') return new StaticDiscovery(config.peers);
  return new MdnsDiscovery({ ...mdnsOptionsFor(config.advertise ?? config.listen, config.interface), logger: log.child({ part: 'mdns' }) });
}

/** Stop on the first SIGINT/SIGTERM (leaving groups, leaders handing over); a second one exits at once. */
export function stopOnSignals(running: RunningAgent, log: Logger): void {
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(1);
    signalled = true;
    log.info({ signal: sig }, 'stopping: leaving groups');
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
