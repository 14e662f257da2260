/**
 * The netns {@link Backend}: every host is a network namespace of a
 * {@link NetnsCluster}, its agent is `ip netns exec <ns> node --import tsx
 * agent/cli.ts agent ...` (tracked by PID), bound to the host's LAN address,
 * and reached over HTTP through the host's unix-socket forwarder.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentArgs, CLI, helpListsDiscovery, httpGetOk, httpJson, REPO_ROOT, type AgentLaunch, type AgentStatus, type Backend, type HttpReply } from './backend.js';
import { fakeTimeEnv, NetnsCluster, type LossDirection } from './netns.js';

export interface NetnsBackendOptions {
  hosts: number | string[];
  prefix?: string;
  /** How long an agent may take to serve /status (default 30 s: tsx start-up on a loaded 2-core box). */
  readyTimeoutMs?: number;
  busPort?: number;
  httpPort?: number;
  /** Give each agent a --state-dir (default true). */
  stateDir?: boolean;
  /** Per-host-namespace kernel settings (NetnsClusterOptions.sysctls). */
  sysctls?: string[];
}

let helpText: Promise<string> | null = null;
/** `cohort agent --help`, once per process. */
export function agentHelp(): Promise<string> {
  helpText ??= new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, 'agent', '--help'], { cwd: REPO_ROOT, timeout: 30_000 }, (_err, stdout) => resolve(String(stdout)));
  });
  return helpText;
}

export class NetnsBackend implements Backend {
  readonly kind = 'netns';
  readonly hosts: readonly string[];
  private readonly procs = new Map<string, ChildProcess>();
  private readonly httpAgents = new Map<string, http.Agent>();
  private readonly busPort: number;
  private readonly httpPort: number;

  private constructor(
    readonly cluster: NetnsCluster,
    private readonly opts: NetnsBackendOptions,
  ) {
    this.hosts = cluster.hosts.map((h) => h.name);
    this.busPort = opts.busPort ?? 7001;
    this.httpPort = opts.httpPort ?? 8080;
  }

  static async create(opts: NetnsBackendOptions): Promise<NetnsBackend> {
    const cluster = await NetnsCluster.create({ hosts: opts.hosts, prefix: opts.prefix, forwardPorts: [opts.httpPort ?? 8080], ...(opts.sysctls ? { sysctls: opts.sysctls } : {}) });
    return new NetnsBackend(cluster, opts);
  }

  private httpAgent(host: string): http.Agent {
    let a = this.httpAgents.get(host);
    if (!a) {
      a = new http.Agent({ keepAlive: true, maxSockets: 4 });
      this.httpAgents.set(host, a);
    }
    return a;
  }

  private target(host: string) {
    return { socketPath: this.cluster.socketFor(host, this.httpPort) };
  }

  /**
   * Every namespace shares this machine's one kernel clock, which reports itself
   * unsynchronised here: the clock guard's default (`allow-same-host`) would refuse every
   * action across the namespaces' addresses, as it must across real boards. The bench says
   * what is true of it instead: one clock (`unsynchronised: allow`); offsets made with
   * libfaketime are still caught by the tolerance check. Real boards (ssh backend) keep the default.
   */
  private sharedClockConfig(dir: string): string {
    const file = join(dir, 'cohort.yaml');
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, '# netns bench: one kernel clock for every host\nclock:\n  unsynchronised: allow\n');
    return file;
  }

  async startAgent(host: string, launch: AgentLaunch): Promise<void> {
    const h = this.cluster.host(host);
    const running = this.procs.get(host);
    if (running && running.exitCode === null && running.signalCode === null) throw new Error(`agent on ${host} is already running`);
    const args = agentArgs(launch, {
      listen: h.ip,
      busPort: this.busPort,
      httpPort: this.httpPort,
      peers: this.cluster.hosts.map((x) => `${x.ip}:${this.busPort}`),
      iface: 'eth0',
      stateDir: this.opts.stateDir === false ? null : join(h.dir, 'state'),
      config: this.sharedClockConfig(h.dir),
    });
    const fake = fakeTimeEnv(launch.clockOffsetMs);
    const logFile = launch.logFile ?? join(h.dir, 'agent.log');
    mkdirSync(dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      // `env` execs node with the faketime variables set for node only (not for `ip`); the PID stays node's.
      proc = this.cluster.spawn(host, ['env', ...Object.entries(fake).map(([k, v]) => `${k}=${v}`), process.execPath, '--import', 'tsx', CLI, ...args], {
        cwd: REPO_ROOT,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, NO_PRETTY_LOGS: '1' },
      });
    } finally {
      closeSync(fd);
    }
    this.procs.set(host, proc);
    let exited: string | null = null;
    proc.once('exit', (code, signal) => (exited = `code ${code}, signal ${signal}`));
    const timeout = this.opts.readyTimeoutMs ?? 30_000;
    const start = performance.now();
    for (;;) {
      if (exited) throw new Error(`agent on ${host} exited while starting (${exited}):\n${tail(logFile)}`);
      try {
        await this.status(host);
        return;
      } catch {
        // not yet
      }
      if (performance.now() - start > timeout) throw new Error(`agent on ${host} did not serve /status within ${timeout} ms:\n${tail(logFile)}`);
      await sleep(100);
    }
  }

  async kill(host: string, signal: NodeJS.Signals): Promise<void> {
    const proc = this.procs.get(host);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) throw new Error(`agent on ${host} is not running`);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      proc.kill(signal);
      return;
    }
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
      this.httpAgents.get(host)?.destroy();
      this.httpAgents.delete(host);
    }
  }

  stopAgent(host: string): Promise<void> {
    return this.kill(host, 'SIGTERM');
  }

  status(host: string): Promise<AgentStatus> {
    return httpGetOk<AgentStatus>(this.target(host), this.httpAgent(host), '/status', 1500);
  }

  get<T>(host: string, path: string): Promise<T> {
    return httpGetOk<T>(this.target(host), this.httpAgent(host), path, 3000);
  }

  post<T = Record<string, unknown>>(host: string, path: string, body: unknown): Promise<HttpReply<T>> {
    return httpJson<T>(this.target(host), this.httpAgent(host), 'POST', path, body, 5000);
  }

  cut(host: string): Promise<void> {
    return this.cluster.cut(host);
  }

  restore(host: string): Promise<void> {
    return this.cluster.restore(host);
  }

  partition(sides: string[][]): Promise<void> {
    return this.cluster.partition(sides);
  }

  heal(): Promise<void> {
    return this.cluster.heal();
  }

  loss(host: string, percent: number, direction?: LossDirection): Promise<void> {
    return this.cluster.loss(host, percent, direction);
  }

  async supportsMdns(): Promise<boolean> {
    return helpListsDiscovery(await agentHelp());
  }

  async close(): Promise<void> {
    for (const a of this.httpAgents.values()) a.destroy();
    this.httpAgents.clear();
    await this.cluster.close();
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
