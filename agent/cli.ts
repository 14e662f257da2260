#!/usr/bin/env node
/**
 * The `cohort` command line. Each command is one entry of {@link COMMANDS}: a function that
 * adds it to the program. Start-up failures are one line on stderr and an exit code by
 * class (agent/startup-errors.ts; README "Exit codes").
 */
import { TIMER_PRESETS } from './core/timers.js';
import { createServer } from 'node:net';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, CONFIG_FIELDS, defaultOf, EnvironmentError, inspectStateDir, loadConfig, prepareStateDir, type AgentConfig } from './config.js';
import { makeLogger, runAgent, stopOnSignals } from './daemon.js';
import { AgentStartError } from './daemon.js';
import { mdnsOptionsFor } from '../discovery/mdns.js';
import { formatHardware, formatMembersTable, formatStatusTable, memberRows } from './status-table.js';
import { loadComponentClass } from './components/host.js';
import { EXIT, explainStartupError, type FieldLabel, type StartupFailure } from './startup-errors.js';
import { buildInfo, versionLine } from './build-info.js';
import type { AgentStatus } from './runtime/agent.js';
import { EXIT_SECURITY, SecurityConfigError } from './security/keys.js';
import { loadSecurity } from './security/setup.js';
import { formatSecurity, keygenCommand, statusAuthHeaders } from './security/cli.js';

/** `cohort check` reports what it finds itself; the loaders' own log lines would repeat it. */
const SILENT_LOG = { debug() {}, info() {}, warn() {}, error() {} };

const collect = (value: string, previous: string[] = []) => [...previous, value];
const port = (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError('a port is 0..65535 (0 = pick a free one)');
  return n;
};
/** A help line with the field's default from the config table (agent/config.ts CONFIG_FIELDS). */
const withDefault = (text: string, key: string) => `${text} (default: ${defaultOf(key)})`;

// ------------------------------------------------------------------ agent flags (agent, check)

function addAgentOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML config file (flags override it)')
    .option('--node <name>', withDefault('node id, unique in the fleet', 'node'))
    .option('-g, --group <Type.instance>', withDefault('join a group as this agent (repeatable)', 'groups'), collect)
    .option('--min-size <n>', withDefault('least members that may elect a leader', 'minSize'))
    .option('--listen <host>', withDefault('address to bind', 'listen'))
    .option('--advertise <host>', withDefault('address peers should dial (needed with --listen 0.0.0.0)', 'advertise'))
    .option('--bus-port <port>', withDefault('group bus (PUB) port', 'busPort'), port)
    .option('--direct-port <port>', withDefault('directed-message (ROUTER) port', 'directPort'), port)
    .option('--peers <list>', withDefault('static peers: host:port of their bus, comma separated', 'peers'))
    .addOption(new Option('--discovery <kind>', withDefault('how peers are found', 'discovery')).choices(['mdns', 'static']))
    .option('--interface <name|address>', withDefault('mDNS: interface name or IPv4 address to announce on', 'interface'))
    .option('--timers <spec>', withDefault(`preset (${Object.keys(TIMER_PRESETS).join(', ')}, auto) and/or heartbeat=..,electionMin=..,electionMax=..,peerTimeout=..,consensusTimeout=..`, 'timers'))
    .option('--http <host:port>', withDefault('serve /status, /healthz, /metrics, /events and the control API', 'http'))
    .option('--state-dir <dir>', withDefault('persist votes and incarnations under DIR/<node>/', 'stateDir'))
    .option('--no-state', 'keep votes in memory only: a restarted member may vote twice in a term (members start amnesiac)')
    .option('--reset-state', 'move damaged or lost state files aside and start those members amnesiac, instead of refusing to start')
    .option('--component <file>', withDefault('host a component module (joins the --group groups; repeatable)', 'components'), collect)
    .addOption(new Option('--auto-vote <answer>', withDefault("how this agent's own member votes", 'autoVote')).choices(['yes', 'no', 'abstain']))
    .addOption(new Option('--log-level <level>', withDefault('log level', 'logLevel')).choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--keys <dir|file>', "secure mode: this node's certificate (a directory holding one NAME.key_secret, or the file)")
    .option('--allow <dir>', "secure mode: directory of the peers' public certificates (*.key), re-read when it changes")
    .option('--http-token <file>', 'bearer token for the HTTP API (created 0600 if missing; default in secure mode: <state-dir>/<node>/http-token)');
}

