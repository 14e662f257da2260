/**
 * The agent's configuration: a YAML file and/or command-line flags, validated
 * into one {@link AgentConfig}. Every error names the bad field.
 */
import { accessSync, closeSync, constants as fsConstants, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { ClockPolicyError, validateClockPolicy, type ClockPolicy } from '../hw/action-guard.js';
import { boardAtStart } from '../hw/board.js';
import { AUTO_PRESETS, chooseAutoPreset, type AutoTimersOptions } from '../hw/timer-policy.js';
import { FLOOD_DEFAULTS, type FloodLimits } from './security/flood-guard.js';
import { TIMER_NAMES, TIMER_PRESETS, TimerSettingsError, validateTimers, type TimerSettings } from './core/timers.js';
import { componentNameProblem, groupNameProblem, nodeNameProblem } from './core/names.js';
import { parseHttpToken, parseSecurityConfig, SecurityConfigFieldError, type SecurityConfig } from './security/config.js';

/** A bad flag or config field: the message names it, the value and the rule (exit code 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The configuration is valid but this machine cannot honour it: a state directory that is
 * a file or not writable, a port in use, an interface it does not have (exit code 3).
 */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
}

/**
 * Every top-level config field, its command-line flag (null: config file only) and its
 * default as shown in `--help` and the README. The validator rejects keys not listed here,
 * so a new field (e.g. `security`) is one row plus its parser in validateConfig.
 */
export interface ConfigField {
  key: string;
  flag: string | null;
  default: string;
}

export const CONFIG_FIELDS: readonly ConfigField[] = [
  { key: 'node', flag: '--node', default: '<hostname>-<first 6 hex of /etc/machine-id>' },
  { key: 'listen', flag: '--listen', default: '127.0.0.1' },
  { key: 'advertise', flag: '--advertise', default: 'the --listen address' },
  { key: 'busPort', flag: '--bus-port', default: '0 (any free port)' },
  { key: 'directPort', flag: '--direct-port', default: '0 (any free port)' },
  { key: 'http', flag: '--http', default: 'off' },
  { key: 'peers', flag: '--peers', default: 'none' },
  { key: 'discovery', flag: '--discovery', default: 'static when peers are listed, else mdns' },
  { key: 'interface', flag: '--interface', default: 'follows --advertise/--listen' },
  { key: 'stateDir', flag: '--state-dir', default: '/var/lib/cohort for root, else $XDG_STATE_HOME/cohort or ~/.local/state/cohort' },
  { key: 'resetState', flag: '--reset-state', default: 'off' },
  { key: 'minSize', flag: '--min-size', default: '2' },
  { key: 'timers', flag: '--timers', default: 'riaps' },
  { key: 'groups', flag: '--group', default: 'none' },
  { key: 'autoVote', flag: '--auto-vote', default: 'abstain' },
  { key: 'components', flag: '--component', default: 'none' },
  { key: 'logLevel', flag: '--log-level', default: 'info' },
  { key: 'adapt', flag: null, default: 'true (timers adapt to stalls and load; README "Hardware and clocks")' },
  { key: 'clock', flag: null, default: '{ clockToleranceMs: 100, unsynchronised: allow-same-host, onStep: auto, minLeadMs: 20 }' },
  { key: 'security', flag: '--keys/--allow', default: 'none (plaintext)' },
  { key: 'httpToken', flag: '--http-token', default: 'secure mode: <state-dir>/<node>/http-token; plaintext: none' },
  { key: 'floodLimits', flag: null, default: '{ dataPerSecond: 500, dataBurst: 1000, controlPerSecond: 1000, controlBurst: 2000 } (per sending node)' },
];

/** The default of a config field, as text (for `--help`). */
export function defaultOf(key: string): string {
  return CONFIG_FIELDS.find((f) => f.key === key)?.default ?? '';
}

/** Addresses that bind every interface: peers cannot dial them, so they need an advertise address. */
export const WILDCARD_HOSTS = ['0.0.0.0', '::', '[::]', '*'];

export type AutoVote = 'yes' | 'no' | 'abstain';

