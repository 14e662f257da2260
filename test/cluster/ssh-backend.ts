/**
 * The SSH {@link Backend}: real boards (BeagleBones...) on a bench LAN, driven
 * with plain `ssh` from the machine running the scenarios. Needs, on each
 * board: sshd with key login for a user that may run `nft` (root, or sudo
 * without password: set `sudo: true`), `nft`, `curl` (when status goes over
 * ssh), `cohort` (or any agent command), and `systemd-run` if that launcher is
 * chosen; optionally libfaketime (clock offsets).
 *
 * What runs where:
 *   - agents: `nohup setsid ... &` with a pid file (default), or a transient
 *     systemd unit `cohort-<run>-<host>` (`launcher: 'systemd-run'`);
 *   - faults are applied ON the boards (there is no bridge to reach):
 *       cut       = an nft table dropping everything in and out of the LAN
 *                   interface except ssh (and the controller, if given);
 *       partition = on each board, drop packets from/to the other sides' addresses;
 *       loss      = numgen random drop in and out of the LAN interface (ssh exempt);
 *     so a "cut" board still answers ssh (and the controller's HTTP if
 *     `controller` is set), unlike the netns backend where the cable is really out.
 *   - status/events/control: direct HTTP to the board (`statusVia: 'http'`,
 *     the agent must listen on its LAN address) or `curl` over ssh (`'ssh'`).
 *
 * Every command is built by a pure function (exported for the unit tests) and
 * run with execFile('ssh', argv): nothing goes through a local shell.
 * ssh connections are multiplexed (ControlMaster) to keep each command ~10 ms.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentArgs, helpListsDiscovery, httpGetOk, httpJson, type AgentLaunch, type AgentStatus, type Backend, type HttpReply, type HttpTarget } from './backend.js';
import { fakeTimeSpec } from './netns.js';

export interface SshHost {
  /** Scenario name of the host (`h1`, `bbb-3`...) and the agent's node id. */
  name: string;
  /** The board's LAN address: agents bind it, peers dial it, partitions filter on it. */
  address: string;
  /** ssh destination (default `root@<address>`). */
  ssh?: string;
  /** LAN interface (default eth0). */
  iface?: string;
  /** ssh ProxyCommand (e.g. a jump host, or a namespace in the tests). */
  proxyCommand?: string;
  /** How to reach the agent's HTTP directly (default address:httpPort). */
  http?: HttpTarget;
}

export interface SshBackendOptions {
  hosts: SshHost[];
  /** Private key for ssh -i. */
  identityFile?: string;
  /** More ssh -o options, e.g. ['StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null']. */
  sshOptions?: string[];
  /** The agent command on the boards (default ['cohort']). */
  agentCommand?: string[];
  /** Working directory for the agent command (default: the run directory). */
  agentCwd?: string;
  /** Remote base directory for pid files, logs and state (default /tmp/cohort-bench). */
  remoteDir?: string;
  launcher?: 'nohup' | 'systemd-run';
  statusVia?: 'http' | 'ssh';
  /** Prefix every privileged command (nft, systemd-run, systemctl) with sudo -n. */
  sudo?: boolean;
  /** Address of the machine running the scenarios: exempt from cut/partition/loss. */
  controller?: string;
  /** libfaketime on the boards (default: Debian armhf path, then arm64, then amd64). */
  libfaketime?: string;
  busPort?: number;
  httpPort?: number;
  /** Unique id of this run (unit names, remote directory). */
  runId?: string;
  /** Seconds an agent may take to serve /status (default 40: slow boards). */
  readyTimeoutMs?: number;
}

