/**
 * An emulated bench cluster made of Linux network namespaces (needs root,
 * `ip` from iproute2 and `nft` from nftables).
 *
 * Layout, for a run prefix P (e.g. `ch4127k`):
 *   - namespace `Pbr` holds one bridge `br0` (multicast snooping off, so mDNS
 *     floods like on a dumb switch); nothing else lives there;
 *   - namespace `Ph1`..`PhN` is one "board" each: `lo` up, `eth0` (a veth whose
 *     other end `vh<i>` is a port of br0) with 10.77.S.i/24, and the multicast
 *     route `224.0.0.0/4 dev eth0` (without it joining an mDNS group fails and
 *     discovery finds nothing, silently);
 *   - a tiny TCP forwarder per host (plain node, no dependencies) listening on
 *     a unix socket in the run directory and connecting to the host's own
 *     address inside its namespace: unix sockets are not network-namespaced, so
 *     the test process (in the root namespace) reaches each agent's HTTP face
 *     without any route into the namespaces. Its connection to the agent is
 *     local to the host (via lo), so it is never affected by the faults below.
 * The root namespace is never touched: no veth, no route, no nft rule there.
 *
 * Faults:
 *   - cut/restore a host's cable: `ip -n Pbr link set vh<i> down|up` (the host
 *     keeps its address and routes, just like a pulled cable);
 *   - partition any sets of hosts: an nft `bridge` table in Pbr dropping frames
 *     between the bridge ports of different sides (heal = delete the table);
 *   - random loss on a host: an nft `inet` table in the host namespace dropping
 *     `percent`% of what enters and what leaves eth0 (numgen random);
 *   - a wall-clock offset: not a network fault; see {@link fakeTimeEnv} (libfaketime,
 *     preloaded into one agent process, monotonic clock left alone).
 *   - fixed extra delay: NOT built (this kernel has no tc netem; an NFQUEUE
 *     helper would need a compiled userspace program). {@link NetnsCluster.delay} throws.
 *
 * Clean-up: every process started through {@link NetnsCluster.spawn} is tracked
 * by PID; {@link NetnsCluster.close} kills them (SIGKILL), then kills whatever is
 * still inside this run's namespaces (`ip netns pids`, namespaces of this run's
 * prefix only) and deletes the namespaces and the run directory. The same
 * clean-up runs synchronously on process exit and on SIGINT/SIGTERM/SIGHUP.
 * Nothing is ever looked up or killed by process name.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { atExit } from '../support/cleanup.js';

export type LossDirection = 'both' | 'in' | 'out';

export interface NetnsHost {
  /** Host name used by scenarios (`h1`...). */
  name: string;
  /** 1-based index (also the last address byte). */
  index: number;
  /** Network namespace name (`<prefix>h1`). */
  ns: string;
  /** The host's address on the bench LAN. */
  ip: string;
  /** The bridge-side veth (in the bridge namespace). */
  bridgePort: string;
  /** Private directory of this host (state dirs, logs, sockets). */
  dir: string;
}

export interface NetnsClusterOptions {
  /** Host names, or a count (names h1..hN). */
  hosts: number | string[];
  /** Namespace name prefix (default: `ch<pid%1000, 3 digits><2 random chars>`). At most 8 chars. */
  prefix?: string;
  /** Third byte of the private 10.77.S.0/24 (default: random 1..254). Only used inside the namespaces. */
  subnet?: number;
  /** TCP ports of each host to expose on unix sockets in its directory (default [8080]). */
  forwardPorts?: number[];
  /**
   * Kernel settings (`key=value`, for `sysctl -w`) applied inside each host namespace only,
   * as a board owner would set them on a board (e.g. `net.ipv4.tcp_thin_linear_timeouts=1`,
   * see docs/bench-cluster.md). Only per-namespace keys make sense here.
   */
  sysctls?: string[];
}

/** Where libfaketime lives on Debian (amd64, arm64, armhf); the first that exists is used. */
const LIBFAKETIME_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
];