export type DiscoveryKind = 'mdns' | 'static';

export interface GroupConfig {
  /** `Type.instance` */
  name: string;
  minSize: number;
  timers: TimerSettings;
  timed: boolean;
  deliverToSelf: boolean;
  /** Timer adaptation to the member's stalls and load (README "Hardware and clocks"). Default true. */
  adapt?: boolean;
  /** What a member's clock must honour before it agrees to an action (default: DEFAULT_CLOCK_POLICY). */
  clock?: ClockPolicy;
  /** Where the timers came from, for the timer profile ("timers lan", "the default (riaps)"). */
  timersReason?: string;
  /** Timers `auto`: the presets it may switch between with the measured round trip (README "Configuration"). */
  autoTimers?: AutoTimersOptions;
}

export interface ComponentConfig {
  name: string;
  /** Absolute path of the module exporting the component class. */
  module: string;
  /** Export name of the class (default: `default`). */
  export: string;
  groups: GroupConfig[];
  /** Free-form settings handed to the component. */
  settings: Record<string, unknown>;
}

export interface AgentConfig {
  node: string;
  listen: string;
  advertise: string | null;
  busPort: number;
  directPort: number;
  /** `host:port` for the status/metrics/control HTTP server, or null. */
  http: string | null;
  /** Static peers (`host:port` bus endpoints). */
  peers: string[];
  /** How peers are found: `static` (the `peers` list; the default when it is non-empty) or
   *  `mdns` (multicast DNS; the default otherwise). */
  discovery: DiscoveryKind;
  /** mDNS only: interface name (eth0) or IPv4 address to announce and browse on. Null: the
   *  agent's own address decides (loopback stays on this machine), else bonjour's default. */
  interface: string | null;
  /** Directory for hard state (records under `<stateDir>/<node>/`). Default: /var/lib/cohort for root,
   *  else $XDG_STATE_HOME/cohort or ~/.local/state/cohort. `none` (null here) keeps it in memory: a
   *  restarted member may then vote twice in a term, so members start amnesiac and abstain a while. */
  stateDir: string | null;
  /** Move damaged or lost state records aside (`<file>.damaged-<time>`) and start those members
   *  amnesiac, instead of refusing to start. For a one-off recovery, not for every start. */
  resetState: boolean;
  /** Where `node` came from: `config` (given), `machine-id` (host name + machine id, the default) or
   *  `hostname` (no machine id found: the bare host name, which cloned images share). */
  nodeSource: 'config' | 'machine-id' | 'hostname';
  /** Groups the agent joins itself, as component `agent`. */
  groups: GroupConfig[];
  /** How the agent's own member answers ballots. */
  autoVote: AutoVote;
  components: ComponentConfig[];
  logLevel: string;
  /** CURVE keys and allow-list (README "Security"); null: plaintext. */
  security: SecurityConfig | null;
  /** Bearer-token file for the HTTP API, or null (then: generated in the state dir when secure). */
  httpToken: string | null;
  /** Per-sending-node receive rate limits (README "Security", flood limits). */
  floodLimits: FloodLimits;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const MACHINE_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

/**
 * The default node id, `<hostname>-<first 6 hex of the machine id>`: unique per board even when a
 * fleet of fresh images all call themselves `raspberrypi`, and stable across restarts. Without a
 * machine id it is the bare host name (source `hostname`; the agent warns).
 */
export function defaultNode(
  host: string = hostname(),
  readId: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): { node: string; source: 'machine-id' | 'hostname' } {
  const base = host.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 93) || 'node';
  for (const file of MACHINE_ID_FILES) {
    let id = '';
    try {
      id = readId(file).trim().toLowerCase();
    } catch {
      continue;
    }
    if (/^[0-9a-f]{32}$/.test(id)) return { node: `${base}-${id.slice(0, 6)}`, source: 'machine-id' };
  }
  return { node: base, source: 'hostname' };
}

export function defaultNodeName(): string {
  return defaultNode().node;
}