/** POSIX shell quoting. */
export function q(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const FAKETIME_LIBS = ['/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'];

/** Pure command builders (remote shell command lines), for the backend and its unit tests. */
export class SshCommands {
  readonly runId: string;
  readonly remoteDir: string;
  readonly busPort: number;
  readonly httpPort: number;

  constructor(readonly opts: SshBackendOptions) {
    this.runId = opts.runId ?? `r${process.pid % 1000}${Math.random().toString(36).slice(2, 6)}`;
    this.remoteDir = `${opts.remoteDir ?? '/tmp/cohort-bench'}/${this.runId}`;
    this.busPort = opts.busPort ?? 7001;
    this.httpPort = opts.httpPort ?? 8080;
  }

  host(name: string): SshHost {
    const h = this.opts.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  private sudo(cmd: string): string {
    return this.opts.sudo ? `sudo -n ${cmd}` : cmd;
  }

  /** argv for `ssh` running `remote` on the host (local side; ControlMaster in `controlDir`). */
  sshArgv(name: string, remote: string, controlDir: string): string[] {
    const h = this.host(name);
    const o = ['BatchMode=yes', 'ConnectTimeout=5', 'ServerAliveInterval=5', 'ControlMaster=auto', `ControlPath=${controlDir}/%C`, 'ControlPersist=120', 'LogLevel=ERROR', ...(this.opts.sshOptions ?? [])];
    if (h.proxyCommand) o.push(`ProxyCommand=${h.proxyCommand}`);
    return [...o.flatMap((x) => ['-o', x]), ...(this.opts.identityFile ? ['-i', this.opts.identityFile] : []), h.ssh ?? `root@${h.address}`, remote];
  }

  unit(name: string): string {
    return `cohort-${this.runId}-${name}`;
  }

  hostDir(name: string): string {
    return `${this.remoteDir}/${name}`;
  }

  agentArgv(name: string, launch: AgentLaunch): string[] {
    const h = this.host(name);
    const args = agentArgs(launch, {
      listen: h.address,
      busPort: this.busPort,
      httpPort: this.httpPort,
      peers: this.opts.hosts.map((x) => `${x.address}:${this.busPort}`),
      iface: h.iface ?? 'eth0',
      stateDir: `${this.hostDir(name)}/state`,
    });
    return [...(this.opts.agentCommand ?? ['cohort']), ...args];
  }

  fakeEnv(offsetMs: number): string[] {
    if (!offsetMs) return [];
    const lib = this.opts.libfaketime;
    return [lib ? `LD_PRELOAD=${lib}` : 'LD_PRELOAD=$FTLIB', `FAKETIME=${fakeTimeSpec(offsetMs)}`, 'FAKETIME_DONT_FAKE_MONOTONIC=1', 'FAKETIME_NO_CACHE=1'];
  }

  /** Finds libfaketime on the board into $FTLIB (when no explicit path is configured). */
  private findFaketime(): string {
    return `FTLIB=; for f in ${FAKETIME_LIBS.join(' ')}; do [ -e "$f" ] && FTLIB=$f && break; done; [ -n "$FTLIB" ] || { echo 'libfaketime missing on this board (apt-get install faketime)' >&2; exit 3; }; `;
  }

  start(name: string, launch: AgentLaunch): string {
    const dir = this.hostDir(name);
    const env = this.fakeEnv(launch.clockOffsetMs);
    const argv = this.agentArgv(name, launch).map(q).join(' ');
    const cwd = this.opts.agentCwd ?? dir;
    const pre = `mkdir -p ${q(dir)}/state || exit 1; ${env.length && !this.opts.libfaketime ? this.findFaketime() : ''}`;
    if ((this.opts.launcher ?? 'nohup') === 'systemd-run') {
      const setenv = env.map((e) => `--setenv=${e.includes('$FTLIB') ? `"LD_PRELOAD=$FTLIB"` : q(e)}`).join(' ');
      return `${pre}${this.sudo('systemd-run')} --unit=${this.unit(name)} --collect --quiet --property=KillMode=mixed --setenv=NO_PRETTY_LOGS=1 ${setenv} --working-directory=${q(cwd)} ${argv}`;
    }
    const envWords = env.map((e) => (e.includes('$FTLIB') ? `"LD_PRELOAD=$FTLIB"` : q(e))).join(' ');
    // setsid: own session, so the agent outlives this ssh session; it execs (no fork), so $! is the agent's PID.
    // (No `a && b &`: that would background a subshell, and $! would not be the agent.)
    return `${pre}cd ${q(cwd)} || exit 1; NO_PRETTY_LOGS=1 nohup setsid env ${envWords} ${argv} >> ${q(dir)}/agent.log 2>&1 < /dev/null & echo $! > ${q(dir)}/agent.pid`;
  }

  /** Send a signal and wait (up to ~10 s, then SIGKILL) until the agent is gone. */
  signal(name: string, signal: string): string {
    const sig = signal.replace(/^SIG/, '');
    if ((this.opts.launcher ?? 'nohup') === 'systemd-run') {
      const u = this.unit(name);
      if (sig === 'TERM') return `${this.sudo('systemctl')} stop ${u}`;
      return `${this.sudo('systemctl')} kill --signal=${sig} ${u}; for i in $(seq 100); do ${this.sudo('systemctl')} is-active --quiet ${u} || exit 0; sleep 0.1; done; ${this.sudo('systemctl')} kill --signal=KILL ${u}`;
    }
    const pidFile = `${q(this.hostDir(name))}/agent.pid`;
    const wait = sig === 'STOP' || sig === 'CONT' ? '' : `; for i in $(seq 100); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL "$p"`;
    return `p=$(cat ${pidFile}) && kill -${sig} "$p"${wait}`;
  }

  curl(name: string, method: 'GET' | 'POST', path: string): string {
    const h = this.host(name);
    const url = `http://${h.address.includes(':') ? `[${h.address}]` : h.address}:${this.httpPort}${path}`;
    if (method === 'GET') return `curl -sS --max-time 2 -w '\\n%{http_code}' ${q(url)}`;
    return `curl -sS --max-time 5 -X POST -H 'content-type: application/json' --data-binary @- -w '\\n%{http_code}' ${q(url)}`;
  }

  /** nft rules exempting the control path (ssh, and the controller if known) — put first in every chain. */
  private exempt(dir: 'in' | 'out', iface: string): string[] {
    const io = dir === 'in' ? `iifname "${iface}"` : `oifname "${iface}"`;
    const rules = [`${io} tcp ${dir === 'in' ? 'dport' : 'sport'} 22 accept`];
    if (this.opts.controller) rules.push(`${io} ip ${dir === 'in' ? 'saddr' : 'daddr'} ${this.opts.controller} accept`);
    return rules;
  }

  private table(name: string, table: string, inRules: string[], outRules: string[]): string {
    const iface = this.host(name).iface ?? 'eth0';
    const chain = (hook: 'input' | 'output', rules: string[]) =>
      `  chain ${hook} { type filter hook ${hook} priority -20; policy accept; ${[...this.exempt(hook === 'input' ? 'in' : 'out', iface), ...rules].join('; ')}; }`;
    // Creating then deleting first makes the script idempotent ("add table" never fails on an existing one).
    return [`add table inet ${table}`, `delete table inet ${table}`, `table inet ${table} {`, chain('input', inRules), chain('output', outRules), '}', ''].join('\n');
  }

  /** nft script (stdin of `nft -f -`) that cuts the host off its LAN, except the control path. */
  cutScript(name: string): string {
    const iface = this.host(name).iface ?? 'eth0';
    return this.table(name, 'cohort_cut', [`iifname "${iface}" drop`], [`oifname "${iface}" drop`]);
  }

  partitionScript(name: string, others: string[]): string {
    if (others.length === 0) return 'add table inet cohort_partition\ndelete table inet cohort_partition\n';
    const set = `{ ${others.map((n) => this.host(n).address).join(', ')} }`;
    return this.table(name, 'cohort_partition', [`ip saddr ${set} drop`], [`ip daddr ${set} drop`]);
  }

  lossScript(name: string, percent: number, direction: 'both' | 'in' | 'out' = 'both'): string {
    const iface = this.host(name).iface ?? 'eth0';
    if (percent <= 0) return 'add table inet cohort_loss\ndelete table inet cohort_loss\n';
    const p = Math.round(percent);
    return this.table(name, 'cohort_loss', direction === 'out' ? [] : [`iifname "${iface}" numgen random mod 100 < ${p} drop`], direction === 'in' ? [] : [`oifname "${iface}" numgen random mod 100 < ${p} drop`]);
  }

  nft(): string {
    return `${this.sudo('nft')} -f -`;
  }

  dropTable(table: string): string {
    return `${this.sudo('nft')} delete table inet ${table} 2>/dev/null; true`;
  }

  /** Clean-up on one board: stop the agent, drop every cohort_* table of ours, remove the run directory. */
  cleanup(name: string): string {
    const stop = (this.opts.launcher ?? 'nohup') === 'systemd-run'
      ? `${this.sudo('systemctl')} kill --signal=KILL ${this.unit(name)} 2>/dev/null; ${this.sudo('systemctl')} reset-failed ${this.unit(name)} 2>/dev/null`
      : `[ -f ${q(this.hostDir(name))}/agent.pid ] && kill -KILL "$(cat ${q(this.hostDir(name))}/agent.pid)" 2>/dev/null`;
    return `${stop}; ${['cohort_cut', 'cohort_partition', 'cohort_loss'].map((t) => this.dropTable(t)).join('; ')}; rm -rf ${q(this.remoteDir)}; true`;
  }
}

/** Split curl's `-w '\n%{http_code}'` output. */
export function parseCurl(out: string): { status: number; text: string } {
  const i = out.lastIndexOf('\n');
  const code = Number(out.slice(i + 1).trim());
  return { status: Number.isFinite(code) ? code : 0, text: i < 0 ? '' : out.slice(0, i) };
}

export class SshBackend implements Backend {
  readonly kind = 'ssh';
  readonly hosts: readonly string[];
  readonly cmd: SshCommands;
  private readonly controlDir: string;
  private readonly httpAgents = new Map<string, http.Agent>();
  private readonly running = new Set<string>();
  private readonly touched = new Set<string>();
  private partitioned = false;
  private closed = false;

  constructor(private readonly opts: SshBackendOptions) {
    this.cmd = new SshCommands(opts);
    this.hosts = opts.hosts.map((h) => h.name);
    this.controlDir = mkdtempSync(join(tmpdir(), 'cohort-ssh-'));
  }

  /** Run a remote command; resolves with stdout, rejects with stderr. */
  ssh(name: string, remote: string, input?: string, timeoutMs = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile('ssh', this.cmd.sshArgv(name, remote, this.controlDir), { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`ssh ${name} ${remote.slice(0, 80)}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      });
      child.stdin?.end(input ?? '');
    });
  }

  private agentOf(name: string): http.Agent {
    let a = this.httpAgents.get(name);
    if (!a) this.httpAgents.set(name, (a = new http.Agent({ keepAlive: true, maxSockets: 4 })));
    return a;
  }

  private target(name: string): HttpTarget {
    const h = this.cmd.host(name);
    return h.http ?? { host: h.address, port: this.cmd.httpPort };
  }

  async startAgent(name: string, launch: AgentLaunch): Promise<void> {
    this.touched.add(name);
    await this.ssh(name, this.cmd.start(name, launch));
    this.running.add(name);
    const timeout = this.opts.readyTimeoutMs ?? 40_000;
    const t0 = performance.now();
    for (;;) {
      try {
        await this.status(name);
        return;
      } catch (err) {
        if (performance.now() - t0 > timeout) {
          const log = await this.ssh(name, `tail -n 20 ${q(this.cmd.hostDir(name))}/agent.log 2>/dev/null; true`).catch(() => '');
          throw new Error(`agent on ${name} did not serve /status within ${timeout} ms (${(err as Error).message}):\n${log}`);
        }
      }
      await sleep(200);
    }
  }

  async kill(name: string, signal: NodeJS.Signals): Promise<void> {
    await this.ssh(name, this.cmd.signal(name, signal));
    if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') this.running.delete(name);
  }

  stopAgent(name: string): Promise<void> {
    return this.kill(name, 'SIGTERM');
  }

  async get<T>(name: string, path: string): Promise<T> {
    if ((this.opts.statusVia ?? 'http') === 'http') return httpGetOk<T>(this.target(name), this.agentOf(name), path, 2000);
    const r = parseCurl(await this.ssh(name, this.cmd.curl(name, 'GET', path), undefined, 5000));
    if (r.status !== 200) throw new Error(`GET ${path} on ${name}: HTTP ${r.status}`);
    return JSON.parse(r.text) as T;
  }

  status(name: string): Promise<AgentStatus> {
    return this.get<AgentStatus>(name, '/status');
  }

  async post<T = Record<string, unknown>>(name: string, path: string, body: unknown): Promise<HttpReply<T>> {
    if ((this.opts.statusVia ?? 'http') === 'http') return httpJson<T>(this.target(name), this.agentOf(name), 'POST', path, body, 5000);
    const r = parseCurl(await this.ssh(name, this.cmd.curl(name, 'POST', path), JSON.stringify(body), 8000));
    let parsed: unknown = r.text;
    try {
      parsed = JSON.parse(r.text);
    } catch {
      // keep text
    }
    return { status: r.status, body: parsed as T };
  }

  async cut(name: string): Promise<void> {
    this.touched.add(name);
    await this.ssh(name, this.cmd.nft(), this.cmd.cutScript(name));
  }

  async restore(name: string): Promise<void> {
    await this.ssh(name, this.cmd.dropTable('cohort_cut'));
  }

  async partition(sides: string[][]): Promise<void> {
    const sideOf = new Map<string, number>();
    sides.forEach((s, i) => s.forEach((n) => sideOf.set(n, i)));
    await Promise.all(
      this.hosts.map((n) => {
        const mine = sideOf.get(n);
        const others = mine === undefined ? [] : this.hosts.filter((m) => sideOf.has(m) && sideOf.get(m) !== mine);
        this.touched.add(n);
        return this.ssh(n, this.cmd.nft(), this.cmd.partitionScript(n, others));
      }),
    );
    this.partitioned = true;
  }

  async heal(): Promise<void> {
    if (!this.partitioned) return;
    await Promise.all(this.hosts.map((n) => this.ssh(n, this.cmd.dropTable('cohort_partition'))));
    this.partitioned = false;
  }

  async loss(name: string, percent: number, direction?: 'both' | 'in' | 'out'): Promise<void> {
    this.touched.add(name);
    await this.ssh(name, this.cmd.nft(), this.cmd.lossScript(name, percent, direction));
  }

  async supportsMdns(): Promise<boolean> {
    const first = this.hosts[0];
    if (!first) return false;
    const argv = [...(this.opts.agentCommand ?? ['cohort']), 'agent', '--help'].map(q).join(' ');
    const cwd = this.opts.agentCwd ? `cd ${q(this.opts.agentCwd)} && ` : '';
    return helpListsDiscovery(await this.ssh(first, `${cwd}${argv}`, undefined, 60_000).catch(() => ''));
  }

  /** Stop every agent we started, drop our nft tables, remove the remote run directory, close ssh masters. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.httpAgents.values()) a.destroy();
    await Promise.allSettled([...this.touched].map((n) => this.ssh(n, this.cmd.cleanup(n), undefined, 15_000)));
    await Promise.allSettled(this.hosts.map((n) => new Promise((r) => execFile('ssh', ['-O', 'exit', ...this.cmd.sshArgv(n, 'true', this.controlDir).slice(0, -1)], { timeout: 5000 }, r))));
    rmSync(this.controlDir, { recursive: true, force: true });
  }
}

/** Make sure a directory exists (for callers preparing keys etc.). */
export function ensureDir(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}