interface ResolvedAgentConfig {
  config: AgentConfig;
  label: FieldLabel & ((key: string) => string);
  stateDirField: string;
}

/** The config from `-c FILE` and the flags. Throws ConfigError. */
function configFromFlags(o: Record<string, unknown>): ResolvedAgentConfig {
  const components = ((o.component as string[] | undefined) ?? []).map((file, i) => ({
    name: `component${i + 1}`,
    module: file,
    groups: (o.group as string[] | undefined) ?? [],
  }));
  if (o.state === false && o.stateDir !== undefined) throw new ConfigError('--state-dir and --no-state contradict each other: pick one');
  const flags: Record<string, unknown> = {
    node: o.node,
    groups: components.length > 0 ? undefined : o.group,
    minSize: o.minSize,
    listen: o.listen,
    advertise: o.advertise,
    busPort: o.busPort,
    directPort: o.directPort,
    peers: o.peers,
    discovery: o.discovery,
    interface: o.interface,
    timers: o.timers,
    http: o.http,
    stateDir: o.state === false ? 'none' : o.stateDir,
    resetState: o.resetState === true ? true : undefined,
    components: components.length > 0 ? components : undefined,
    autoVote: o.autoVote,
    logLevel: o.logLevel,
    security: o.keys !== undefined || o.allow !== undefined ? { keys: o.keys, allow: o.allow } : undefined,
    httpToken: o.httpToken,
  };
  const config = loadConfig((o.config as string | undefined) ?? null, flags);
  const label = (key: string) => (flags[key] !== undefined ? CONFIG_FIELDS.find((f) => f.key === key)?.flag ?? key : key);
  return { config, label, stateDirField: o.stateDir !== undefined ? '--state-dir' : 'state directory (set --state-dir or --no-state)' };
}

function fail(command: string, f: StartupFailure): never {
  process.stderr.write(`cohort ${command}: ${f.line}\n`);
  process.exit(f.code);
}

function agentCommand(program: Command): void {
  addAgentOptions(program.command('agent').description('run an agent: join groups, host components, serve status')).action(async (o: Record<string, unknown>) => {
    let resolved: ResolvedAgentConfig;
    try {
      resolved = configFromFlags(o);
    } catch (err) {
      if (err instanceof ConfigError) fail('agent', { code: EXIT.usage, line: err.message });
      throw err;
    }
    const { config, label } = resolved;
    try {
      if (config.stateDir) prepareStateDir(config.stateDir, config.node, resolved.stateDirField);
    } catch (err) {
      if (err instanceof EnvironmentError || err instanceof ConfigError) fail('agent', explainStartupError(err, config, label));
      throw err;
    }
    const log = makeLogger(config.logLevel, config.node);
    // Anything that escapes after start is a runtime failure: one line, the stack in the log.
    const onFatal = (err: unknown) => {
      log.fatal({ err }, 'agent failed');
      fail('agent', { code: EXIT.runtime, line: `agent failed: ${(err as Error)?.message ?? String(err)} (the stack is in the log)` });
    };
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);
    try {
      const running = await runAgent(config, log);
      stopOnSignals(running, log);
    } catch (err) {
      const step = err instanceof AgentStartError ? err.step : 'other';
      const cause = err instanceof AgentStartError ? err.cause : err;
      // Keys configured but unusable: one line and its own exit status, never plaintext.
      if (cause instanceof SecurityConfigError) fail('agent', { code: EXIT_SECURITY as StartupFailure['code'], line: cause.message });
      log.debug({ err: cause, step }, 'start-up failed');
      fail('agent', explainStartupError(cause, config, label, step === 'join' ? 'other' : step));
    }
  });
}

// ------------------------------------------------------------------ check

/** Can `host:port` be bound right now? (Bound and released at once.) */
function tryBind(host: string, p: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err) => resolve(err as NodeJS.ErrnoException));
    s.listen(p, host, () => s.close(() => resolve(null)));
  });
}