/** Where state lives by default: /var/lib/cohort for root, else the XDG state directory. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0) return '/var/lib/cohort';
  const xdg = env.XDG_STATE_HOME;
  return xdg && isAbsolute(xdg) ? join(xdg, 'cohort') : join(homedir(), '.local', 'state', 'cohort');
}

/**
 * Make sure `<dir>/<node>` exists and takes a synced write, before the agent starts, so a bad
 * `--state-dir` is one clear EnvironmentError naming `field` rather than a stack trace at the first vote.
 */
export function prepareStateDir(dir: string, node: string, field: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw new EnvironmentError(`${field} ${dir} is not a directory: point it at a directory, or use --no-state`);
  } catch (err) {
    if (err instanceof EnvironmentError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new EnvironmentError(`${field} ${dir} cannot be used: ${(err as Error).message}`);
  }
  const probe = join(dir, node, `.probe-${process.pid}`);
  try {
    mkdirSync(join(dir, node), { recursive: true });
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, 'ok');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (err) {
    throw new EnvironmentError(`${field} ${dir} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix its permissions, pick another directory, or use --no-state`);
  }
}

/**
 * `cohort check`: would prepareStateDir succeed? Without creating or writing anything: the
 * directory (or the nearest existing parent, which the agent would create it in) must be a
 * writable directory.
 */
export function inspectStateDir(dir: string, field: string): void {
  let probe = dir;
  for (;;) {
    try {
      const st = statSync(probe);
      if (!st.isDirectory()) throw new EnvironmentError(`${field} ${dir}${probe === dir ? '' : ` (its parent ${probe})`} is not a directory: point it at a directory, or use --no-state`);
      break;
    } catch (err) {
      if (err instanceof EnvironmentError) throw err;
      // ENOTDIR: some ancestor is a file; walk up to it and name it.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new EnvironmentError(`${field} ${dir} cannot be used: ${(err as Error).message}`);
      const up = dirname(probe);
      if (up === probe) return;
      probe = up;
    }
  }
  try {
    accessSync(probe, fsConstants.W_OK | fsConstants.X_OK);
  } catch {
    throw new EnvironmentError(`${field} ${dir} is not writable${probe === dir ? '' : ` (its parent ${probe} is not)`}: fix its permissions, pick another directory, or use --no-state`);
  }
}

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, field: string, re?: RegExp, hint?: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${field} must be a non-empty string, got ${JSON.stringify(v)}`);
  if (re && !re.test(v)) throw new ConfigError(`${field} ${hint ?? `must match ${re}`}, got ${JSON.stringify(v)}`);
  return v;
}

/** A name checked by its rule in agent/core/names.ts (one place for the name forms). */
function named(v: unknown, field: string, problem: (v: unknown) => string | null): string {
  const why = problem(v);
  if (why) throw new ConfigError(`${field} ${why}`);
  return v as string;
}

function int(v: unknown, field: string, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${field} must be a whole number in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(`${field} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function unknownKeys(obj: Raw, known: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!known.includes(k)) throw new ConfigError(`${where}: unknown field "${k}" (known: ${known.join(', ')})`);
}

/** `heartbeat=500,electionMin=800` or a preset name (`lan`), or an object. */
export function parseTimers(v: unknown, field: string, base?: TimerSettings): TimerSettings {
  // auto: the board's choice among the presets, each checked against the explicit values.
  const auto = parseAutoTimers(v, field);
  if (auto) return auto.bases[auto.start] as TimerSettings;
  let partial: Raw = {};
  let preset: TimerSettings | undefined = base;
  if (typeof v === 'string') {
    for (const part of v.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [k, val] = part.split('=');
      if (val === undefined) {
        if (!(k! in TIMER_PRESETS)) throw new ConfigError(`${field}: "${k}" is neither name=value nor a preset (${Object.keys(TIMER_PRESETS).join(', ')}, auto)`);
        preset = TIMER_PRESETS[k as keyof typeof TIMER_PRESETS];
      } else {
        if (!/^\d+$/.test(val.trim())) throw new ConfigError(`${field}.${k} must be a whole number of ms, got ${JSON.stringify(val)}`);
        partial[k!.trim()] = Number(val);
      }
    }
  } else if (isObject(v)) {
    partial = { ...v };
    if (typeof partial.preset === 'string') {
      const name = partial.preset;
      if (!(name in TIMER_PRESETS)) throw new ConfigError(`${field}.preset must be one of ${Object.keys(TIMER_PRESETS).join(', ')}, got ${JSON.stringify(name)}`);
      preset = TIMER_PRESETS[name as keyof typeof TIMER_PRESETS];
      delete partial.preset;
    }
  } else if (v !== undefined) {
    throw new ConfigError(`${field} must be name=value pairs, a preset name or a mapping of ${TIMER_NAMES.join('/')}`);
  }
  try {
    return validateTimers(partial, preset);
  } catch (err) {
    if (err instanceof TimerSettingsError) throw new ConfigError(`${field}: ${err.message}`);
    throw err;
  }
}