export function libfaketimePath(): string | null {
  return LIBFAKETIME_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** `FAKETIME` value for an offset in ms (`+1.500`, `-0.250`). */
export function fakeTimeSpec(offsetMs: number): string {
  const s = (Math.abs(offsetMs) / 1000).toFixed(3);
  return `${offsetMs < 0 ? '-' : '+'}${s}`;
}

/**
 * Environment that shifts a process's wall clock by `offsetMs` with libfaketime
 * (preloaded directly, not through the `faketime` wrapper, which forks: the PID
 * we track must be the agent's). The monotonic clock stays real, as on a board
 * whose NTP is off. Empty when the offset is 0; throws if libfaketime is missing.
 */
export function fakeTimeEnv(offsetMs: number): Record<string, string> {
  if (!offsetMs) return {};
  const lib = libfaketimePath();
  if (!lib) throw new Error('libfaketime not found: apt-get install faketime');
  return { LD_PRELOAD: lib, FAKETIME: fakeTimeSpec(offsetMs), FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
}

/** Why the netns cluster cannot run here, or null if it can. */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'network namespaces need root (run the tests as root)';
  for (const [tool, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']] as const) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      return `\`${tool}\` is missing (apt-get install ${pkg})`;
    }
  }
  return null;
}

/** The per-host forwarder: unix socket -> host:port (plain CommonJS node, written to the run dir). */
const FORWARDER_JS = `'use strict';
const net = require('net'), fs = require('fs');
const [sock, host, port] = process.argv.slice(2);
try { fs.unlinkSync(sock); } catch {}
const server = net.createServer((c) => {
  const u = net.connect(Number(port), host);
  const end = () => { c.destroy(); u.destroy(); };
  c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
  c.pipe(u); u.pipe(c);
});
server.listen(sock, () => { try { process.send && process.send('ready'); } catch {} });
process.on('SIGTERM', () => process.exit(0));
// Never outlive the test process that started us (ip netns exec execs, so our parent is it).
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500).unref();
`;

/** stdin/stdout <-> host:port, for ssh's ProxyCommand into a namespace. */
const STDIO_TCP_JS = `'use strict';
const net = require('net');
const [host, port] = process.argv.slice(2);
const s = net.connect(Number(port), host);
process.stdin.pipe(s); s.pipe(process.stdout);
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
s.on('close', () => process.exit(0));
`;

// ------------------------------------------------------------------ global clean-up

const openClusters = new Set<NetnsCluster>();
const closeOpenClusters = (): void => {
  for (const c of openClusters) c.closeSync();
};

/** Close every cluster still open in this process (a safety net for test-runner teardown). */
export async function closeAllClusters(): Promise<void> {
  await Promise.all([...openClusters].map((c) => c.close()));
}

export function run(cmd: string, args: string[], input?: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function randomPrefix(): string {
  const abc = 'abcdefghijkmnopqrstuvwxyz23456789';
  const r = () => abc[Math.floor(Math.random() * abc.length)]!;
  // Fixed length (ch + 3 digits + 2), so no run's prefix is a prefix of another run's.
  return `ch${String(process.pid % 1000).padStart(3, '0')}${r()}${r()}`;
}

// ------------------------------------------------------------------ the cluster

export class NetnsCluster {
  readonly prefix: string;
  readonly bridgeNs: string;
  readonly subnet: number;
  readonly dir: string;
  readonly hosts: NetnsHost[];
  private readonly children = new Set<ChildProcess>();
  private readonly namespaces: string[] = [];
  private readonly lossy = new Set<string>();
  private partitioned = false;
  private closed = false;
  private readonly sysctls: string[];

  private constructor(opts: NetnsClusterOptions) {
    this.prefix = opts.prefix ?? randomPrefix();
    if (!/^[a-z][a-z0-9]{1,7}$/.test(this.prefix)) throw new Error(`bad namespace prefix ${JSON.stringify(this.prefix)}`);
    this.bridgeNs = `${this.prefix}br`;
    this.sysctls = [...(opts.sysctls ?? []), ...(process.env.COHORT_BENCH_SYSCTLS ?? '').split(/\s+/).filter(Boolean)];
    for (const kv of this.sysctls) if (!/^[a-z0-9_.]+=[A-Za-z0-9_ .-]+$/.test(kv)) throw new Error(`bad sysctl setting ${JSON.stringify(kv)} (key=value)`);
    this.subnet = opts.subnet ?? 1 + Math.floor(Math.random() * 254);
    this.dir = join(tmpdir(), `cohort-${this.prefix}`);
    const names = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `h${i + 1}`) : opts.hosts;
    if (names.length < 1 || names.length > 200) throw new Error('1..200 hosts');
    for (const n of names) if (!/^[a-z][a-z0-9]{0,6}$/.test(n)) throw new Error(`bad host name ${JSON.stringify(n)} (a-z0-9, at most 7)`);
    this.hosts = names.map((name, i) => ({
      name,
      index: i + 1,
      ns: `${this.prefix}${name}`,
      ip: `10.77.${this.subnet}.${i + 1}`,
      bridgePort: `vh${i + 1}`,
      dir: join(this.dir, name),
    }));
  }

  /** Build the bridge and the hosts; on any error, tears down what was built and rethrows. */
  static async create(opts: NetnsClusterOptions): Promise<NetnsCluster> {
    const reason = netnsUnavailableReason();
    if (reason) throw new Error(reason);
    atExit(closeOpenClusters);
    sweepDeadRuns();
    const c = new NetnsCluster(opts);
    openClusters.add(c);
    try {
      await c.build(opts.forwardPorts ?? [8080]);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  host(name: string): NetnsHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} (hosts: ${this.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  /** The unix socket forwarding to `port` on this host (see the module comment). */
  socketFor(name: string, port = 8080): string {
    return join(this.host(name).dir, `tcp${port}.sock`);
  }

  /** A command for ssh's ProxyCommand that connects to `port` of the host from inside its namespace. */
  proxyCommand(name: string, port = 22): string {
    const h = this.host(name);
    return `ip netns exec ${h.ns} ${process.execPath} ${join(this.dir, 'stdio-tcp.cjs')} ${h.ip} ${port}`;
  }

  private async build(forwardPorts: number[]): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, OWNER_FILE), `${process.pid}\n`);
    writeFileSync(join(this.dir, 'forwarder.cjs'), FORWARDER_JS);
    writeFileSync(join(this.dir, 'stdio-tcp.cjs'), STDIO_TCP_JS);
    const br = this.bridgeNs;
    await this.addNs(br);
    for (const h of this.hosts) {
      mkdirSync(h.dir, { recursive: true });
      await this.addNs(h.ns);
    }
    // Batches (`ip -b`; options cannot go per line, so one batch per namespace).
    const batch = (ns: string | null, lines: string[]) => run('ip', [...(ns ? ['-n', ns] : []), '-b', '-'], `${lines.join('\n')}\n`);
    // veth pairs are created directly inside the namespaces (never in the root namespace).
    await batch(null, this.hosts.map((h) => `link add eth0 netns ${h.ns} type veth peer name ${h.bridgePort} netns ${br}`));
    await batch(br, [
      'link set lo up',
      'link add br0 type bridge mcast_snooping 0',
      'link set br0 up',
      ...this.hosts.flatMap((h) => [`link set ${h.bridgePort} master br0`, `link set ${h.bridgePort} up`]),
    ]);
    for (const h of this.hosts) {
      await batch(h.ns, ['link set lo up', `addr add ${h.ip}/24 dev eth0`, 'link set eth0 up', 'route add 224.0.0.0/4 dev eth0']);
    }
    // Kernel settings inside each host namespace only (never the machine's own): the options',
    // plus COHORT_BENCH_SYSCTLS="k=v k=v" for experiments by hand.
    for (const h of this.hosts) for (const kv of this.sysctls) await run('ip', ['netns', 'exec', h.ns, 'sysctl', '-q', '-w', kv]);
    for (const h of this.hosts) for (const port of forwardPorts) await this.startForwarder(h, port);
  }

  private async addNs(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
  }

  private async startForwarder(h: NetnsHost, port: number): Promise<void> {
    const sock = this.socketFor(h.name, port);
    const child = this.spawn(h.name, [process.execPath, join(this.dir, 'forwarder.cjs'), sock, h.ip, String(port)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`forwarder for ${h.name}:${port} did not start`)), 10_000);
      child.once('message', () => {
        clearTimeout(timer);
        child.disconnect();
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`forwarder for ${h.name}:${port} exited (${code})`));
      });
    });
  }

  /**
   * Start a process inside a host's namespace (`ip netns exec` execs, so the PID
   * is the command's own). Tracked: killed by {@link close}.
   */
  spawn(name: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.closed) throw new Error('cluster closed');
    const h = this.host(name);
    const child = spawn('ip', ['netns', 'exec', h.ns, ...argv], { stdio: 'ignore', ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Run a command in a host's namespace and return its stdout. */
  exec(name: string, argv: string[], input?: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.host(name).ns, ...argv], input);
  }

  // ---------------------------------------------------------------- faults

  /** Pull the host's cable: its bridge port goes down (the host keeps its address and routes). */
  async cut(name: string): Promise<void> {
    await run('ip', ['-n', this.bridgeNs, 'link', 'set', this.host(name).bridgePort, 'down']);
  }

  async restore(name: string): Promise<void> {
    await run('ip', ['-n', this.bridgeNs, 'link', 'set', this.host(name).bridgePort, 'up']);
  }

  /**
   * Partition: frames between hosts of different sides are dropped at the bridge.
   * Hosts not named in any side stay connected to everyone. Replaces an earlier partition.
   */
  async partition(sides: string[][]): Promise<void> {
    const seen = new Set<string>();
    for (const side of sides) for (const n of side) {
      if (seen.has(n)) throw new Error(`host ${n} is on two sides`);
      seen.add(n);
      this.host(n);
    }
    const ports = sides.map((side) => side.map((n) => `"${this.host(n).bridgePort}"`));
    const rules: string[] = [];
    for (let a = 0; a < ports.length; a++) {
      for (let b = 0; b < ports.length; b++) {
        if (a === b || ports[a]!.length === 0 || ports[b]!.length === 0) continue;
        rules.push(`    iifname { ${ports[a]!.join(', ')} } oifname { ${ports[b]!.join(', ')} } drop`);
      }
    }
    const script = [
      ...(this.partitioned ? ['delete table bridge cohort_partition'] : []),
      'table bridge cohort_partition {',
      '  chain forward {',
      '    type filter hook forward priority 0; policy accept;',
      ...rules,
      '  }',
      '}',
      '',
    ].join('\n');
    await run('ip', ['netns', 'exec', this.bridgeNs, 'nft', '-f', '-'], script);
    this.partitioned = true;
  }

  async heal(): Promise<void> {
    if (!this.partitioned) return;
    await run('ip', ['netns', 'exec', this.bridgeNs, 'nft', 'delete', 'table', 'bridge', 'cohort_partition']);
    this.partitioned = false;
  }

  /**
   * Drop `percent`% of the packets entering and/or leaving the host's eth0 (0 removes the loss).
   * Note: `both` on every host drops 1-(1-p)² of each host-to-host packet (20% → 36%): each
   * packet crosses one sender's output and one receiver's input. `out` on every host is p per path.
   */
  async loss(name: string, percent: number, direction: LossDirection = 'both'): Promise<void> {
    if (!(percent >= 0 && percent <= 100)) throw new Error(`loss percent must be 0..100, got ${percent}`);
    const h = this.host(name);
    const had = this.lossy.has(name);
    const p = Math.round(percent);
    const script = [
      ...(had ? ['delete table inet cohort_loss'] : []),
      ...(p > 0
        ? [
            'table inet cohort_loss {',
            ...(direction !== 'out' ? [`  chain input { type filter hook input priority -10; policy accept; iifname "eth0" numgen random mod 100 < ${p} drop; }`] : []),
            ...(direction !== 'in' ? [`  chain output { type filter hook output priority -10; policy accept; oifname "eth0" numgen random mod 100 < ${p} drop; }`] : []),
            '}',
          ]
        : []),
      '',
    ].join('\n');
    if (!had && p === 0) return;
    await run('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], script);
    if (p > 0) this.lossy.add(name);
    else this.lossy.delete(name);
  }

  /** Fixed extra delay: not available (no tc netem in this kernel; an NFQUEUE helper was not built). */
  async delay(_name: string, _ms: number): Promise<void> {
    throw new Error('delay is not implemented by the netns cluster (no tc netem here; see docs/bench-cluster.md)');
  }

  // ---------------------------------------------------------------- clean-up

  /** Kill every process of this run, delete its namespaces and directory. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openClusters.delete(this);
    const waits: Promise<unknown>[] = [];
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        waits.push(new Promise((r) => c.once('exit', r)));
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await Promise.race([Promise.all(waits), sleep(3000)]);
    this.closeSync();
  }

  /** Synchronous clean-up (also used from the exit/signal guards). */
  closeSync(): void {
    this.closed = true;
    openClusters.delete(this);
    for (const c of this.children) {
      try {
        if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.children.clear();
    removeRun(this.prefix, this.dir, this.namespaces);
  }
}

const OWNER_FILE = 'owner.pid';

/** Namespaces named `<prefix>br` / `<prefix><host>`. */
function namespacesOf(prefix: string): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.startsWith(prefix) && /^(br|[a-z][a-z0-9]{0,6})$/.test(n.slice(prefix.length)));
  } catch {
    return [];
  }
}

/** Kill everything inside a run's namespaces, delete them and the run directory. */
function removeRun(prefix: string, dir: string, known: string[] = []): void {
  const all = [...new Set([...known, ...namespacesOf(prefix)])];
  for (const ns of all) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    } catch {
      // namespace already gone
    }
  }
  for (const ns of all) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // ignore
  }
}

/**
 * Safety net for runs whose process died without cleaning up (SIGKILL, a crash in
 * a signal handler): a run directory `<tmp>/cohort-<prefix>/owner.pid` naming a
 * process that no longer exists marks that run's namespaces as ours to delete.
 * Only run directories this module wrote are considered.
 */
export function sweepDeadRuns(): string[] {
  const swept: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir()).filter((d) => /^cohort-ch\d{3}[a-z0-9]{2}$/.test(d));
  } catch {
    return swept;
  }
  for (const d of entries) {
    const dir = join(tmpdir(), d);
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still alive: not ours to touch
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const prefix = d.slice('cohort-'.length);
    removeRun(prefix, dir);
    swept.push(prefix);
  }
  return swept;
}
