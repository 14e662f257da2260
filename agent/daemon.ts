/**
 * `cohort agent`: build an Agent from a validated config, join its groups, host
 * its components, serve HTTP, and leave cleanly on SIGINT/SIGTERM.
 */
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { ComponentHost } from './components/host.js';
import type { AgentConfig } from './config.js';
import { AGENT_COMPONENT, startHttpServer } from './http/server.js';
import { Agent } from './runtime/agent.js';
import { FileHardStateStore, MemoryHardStateStore } from './runtime/hard-state-store.js';
import type { Discovery } from '../discovery/discovery.js';
import { MdnsDiscovery, mdnsOptionsFor } from '../discovery/mdns.js';
import { StaticDiscovery } from '../discovery/static.js';

export interface RunningAgent {
  agent: Agent;
  httpUrl: string | null;
  stop(): Promise<void>;
}

export function makeLogger(level: string, node: string): Logger {
  const pretty = process.stdout.isTTY && !process.env.NO_PRETTY_LOGS;
  return pino({ level, base: { node }, ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } } : {}) });
}

export async function runAgent(config: AgentConfig, log: Logger = makeLogger(config.logLevel, config.node)): Promise<RunningAgent> {
  const agent = new Agent({
    node: config.node,
    listenHost: config.listen,
    advertiseHost: config.advertise ?? undefined,
    busPort: config.busPort,
    directPort: config.directPort,
    discovery: makeDiscovery(config, log),
    store: config.stateDir ? new FileHardStateStore(config.stateDir) : new MemoryHardStateStore(),
    logger: log,
  });
  if (!config.stateDir) log.warn('no stateDir: votes are not persisted, so a restarted member could vote twice in one term');
  const endpoints = await agent.start();
  for (const g of config.groups) {
    const [type, instance] = g.name.split('.') as [string, string];
    const group = agent.join(AGENT_COMPONENT, type, instance, { minSize: g.minSize, timers: g.timers, timed: g.timed, deliverToSelf: g.deliverToSelf });
    if (config.autoVote !== 'abstain') {
      const yes = config.autoVote === 'yes';
      group.on('voteRequest', (r) => r.canVote && group.vote(r.ballotId, yes));
      group.on('actionVoteRequest', (r) => r.canVote && group.vote(r.ballotId, yes));
    }
  }
  const hosts = config.components.map((c) => new ComponentHost(agent, c));
  for (const h of hosts) await h.activate();
  let server: Server | null = null;
  let httpUrl: string | null = null;
  if (config.http) ({ server, url: httpUrl } = await startHttpServer(agent, config.http));
  log.info({ ...endpoints, http: httpUrl, groups: config.groups.map((g) => g.name), components: config.components.map((c) => c.name) }, 'agent ready');

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      for (const h of hosts) await h.deactivate();
      await agent.stop();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server?.closeAllConnections();
    })());
  return { agent, httpUrl, stop };
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