const FLOOD_KEYS = ['dataPerSecond', 'dataBurst', 'controlPerSecond', 'controlBurst'] as const;

/** `floodLimits: { dataPerSecond, dataBurst, controlPerSecond, controlBurst }`, each over its default. */
function parseFloodLimits(v: unknown, field: string): FloodLimits {
  if (v === undefined) return { ...FLOOD_DEFAULTS };
  if (!isObject(v)) throw new ConfigError(`${field} must be a mapping of ${FLOOD_KEYS.join(', ')}`);
  unknownKeys(v, [...FLOOD_KEYS], field);
  const limits = { ...FLOOD_DEFAULTS };
  for (const k of FLOOD_KEYS) if (v[k] !== undefined) limits[k] = int(v[k], `${field}.${k}`, 1, 10_000_000);
  // A burst below the rate would drop frames that arrive at exactly the allowed rate in one tick.
  if (limits.dataBurst < limits.dataPerSecond) throw new ConfigError(`${field}.dataBurst (${limits.dataBurst}) must be at least dataPerSecond (${limits.dataPerSecond})`);
  if (limits.controlBurst < limits.controlPerSecond) throw new ConfigError(`${field}.controlBurst (${limits.controlBurst}) must be at least controlPerSecond (${limits.controlPerSecond})`);
  return limits;
}

/** `clock: { clockToleranceMs, unsynchronised, onStep, minLeadMs }`, over `base`. */
function parseClock(v: unknown, field: string, base?: ClockPolicy): ClockPolicy {
  if (v === undefined) return base ?? validateClockPolicy({});
  if (!isObject(v)) throw new ConfigError(`${field} must be a mapping of clockToleranceMs, unsynchronised, onStep, minLeadMs`);
  try {
    return validateClockPolicy({ ...base, ...v });
  } catch (err) {
    if (err instanceof ClockPolicyError) throw new ConfigError(`${field}: ${err.message}`);
    throw err;
  }
}

function isAutoTimers(v: unknown): boolean {
  return typeof v === 'string' ? v.split(',').some((p) => p.trim() === 'auto') : isObject(v) && v.preset === 'auto';
}

/**
 * Timers `auto` (alone or with explicit values): every preset auto may switch to, with the
 * explicit values applied, which must fit each of them (so a switch never makes the
 * timers invalid); the board's choice is the start. Undefined: not auto.
 */
