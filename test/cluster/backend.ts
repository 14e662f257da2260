/**
 * What a scenario runs against: a set of named hosts, each able to run one
 * `cohort agent`, plus fault injection. Two implementations:
 *   - {@link ../netns-backend.ts}: network namespaces on this machine (root);
 *   - {@link ../ssh-backend.ts}: real boards (BeagleBones) driven with plain `ssh`.
 */
import type { HttpReply } from '../support/http.js';
export { httpGetOk, httpJson, type HttpReply, type HttpTarget } from '../support/http.js';
export { CLI, REPO_ROOT } from '../support/repo.js';
import type { AgentStatus, GroupStatus } from '../../agent/runtime/agent.js';
import type { LoggedEvent } from '../../agent/runtime/event-log.js';

export type { AgentStatus, GroupStatus, LoggedEvent };

export type Discovery = 'static' | 'mdns';

/** How to start the agent of one host. Endpoints (listen address, ports, peers) are the backend's business. */
export interface AgentLaunch {
  /** Node id (the scenarios use the host name). */
  node: string;
  /** `Type.instance` */
  group: string;
  minSize: number;
  /** `--timers` preset or spec. */
  timers: string;
  autoVote: 'yes' | 'no' | 'abstain';
  discovery: Discovery;
  /** Wall-clock offset of this agent's process, ms (0 = none). */
  clockOffsetMs: number;
  logLevel: string;
  /** Where to append the agent's stdout/stderr (optional). */
  logFile?: string;
  /** More agent arguments, appended last. */
  extraArgs?: string[];
}


export interface Backend {
  /** `netns`, `ssh`, ... (for logs). */
  readonly kind: string;
  /** Host names, in a fixed order. */
  readonly hosts: readonly string[];
  /** Start the host's agent; resolves when its /status answers. */
  startAgent(host: string, launch: AgentLaunch): Promise<void>;
  /** Graceful stop (SIGTERM: the agent leaves its groups); resolves when it is gone. */
  stopAgent(host: string): Promise<void>;
  /** Send a signal (SIGKILL = crash); resolves when the agent is gone (SIGSTOP: when sent). */
  kill(host: string, signal: NodeJS.Signals): Promise<void>;
  /** GET /status; throws when the agent does not answer. */
  status(host: string): Promise<AgentStatus>;
  /** GET any path (JSON). */
  get<T>(host: string, path: string): Promise<T>;
  /** POST a JSON body; never throws for an HTTP error status. */
  post<T = Record<string, unknown>>(host: string, path: string, body: unknown): Promise<HttpReply<T>>;
  cut(host: string): Promise<void>;
  restore(host: string): Promise<void>;
  /** Drop traffic between hosts of different sides (a side may hold every host not named, see the runner). */
  partition(sides: string[][]): Promise<void>;
  heal(): Promise<void>;
  /** Random loss on the host's LAN interface: in and out (default), or one direction (0 = none). */
  loss(host: string, percent: number, direction?: 'both' | 'in' | 'out'): Promise<void>;
  /** Optional: fixed extra delay on the host's LAN interface. */
  delay?(host: string, ms: number): Promise<void>;
  /** Whether `--discovery mdns` can be used (the agent build supports it and the network carries multicast). */
  supportsMdns(): Promise<boolean>;
  /** Stop everything this backend started and undo every fault. */
  close(): Promise<void>;
}

/**
 * The `cohort agent` arguments (after the command itself) for one host.
 * `peers`: every host's bus endpoint (static discovery); `iface`: the LAN interface (mDNS).
 */
export function agentArgs(launch: AgentLaunch, where: { listen: string; busPort: number; httpPort: number; peers: string[]; iface: string; stateDir: string | null; config?: string }): string[] {
  const args = ['agent', ...(where.config ? ['--config', where.config] : []), '--node', launch.node, '--listen', where.listen, '--group', launch.group, '--min-size', String(launch.minSize), '--bus-port', String(where.busPort)];
  if (launch.discovery === 'mdns') args.push('--discovery', 'mdns', '--interface', where.iface);
  else args.push('--peers', where.peers.join(','));
  args.push('--http', `${where.listen}:${where.httpPort}`, '--timers', launch.timers, '--auto-vote', launch.autoVote);
  // Without a state dir of its own an agent runs --no-state, never in the machine's default directory.
  args.push(...(where.stateDir ? ['--state-dir', where.stateDir] : ['--no-state']));
  args.push('--log-level', launch.logLevel, ...(launch.extraArgs ?? []));
  return args;
}

/** Whether `cohort agent --help` text lists the `--discovery` option. */
export function helpListsDiscovery(helpText: string): boolean {
  return /(^|\s)--discovery\b/m.test(helpText);
}

// ------------------------------------------------------------------ HTTP helpers

