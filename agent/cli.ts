#!/usr/bin/env node
/** The `cohort` command line: agent, status, demo. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, prepareStateDir } from './config.js';
import { makeLogger, runAgent, stopOnSignals } from './daemon.js';
import { MdnsOptionsError } from '../discovery/mdns.js';
import { formatHardware, formatStatusTable } from './status-table.js';
import { StateFileError } from './runtime/hard-state-store.js';
import type { AgentStatus } from './runtime/agent.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0..65535 (0 = pick a free one)');
  return n;
};

const program = new Command()
  .name('cohort')
  .description('Group coordination for fleets of embedded boards: membership, leader election, votes and timed actions.')
  .showHelpAfterError();

program
  .command('agent')
  .description('run an agent: join groups, host components, serve status')
  .option('-c, --config <file>', 'YAML config file (flags override it)')
  .option('--node <name>', 'node id, unique in the fleet (default: <hostname>-<first 6 hex of /etc/machine-id>)')
  .option('-g, --group <Type.instance>', 'join a group as this agent (repeatable)', collect)
  .option('--min-size <n>', 'least members that may elect a leader (default 2)')
  .option('--listen <host>', 'address to bind (default 127.0.0.1)')
  .option('--advertise <host>', 'address peers should dial (default: --listen)')
  .option('--bus-port <port>', 'group bus (PUB) port, 0 = any free', port)
  .option('--direct-port <port>', 'directed-message (ROUTER) port, 0 = any free', port)
  .option('--peers <list>', 'static peers: host:port of their bus, comma separated')
  .addOption(new Option('--discovery <kind>', 'how peers are found (default: static when --peers is given, else mdns)').choices(['mdns', 'static']))
  .option('--interface <name|address>', 'mDNS: interface name or IPv4 address to announce on (default: follows --advertise/--listen)')
  .option('--timers <spec>', 'preset (riaps, lan, slow) and/or heartbeat=..,electionMin=..,electionMax=..,peerTimeout=..,consensusTimeout=..')
  .option('--http <host:port>', 'serve /status, /metrics, /events and the control API')
  .option('--state-dir <dir>', 'persist votes and incarnations under DIR/<node>/ (default: /var/lib/cohort for root, else $XDG_STATE_HOME/cohort or ~/.local/state/cohort)')
  .option('--no-state', 'keep votes in memory only: a restarted member may vote twice in a term (members start amnesiac)')
  .option('--reset-state', 'move damaged or lost state files aside and start those members amnesiac, instead of refusing to start')
  .option('--component <file>', 'host a component module (joins the --group groups)', collect)
  .addOption(new Option('--auto-vote <answer>', "how this agent's own member votes").choices(['yes', 'no', 'abstain']))
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .action(async (o: Record<string, unknown>) => {
    const components = ((o.component as string[] | undefined) ?? []).map((file, i) => ({
      name: `component${i + 1}`,
      module: file,
      groups: (o.group as string[] | undefined) ?? [],
    }));
    let config;
    try {
      if (o.state === false && o.stateDir !== undefined) throw new ConfigError('--state-dir and --no-state contradict each other: pick one');
      config = loadConfig((o.config as string | undefined) ?? null, {
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
      });
      if (config.stateDir) prepareStateDir(config.stateDir, config.node, o.stateDir !== undefined ? '--state-dir' : 'state directory (set --state-dir or --no-state)');
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`cohort agent: ${err.message}\n`);
        process.exit(2);
      }
      throw err;
    }
    const log = makeLogger(config.logLevel, config.node);
    try {
      const running = await runAgent(config, log);
      stopOnSignals(running, log);
    } catch (err) {
      if (err instanceof MdnsOptionsError) {
        process.stderr.write(`cohort agent: ${err.message}\n`);
        process.exit(2);
      }
      if (err instanceof StateFileError) {
        // Damaged or lost vote records: refuse to start (a silent reset could vote twice in a term).
        process.stderr.write(`cohort agent: ${err.message}\n`);
        process.exit(1);
      }
      log.fatal({ err }, 'agent failed to start');
      process.exit(1);
    }
  });

program
  .command('status')
  .description("print an agent's groups (from its --http endpoint)")
  .option('--http <host:port>', 'the agent’s HTTP address', '127.0.0.1:8080')
  .option('--json', 'print the status JSON')
  .action(async (o: { http: string; json?: boolean }) => {
    let status: AgentStatus;
    try {
      const res = await fetch(`http://${o.http}/status`, { signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      status = (await res.json()) as AgentStatus;
    } catch (err) {
      process.stderr.write(`cohort status: cannot reach an agent at ${o.http}: ${(err as Error).message}\n`);
      process.exit(1);
    }
    process.stdout.write(o.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatusTable([status]) + formatHardware(status));
  });

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

await program.parseAsync(process.argv);