function parseAutoTimers(v: unknown, field: string): AutoTimersOptions | undefined {
  if (!isAutoTimers(v)) return undefined;
  const explicit = typeof v === 'string' ? v.split(',').map((p) => p.trim()).filter((p) => p && p !== 'auto').join(',') : Object.fromEntries(Object.entries(v as Raw).filter(([k]) => k !== 'preset'));
  const bases: AutoTimersOptions['bases'] = {};
  for (const p of AUTO_PRESETS) {
    try {
      bases[p] = parseTimers(explicit, field, TIMER_PRESETS[p]);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${err.message} (with auto, explicit values must fit every preset auto may choose: ${AUTO_PRESETS.join(', ')}; this with ${p})`);
      throw err;
    }
  }
  const choice = chooseAutoPreset(boardAtStart(), null);
  return { bases, start: choice.preset, reason: timersReason(v, '') };
}

function timersReason(v: unknown, fallback: string): string {
  if (v === undefined) return fallback;
  const auto = isAutoTimers(v);
  if (auto) return `${chooseAutoPreset(boardAtStart(), null).reason} (timers ${typeof v === 'string' ? v : 'auto'})`;
  if (typeof v === 'string') return `timers ${v}`;
  return isObject(v) && typeof v.preset === 'string' ? `timers ${v.preset} (with explicit values)` : 'explicit timers';
}

/** `flag`: the group came from `--group NAME`, so errors say `--group` rather than `groups[i].name`. */
function parseGroup(v: unknown, field: string, defaults: { minSize: number; timers: TimerSettings; adapt: boolean; clock: ClockPolicy; timersReason: string; autoTimers: AutoTimersOptions | undefined }, flag = false): GroupConfig {
  const raw: Raw = typeof v === 'string' ? { name: v } : isObject(v) ? v : {};
  if (!isObject(v) && typeof v !== 'string') throw new ConfigError(`${field} must be "Type.instance" or a mapping with a name`);
  unknownKeys(raw, ['name', 'minSize', 'timers', 'timed', 'deliverToSelf', 'adapt', 'clock'], field);
  const autoTimers = raw.timers === undefined ? defaults.autoTimers : parseAutoTimers(raw.timers, `${field}.timers`);
  return {
    adapt: raw.adapt === undefined ? defaults.adapt : bool(raw.adapt, `${field}.adapt`),
    clock: parseClock(raw.clock, `${field}.clock`, defaults.clock),
    timersReason: timersReason(raw.timers, defaults.timersReason),
    ...(autoTimers && { autoTimers }),
    name: named(raw.name, flag ? `${field} ${JSON.stringify(raw.name)}` : `${field}.name`, groupNameProblem),
    minSize: raw.minSize === undefined ? defaults.minSize : int(raw.minSize, `${field}.minSize`, 1, 1024),
    timers: raw.timers === undefined ? defaults.timers : parseTimers(raw.timers, `${field}.timers`, defaults.timers),
    timed: raw.timed === undefined ? false : bool(raw.timed, `${field}.timed`),
    deliverToSelf: raw.deliverToSelf === undefined ? true : bool(raw.deliverToSelf, `${field}.deliverToSelf`),
  };
}

/** IPv4 dotted quad, or a Linux interface name (at most 15 characters). */
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IFNAME_RE = /^[A-Za-z0-9_.@-]{1,15}$/;

/** `discovery` and `interface`: static is the default whenever peers are listed (`npm start`
 *  relies on it), mdns otherwise. Whether the interface exists is checked when the agent starts. */
function parseDiscovery(raw: Raw, peers: string[]): { discovery: DiscoveryKind; interface: string | null } {
  let discovery: DiscoveryKind = peers.length > 0 ? 'static' : 'mdns';
  if (raw.discovery !== undefined) {
    if (raw.discovery !== 'mdns' && raw.discovery !== 'static') throw new ConfigError(`discovery must be mdns or static, got ${JSON.stringify(raw.discovery)}`);
    discovery = raw.discovery;
  }
  if (discovery === 'mdns' && peers.length > 0) throw new ConfigError('peers are only used by static discovery: remove them, or set discovery to static (mDNS finds peers by itself)');
  if (raw.interface === undefined || raw.interface === null || raw.interface === '') return { discovery, interface: null };
  const iface = str(raw.interface, 'interface');
  if (discovery !== 'mdns') throw new ConfigError(`interface is only used by mdns discovery, and discovery is ${discovery}${peers.length > 0 ? ' (peers are listed)' : ''}`);
  if (iface.includes(':')) throw new ConfigError(`interface must be an interface name or an IPv4 address (IPv6 is not supported for mDNS), got ${JSON.stringify(iface)}`);
  if (/^\d+(\.\d+){3}$/.test(iface) ? !IPV4_RE.test(iface) : !IFNAME_RE.test(iface) || iface === '.' || iface === '..') {
    throw new ConfigError(`interface must be an interface name (like eth0) or an IPv4 address, got ${JSON.stringify(iface)}`);
  }
  return { discovery, interface: iface };
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  if (!Array.isArray(v)) throw new ConfigError(`${field} must be a list`);
  return v;
}

/** Read and validate a YAML config file; `flags` (from the CLI) override its fields. */
/**
 * The YAML parser, loaded on the first config file: an agent started from flags alone
 * never pays for it (~3 MiB of RSS). Synchronous (createRequire), as loadConfig is.
 */
let yamlParse: ((text: string) => unknown) | null = null;
function parseYaml(text: string): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
  return yamlParse(text);
}

export function loadConfig(file: string | null, flags: Raw = {}): AgentConfig {
  let raw: Raw = {};
  let baseDir = process.cwd();
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined && !isObject(doc)) throw new ConfigError(`config file ${file} must be a mapping at the top level`);
    raw = (doc as Raw | null) ?? {};
    baseDir = dirname(resolve(file));
  }
  const fromFlags = new Set<string>();
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    // --keys / --allow override one field of the file's `security` each.
    if (k === 'security' && isObject(v) && isObject(raw.security)) raw[k] = { ...raw.security, ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) };
    else raw[k] = v;
    fromFlags.add(k);
  }
  // Errors name what the user wrote: the flag when it came from the command line.
  return validateConfig(raw, baseDir, (key) => (fromFlags.has(key) ? CONFIG_FIELDS.find((f) => f.key === key)?.flag ?? key : key));
}

/** `host:port` with a port in `min`..65535: the problem, or null. */
export function hostPortProblem(v: string, min: number): string | null {
  const idx = v.lastIndexOf(':');
  if (idx <= 0) return 'has no ":PORT"';
  const host = v.slice(0, idx);
  const port = v.slice(idx + 1);
  if (/\s/.test(host) || (host.includes(':') && !/^\[[^\]]+\]$/.test(host))) return `has a bad host ${JSON.stringify(host)} (IPv6 goes in brackets: [::1]:8080)`;
  if (!/^\d{1,5}$/.test(port) || Number(port) < min || Number(port) > 65535) return `has a bad port ${JSON.stringify(port)} (${min}..65535)`;
  return null;
}

export function validateConfig(raw: Raw, baseDir = process.cwd(), label: (key: string) => string = (key) => key): AgentConfig {
  unknownKeys(raw, CONFIG_FIELDS.map((f) => f.key), 'config');
  const minSize = raw.minSize === undefined ? 2 : int(raw.minSize, label('minSize'), 1, 1024);
  const timers = parseTimers(raw.timers, label('timers'));
  const adapt = raw.adapt === undefined ? true : bool(raw.adapt, label('adapt'));
  const clock = parseClock(raw.clock, label('clock'));
  const defaults = { minSize, timers, adapt, clock, timersReason: timersReason(raw.timers, 'the default timers (riaps)'), autoTimers: parseAutoTimers(raw.timers, label('timers')) };
  const autoVote = raw.autoVote === undefined ? 'abstain' : str(raw.autoVote, label('autoVote'));
  if (!['yes', 'no', 'abstain'].includes(autoVote)) throw new ConfigError(`${label('autoVote')} must be yes, no or abstain, got ${JSON.stringify(autoVote)}`);
  const http = raw.http === undefined || raw.http === null || raw.http === '' ? null : str(raw.http, label('http'));
  const httpProblem = http === null ? null : hostPortProblem(http, 0);
  if (httpProblem) throw new ConfigError(`${label('http')} ${JSON.stringify(http)} ${httpProblem}: give HOST:PORT, e.g. 127.0.0.1:8080`);
  const logLevel = raw.logLevel === undefined ? 'info' : str(raw.logLevel, label('logLevel'));
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`${label('logLevel')} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const components = list(raw.components, 'components').map((c, i): ComponentConfig => {
    const field = `components[${i}]`;
    if (!isObject(c)) throw new ConfigError(`${field} must be a mapping with name, module and groups`);
    unknownKeys(c, ['name', 'module', 'export', 'groups', 'settings'], field);
    if (c.settings !== undefined && !isObject(c.settings)) throw new ConfigError(`${field}.settings must be a mapping`);
    return {
      name: named(c.name, `${field}.name`, componentNameProblem),
      module: resolve(baseDir, str(c.module, `${field}.module`)),
      export: c.export === undefined ? 'default' : str(c.export, `${field}.export`),
      groups: list(c.groups, `${field}.groups`).map((g, j) => parseGroup(g, `${field}.groups[${j}]`, defaults)),
      settings: (c.settings as Raw | undefined) ?? {},
    };
  });
  const names = new Set<string>();
  for (const c of components) {
    if (names.has(c.name) || c.name === 'agent') throw new ConfigError(`components: duplicate or reserved component name "${c.name}"`);
    names.add(c.name);
  }
  const peers = list(raw.peers, label('peers')).map((p, i) => {
    const peer = str(p, `${label('peers')}[${i}]`);
    const why = hostPortProblem(peer, 1);
    if (why) throw new ConfigError(`${label('peers')} entry ${JSON.stringify(peer)} ${why}: list the other agents' bus endpoints as HOST:PORT, comma separated (e.g. 10.0.0.5:7001,10.0.0.6:7001)`);
    return peer;
  });
  const defaulted = raw.node === undefined ? defaultNode() : null;
  let stateDir: string | null;
  if (raw.stateDir === undefined) stateDir = defaultStateDir();
  else if (raw.stateDir === 'none' || raw.stateDir === false) stateDir = null;
  else if (raw.stateDir === null) throw new ConfigError(`${label('stateDir')} must be a directory, or none to keep state in memory, got null`);
  else stateDir = resolve(baseDir, str(raw.stateDir, label('stateDir')));
  const resetState = raw.resetState === undefined ? false : bool(raw.resetState, label('resetState'));
  if (resetState && stateDir === null) throw new ConfigError('resetState needs a state directory: with stateDir none there is nothing to reset');
  const listen = raw.listen === undefined ? '127.0.0.1' : str(raw.listen, label('listen'));
  const advertise = raw.advertise === undefined ? null : str(raw.advertise, label('advertise'));
  if (WILDCARD_HOSTS.includes(listen) && advertise === null) {
    throw new ConfigError(`${label('listen')} ${listen} binds every interface, so peers need an address to dial: set ${label('listen') === 'listen' ? 'advertise' : '--advertise'} to this board's address (e.g. 10.0.0.7)`);
  }
  if (advertise !== null && WILDCARD_HOSTS.includes(advertise)) throw new ConfigError(`${label('advertise')} ${advertise} is not an address peers can dial: give this board's own address`);
  const discovery = parseDiscovery(raw, peers);
  let security: SecurityConfig | null;
  let httpToken: string | null;
  try {
    security = parseSecurityConfig(raw, baseDir, peers, discovery.discovery);
    httpToken = parseHttpToken(raw, baseDir);
  } catch (err) {
    if (err instanceof SecurityConfigFieldError) throw new ConfigError(err.message);
    throw err;
  }
  return {
    node: defaulted ? defaulted.node : named(raw.node, label('node'), nodeNameProblem),
    nodeSource: defaulted ? defaulted.source : 'config',
    listen,
    advertise,
    busPort: raw.busPort === undefined ? 0 : int(raw.busPort, label('busPort'), 0, 65535),
    directPort: raw.directPort === undefined ? 0 : int(raw.directPort, label('directPort'), 0, 65535),
    http,
    peers,
    ...discovery,
    stateDir,
    resetState,
    groups: list(raw.groups, label('groups')).map((g, i) => (label('groups') === 'groups' ? parseGroup(g, `groups[${i}]`, defaults) : parseGroup(g, label('groups'), defaults, true))),
    autoVote: autoVote as AutoVote,
    components,
    logLevel,
    security,
    httpToken,
    floodLimits: parseFloodLimits(raw.floodLimits, label('floodLimits')),
  };
}