function checkCommand(program: Command): void {
  addAgentOptions(
    program
      .command('check')
      .description('validate a config (and flags) without starting: fields, state directory, component modules, mDNS interface, ports, keys and allow-list'),
  ).action(async (o: Record<string, unknown>) => {
    let resolved: ResolvedAgentConfig;
    try {
      resolved = configFromFlags(o);
    } catch (err) {
      if (err instanceof ConfigError) fail('check', { code: EXIT.usage, line: err.message });
      throw err;
    }
    const { config, label } = resolved;
    try {
      if (config.stateDir) inspectStateDir(config.stateDir, resolved.stateDirField);
      if (config.discovery === 'mdns') mdnsOptionsFor(config.advertise ?? config.listen, config.interface);
      for (const c of config.components) await loadComponentClass(c);
    } catch (err) {
      fail('check', explainStartupError(err, config, label));
    }
    let security = 'plaintext (no --keys/--allow)';
    if (config.security) {
      try {
        const { keys, allow } = loadSecurity(config.security, config.node, SILENT_LOG);
        const peers = allow.list().map((k) => k.name);
        security = `CURVE, keys ${keys.file} (public key ${keys.publicKey}), ${peers.length} allowed peer${peers.length === 1 ? '' : 's'}${peers.length ? `: ${peers.join(', ')}` : ''}`;
      } catch (err) {
        if (err instanceof SecurityConfigError) fail('check', { code: EXIT_SECURITY as StartupFailure['code'], line: err.message });
        throw err;
      }
    }
    const ports: Array<[string, string, number]> = [
      [label('busPort'), config.listen, config.busPort],
      [label('directPort'), config.listen, config.directPort],
    ];
    if (config.http) {
      const idx = config.http.lastIndexOf(':');
      ports.push([label('http'), config.http.slice(0, idx).replace(/^\[|\]$/g, ''), Number(config.http.slice(idx + 1))]);
    }
    for (const [flag, host, p] of ports) {
      if (p === 0) continue;
      const err = await tryBind(host, p);
      if (err) fail('check', explainStartupError(err, { ...config, busPort: p, directPort: -1 }, () => flag, 'transport'));
    }
    const groups = [...config.groups.map((g) => `${g.name} (agent)`), ...config.components.flatMap((c) => c.groups.map((g) => `${g.name} (${c.name})`))];
    process.stdout.write(
      [
        `ok: ${o.config ? String(o.config) : 'flags'} is a valid configuration for node ${config.node}`,
        `  groups:     ${groups.length ? groups.join(', ') : 'none (the agent would only serve status)'}`,
        `  components: ${config.components.length ? config.components.map((c) => `${c.name} = ${c.module} [${c.export}]`).join(', ') : 'none'}`,
        `  discovery:  ${config.discovery}${config.discovery === 'static' ? ` (${config.peers.length} peers)` : config.interface ? ` on ${config.interface}` : ''}`,
        `  listen:     ${config.listen}${config.advertise ? `, advertised as ${config.advertise}` : ''}; bus port ${config.busPort || 'any'}, direct port ${config.directPort || 'any'}`,
        `  http:       ${config.http ?? 'off'}`,
        `  state:      ${config.stateDir ?? 'in memory (none)'}`,
        `  security:   ${security}`,
        '',
      ].join('\n'),
    );
  });
}

// ------------------------------------------------------------------ status, members

/** `--http a,b --http c` → [a, b, c]. */
function httpTargets(v: string[] | string | undefined): string[] {
  const list = (Array.isArray(v) ? v : [v ?? '127.0.0.1:8080']).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  return list.length ? list : ['127.0.0.1:8080'];
}

/** What went wrong reaching an agent, in words (not "fetch failed"). */
export function reachError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (no agent listening there: is it running, with this --http address?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
  if (code === 'ECONNRESET') return 'connection reset';
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer within 3 s';
  return e.cause?.message ?? e.message ?? String(err);
}

async function fetchStatuses(command: string, targets: string[], tokenFile?: string): Promise<{ ok: Array<{ target: string; status: AgentStatus }>; failed: number }> {
  const results = await Promise.all(
    targets.map(async (target) => {
      try {
        const res = await fetch(`http://${target}/status`, { signal: AbortSignal.timeout(3000), headers: statusAuthHeaders(tokenFile) });
        if (res.status === 401) throw new Error('HTTP 401: the agent wants its token: --http-token FILE (secure mode: <state-dir>/<node>/http-token)');
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return { target, status: (await res.json()) as AgentStatus };
      } catch (err) {
        process.stderr.write(`cohort ${command}: cannot reach an agent at ${target}: ${reachError(err)}\n`);
        return null;
      }
    }),
  );
  const ok = results.filter((r): r is { target: string; status: AgentStatus } => r !== null);
  return { ok, failed: targets.length - ok.length };
}

const httpOption = () => new Option('--http <host:port>', "the agent's HTTP address; repeat or comma-separate for several (default: 127.0.0.1:8080)").argParser(collect);

function statusCommand(program: Command): void {
  program
    .command('status')
    .description("print the groups of one or more agents (from their --http endpoints) in one table")
    .addOption(httpOption())
    .option('--json', 'print the status JSON (an array when several agents are asked)')
    .option('--http-token <file>', "the agent's HTTP token file (secure mode: <state-dir>/<node>/http-token)")
    .action(async (o: { http?: string[]; json?: boolean; httpToken?: string }) => {
      const targets = httpTargets(o.http);
      const { ok, failed } = await fetchStatuses('status', targets, o.httpToken);
      if (o.json) process.stdout.write(`${JSON.stringify(targets.length === 1 ? ok[0]?.status ?? null : ok.map((r) => r.status), null, 2)}\n`);
      else if (ok.length) {
        process.stdout.write(formatStatusTable(ok.map((r) => r.status), targets.length > 1 ? ok.map((r) => r.target) : undefined));
        if (ok.length === 1) process.stdout.write(formatSecurity(ok[0]!.status.security));
        // The hardware layer's short form (board, load, clock; timer profile and skew per group)
        // for one agent; over several, the table stays one row per member (--json has it all).
        if (targets.length === 1 && ok[0]) process.stdout.write(formatHardware(ok[0].status));
      }
      process.exitCode = failed ? 1 : 0;
    });
}

function membersCommand(program: Command): void {
  program
    .command('members')
    .description('every member of every group the agents know: role, term, address, when last heard (merged over several --http agents)')
    .addOption(httpOption())
    .option('--json', 'print the rows as JSON')
    .action(async (o: { http?: string[]; json?: boolean }) => {
      const { ok, failed } = await fetchStatuses('members', httpTargets(o.http));
      const rows = memberRows(ok.map((r) => r.status));
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (ok.length) process.stdout.write(formatMembersTable(rows));
      process.exitCode = failed ? 1 : 0;
    });
}

// ------------------------------------------------------------------ demo

function demoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a local group of agents on loopback and show what they do (no setup, no root)')
    .option('-n, --members <n>', 'how many agents', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 15) throw new InvalidArgumentError('1..15 members');
      return n;
    }, 5)
    .option('--timers <spec>', 'timer preset or values for the demo group', 'riaps')
    .option('--quiet', 'no live status table, just the narration')
    .action(async (o: { members: number; timers: string; quiet?: boolean }) => {
      const { runDemo } = await import('./demo.js');
      process.exitCode = await runDemo({ members: o.members, timers: o.timers, live: !o.quiet && Boolean(process.stdout.isTTY) });
    });
}

/** Every `cohort` command. A new one is a function here and a line in this list. */
export const COMMANDS: Array<(program: Command) => void> = [agentCommand, statusCommand, membersCommand, checkCommand, demoCommand, keygenCommand];

const program = new Command()
  .name('cohort')
  .description('Group coordination for fleets of embedded boards: membership, leader election, votes and timed actions.')
  .version(versionLine(buildInfo()), '-V, --version', 'print the version (package, Node, platform)')
  // One line per usage error, with the way to the flags.
  .configureOutput({ outputError: (str, write) => write(`${str.trimEnd()} (add --help for the flags and their defaults)\n`) })
  // Usage errors exit 2 like config errors (commander's own default is 1).
  .exitOverride();
for (const add of COMMANDS) add(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
  throw err;
}
