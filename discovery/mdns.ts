/**
 * Discovery over multicast DNS (DNS-SD), with bonjour-service: each agent publishes a
 * `_cohort._tcp` service and browses for the others.
 *
 * What is published, per agent:
 *   - instance name = node id, SRV target `<node>.local` (namespaces and containers often
 *     share one host name, so the OS host name would collide), SRV port = bus port;
 *   - TXT `node=<id> v=<protocol> bus=<port> direct=<port> [pk=<Z85 CURVE key>]`.
 *
 * What a peer becomes: a PeerAdvert whose bus/direct endpoints use the address the answer
 * came FROM (the UDP source, bonjour's `referer.address`), not the A records in it: a
 * responder lists every address of its machine, including NICs the asker cannot reach.
 *
 * Events: a new answer gives 'up'; the same node answering with other endpoints (a restart
 * on new ports) gives 'down' for the old advert, then 'up'; a goodbye (TTL 0, sent by
 * stop()) gives 'down'. A KILLED agent sends no goodbye and nothing here expires it: its
 * advert stays 'up' (the agent's SUB socket just keeps retrying the dead endpoint), and the
 * group protocol's heartbeats (peerTimeout) decide that it is gone. mDNS is never a
 * failure detector.
 *
 * Scope (where the multicast goes):
 *   - default (no `interface`, no `loopback`): bonjour's defaults; it joins 224.0.0.251 on
 *     every IPv4 interface and sends by the routing table. Right for a board with one
 *     Ethernet port; NEVER use it in tests outside a network namespace: packets go out of
 *     the machine's real NIC.
 *   - `interface: 'eth0' | '10.0.0.7'`: join and send on that interface only.
 *   - `loopback: true`: for several agents on one machine without root. The socket sends on
 *     127.0.0.1 with multicast TTL 0, so the kernel delivers each packet to this host's
 *     sockets and transmits it on no interface at all; answers not from 127.0.0.0/8 are
 *     ignored.
 *
 * Probing (RFC 6762 §8.1, `probe: true`) checks that no one else answers for our name
 * before announcing: it costs ~0.75–1 s of start-up, and on a conflict bonjour silently
 * withdraws the service (we log it). Off by default: node ids are configured unique, a
 * restarted agent wants to be found at once, and a duplicate node id is a configuration
 * error the group protocol shows anyway.
 *
 * Answers can be lost (UDP, a peer starting between announcements), so the browser
 * re-queries: after 1 s, 2 s, 4 s, then every `requeryMs` (default 5 s, ±20 % jitter).
 * Each query is answered by every agent: traffic grows with the square of the fleet
 * (≈ n²/5 packets per second for n agents at the default), fine for tens of boards.
 */
import { createSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { networkInterfaces as osNetworkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { Bonjour, Browser, Service } from 'bonjour-service';
import type { Logger } from 'pino';
import type { Discovery, DiscoveryEventMap, PeerAdvert } from './discovery.js';
import { parsePeerEndpoint } from './peer-endpoint.js';
import { PeerTable } from './peer-table.js';
import { isNodeName } from '../agent/core/names.js';

/** DNS-SD service type, without the leading underscore and protocol: `_cohort._tcp`. */
export const MDNS_SERVICE_TYPE = 'cohort';
export const MDNS_SERVICE_PROTOCOL = 'tcp';
export const DEFAULT_REQUERY_MS = 5000;
const QUERY_NAME = `_${MDNS_SERVICE_TYPE}._${MDNS_SERVICE_PROTOCOL}.local`;

export class MdnsOptionsError extends Error {
  override name = 'MdnsOptionsError';
}

// ------------------------------------------------------------------ TXT record (pure)

/** The TXT record of a cohort service, decoded and validated. */
export interface CohortTxt {
  node: string;
  /** Wire-protocol version, when the publisher gave one. */
  protocol?: number;
  busPort: number;
  directPort?: number;
  publicKey?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** A CURVE public key: 32 bytes in Z85 is 40 characters of this alphabet. */
const Z85_KEY_RE = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

function portOf(v: unknown): number | null {
  if (typeof v !== 'string' || !/^\d{1,5}$/.test(v)) return null;
  const n = Number(v);
  return n >= 1 && n <= 65535 ? n : null;
}

/** The TXT record for `self` (values are strings, as they travel). Throws MdnsOptionsError
 *  when the advert cannot be published (no concrete bus port, bad node id...). */
export function buildTxt(self: PeerAdvert): Record<string, string> {
  if (!isNodeName(self.node)) throw new MdnsOptionsError(`node id ${JSON.stringify(self.node)} cannot be published: use [A-Za-z0-9_-], at most 100`);
  // It becomes a DNS label (instance name, `<node>.local`): at most 63 bytes.
  if (self.node.length > 63) throw new MdnsOptionsError(`node id ${JSON.stringify(self.node)} is too long for mDNS (at most 63 characters; it is ${self.node.length})`);
  const txt: Record<string, string> = { node: self.node };
  if (self.protocol !== undefined) {
    if (!Number.isInteger(self.protocol) || self.protocol < 0) throw new MdnsOptionsError(`protocol version must be a whole number, got ${self.protocol}`);
    txt.v = String(self.protocol);
  }
  txt.bus = String(endpointPort(self.bus, 'bus'));
  if (self.direct !== undefined) txt.direct = String(endpointPort(self.direct, 'direct'));
  if (self.publicKey !== undefined) {
    if (!Z85_KEY_RE.test(self.publicKey)) throw new MdnsOptionsError('publicKey must be a 40-character Z85 CURVE key');
    txt.pk = self.publicKey;
  }
  return txt;
}

function endpointPort(endpoint: string, what: string): number {
  try {
    return parsePeerEndpoint(endpoint.replace('://*:', '://0.0.0.0:')).port;
  } catch (err) {
    throw new MdnsOptionsError(`${what} endpoint ${JSON.stringify(endpoint)} cannot be published: ${(err as Error).message}`);
  }
}

/**
 * Validates a TXT record as decoded by bonjour (an object of strings). Unknown keys are
 * ignored (newer agents may add some); known keys with bad values make it malformed.
 */
export function parseTxt(txt: unknown): Parsed<CohortTxt> {
  if (typeof txt !== 'object' || txt === null || Array.isArray(txt)) return { ok: false, reason: 'no TXT record' };
  const r = txt as Record<string, unknown>;
  if (!isNodeName(r.node)) return { ok: false, reason: `TXT node ${JSON.stringify(r.node)} is not a node id` };
  const busPort = portOf(r.bus);
  if (busPort === null) return { ok: false, reason: `TXT bus ${JSON.stringify(r.bus)} is not a port` };
  const value: CohortTxt = { node: r.node, busPort };
  if (r.v !== undefined) {
    if (typeof r.v !== 'string' || !/^\d{1,9}$/.test(r.v)) return { ok: false, reason: `TXT v ${JSON.stringify(r.v)} is not a protocol version` };
    value.protocol = Number(r.v);
  }
  if (r.direct !== undefined) {
    const directPort = portOf(r.direct);
    if (directPort === null) return { ok: false, reason: `TXT direct ${JSON.stringify(r.direct)} is not a port` };
    value.directPort = directPort;
  }
  if (r.pk !== undefined) {
    if (typeof r.pk !== 'string' || !Z85_KEY_RE.test(r.pk)) return { ok: false, reason: 'TXT pk is not a 40-character Z85 key' };
    value.publicKey = r.pk;
  }
  return { ok: true, value };
}

// ------------------------------------------------------------------ answers → adverts (pure)

/** The parts of a bonjour answer (a browsed Service) that make an advert. */
export interface MdnsAnswer {
  /** Service instance name (we publish the node id). */
  name?: string;
  /** SRV port (we publish the bus port). */
  port?: number;
  txt?: unknown;
  /** Where the answer came from. */
  referer?: { address: string; family?: string };
  /** A/AAAA records in the answer: every address of the publisher's machine. */
  addresses?: readonly string[];
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

/**
 * The address to dial a publisher on: the address its answer came from (it reached us, so
 * it is on our network), an IPv4-mapped IPv6 source turned back into IPv4. Only when the
 * source is unknown, the advertised addresses, IPv4 first. Null when there is none.
 */
export function pickAddress(referer: MdnsAnswer['referer'], addresses: readonly string[] = []): string | null {
  const from = referer?.address ? unmapped(referer.address) : '';
  if (from) return from;
  const listed = addresses.map(unmapped);
  return listed.find(isIPv4) ?? listed[0] ?? null;
}

function tcp(address: string, port: number): string {
  return `tcp://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Turns an answer into a PeerAdvert, or says why it is not a usable cohort answer. */
export function advertFromAnswer(answer: MdnsAnswer): Parsed<PeerAdvert> {
  const txt = parseTxt(answer.txt);
  if (!txt.ok) return txt;
  const { node, busPort, directPort, protocol, publicKey } = txt.value;
  // DNS names are case-insensitive; the TXT keeps the node id's exact spelling.
  if (typeof answer.name !== 'string' || answer.name.toLowerCase() !== node.toLowerCase()) {
    return { ok: false, reason: `instance name ${JSON.stringify(answer.name)} does not match TXT node ${JSON.stringify(node)}` };
  }
  if (answer.port !== busPort) return { ok: false, reason: `SRV port ${String(answer.port)} does not match TXT bus ${busPort}` };
  const address = pickAddress(answer.referer, answer.addresses);
  if (address === null) return { ok: false, reason: 'no address to reach it on' };
  const advert: PeerAdvert = { node, bus: tcp(address, busPort) };
  if (directPort !== undefined) advert.direct = tcp(address, directPort);
  if (protocol !== undefined) advert.protocol = protocol;
  if (publicKey !== undefined) advert.publicKey = publicKey;
  return { ok: true, value: advert };
}

// ------------------------------------------------------------------ scope (pure)

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Where the mDNS traffic goes, resolved. */
export type MdnsScope =
  | { kind: 'default' }
  | { kind: 'loopback' }
  | { kind: 'interface'; address: string; /** `a.b.c.d/n`, when known: answers from elsewhere are ignored. */ cidr: string | null };

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function describeInterfaces(ifaces: InterfaceTable): string {
  const list = Object.entries(ifaces).flatMap(([name, infos]) => (infos ?? []).filter((i) => i.family === 'IPv4').map((i) => `${name} ${i.address}`));
  return list.length > 0 ? list.join(', ') : 'none with IPv4';
}

/**
 * Resolves the `interface` / `loopback` options. `spec` is an interface NAME (eth0: its
 * first IPv4 address) or an IPv4 ADDRESS of this machine. A loopback name or address means
 * loopback mode. Throws MdnsOptionsError, naming what this machine has, otherwise.
 */
export function resolveScope(opts: { interface?: string | undefined; loopback?: boolean | undefined }, ifaces: InterfaceTable = osNetworkInterfaces()): MdnsScope {
  const spec = opts.interface?.trim();
  if (spec === undefined || spec === '') return opts.loopback ? { kind: 'loopback' } : { kind: 'default' };
  let address: string;
  let cidr: string | null = null;
  if (isIPv4(spec)) {
    address = spec;
    if (!isLoopbackHost(address)) {
      const info = Object.values(ifaces).flatMap((l) => l ?? []).find((i) => i.family === 'IPv4' && i.address === address);
      if (!info) throw new MdnsOptionsError(`interface ${spec}: no interface of this machine has that address (have: ${describeInterfaces(ifaces)})`);
      cidr = info.cidr ?? null;
    }
  } else if (spec.includes(':')) {
    throw new MdnsOptionsError(`interface ${JSON.stringify(spec)}: IPv6 is not supported for mDNS; give an interface name or its IPv4 address`);
  } else {
    const infos = ifaces[spec];
    if (!infos) throw new MdnsOptionsError(`interface ${JSON.stringify(spec)} does not exist (have: ${describeInterfaces(ifaces)})`);
    const v4 = infos.find((i) => i.family === 'IPv4');
    if (!v4) throw new MdnsOptionsError(`interface ${spec} has no IPv4 address (yet?)`);
    address = v4.address;
    cidr = v4.cidr ?? null;
  }
  if (isLoopbackHost(address)) return { kind: 'loopback' };
  if (opts.loopback) throw new MdnsOptionsError(`loopback mode and interface ${spec} (${address}) contradict each other`);
  return { kind: 'interface', address, cidr };
}

/** The multicast-dns options for a scope. `bind` is always the wildcard when an interface is
 *  set: Linux delivers no multicast to a socket bound to a unicast address, and bonjour
 *  would otherwise bind to the interface address (and then hear nothing). */
export function bonjourOptions(scope: MdnsScope): { interface?: string; bind?: string } {
  switch (scope.kind) {
    case 'default':
      return {};
    case 'loopback':
      return { interface: '127.0.0.1', bind: '0.0.0.0' };
    case 'interface':
      return { interface: scope.address, bind: '0.0.0.0' };
  }
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Whether `address` is in `cidr` (IPv4 only; anything else is not). */
export function inSubnet(address: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!net || !isIPv4(net) || !isIPv4(address) || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4ToInt(address) / size) === Math.floor(ipv4ToInt(net) / size);
}

/** Whether answers from `address` are for this discovery (our socket, bound to the wildcard,
 *  also hears groups other sockets joined elsewhere on the machine). */
export function acceptsSource(scope: MdnsScope, address: string | undefined): boolean {
  if (address === undefined) return scope.kind === 'default';
  const a = unmapped(address);
  if (scope.kind === 'loopback') return /^127\./.test(a);
  if (scope.kind === 'interface' && scope.cidr) return inSubnet(a, scope.cidr);
  return true;
}

/**
 * The mDNS scope that fits an agent reachable at `agentHost` (its advertise address, else
 * its listen address) when no interface is configured: an agent bound to loopback can only
 * be reached from this machine, so its mDNS stays there (loopback mode); one advertising an
 * IPv4 address of this machine announces on that interface (so answers come from the
 * address it advertises); anything else (a host name) gets bonjour's default.
 */
export function mdnsOptionsFor(agentHost: string, configuredInterface: string | null | undefined, ifaces: InterfaceTable = osNetworkInterfaces()): { interface?: string; loopback?: boolean } {
  if (configuredInterface) return { interface: configuredInterface };
  const host = agentHost.trim().toLowerCase();
  if (isLoopbackHost(host)) return { loopback: true };
  if (isIPv4(host) && host !== '0.0.0.0' && Object.values(ifaces).some((l) => (l ?? []).some((i) => i.family === 'IPv4' && i.address === host))) {
    return { interface: host };
  }
  return {};
}

// ------------------------------------------------------------------ the discovery

export interface MdnsDiscoveryOptions {
  /** Interface NAME (eth0) or IPv4 ADDRESS to announce and browse on. Default: bonjour's
   *  choice (every IPv4 interface; fine for a board with one Ethernet port). */
  interface?: string;
  /** Stay on this machine: loopback only, multicast TTL 0 (see the module comment). */
  loopback?: boolean;
  /** RFC 6762 name probing before announcing (~1 s slower start). Default false. */
  probe?: boolean;
  /** Steady re-query period in ms (0: never re-query). Default 5000. */
  requeryMs?: number;
  logger?: Logger;
  /** For tests: the machine's interfaces (default os.networkInterfaces()). */
  networkInterfaces?: () => InterfaceTable;
}

export interface MdnsStats {
  /** New or changed answers about other agents that were turned into adverts. */
  answers: number;
  /** Answers ignored because their TXT/SRV records were not a valid cohort service, and
   *  packets that were not DNS at all. */
  malformed: number;
  /** Answers ignored because they came from outside the scope (e.g. not loopback). */
  foreign: number;
  /** Queries sent (the browser's first one included). */
  queries: number;
  /** Socket or membership problems reported by multicast-dns (e.g. no multicast route). */
  warnings: number;
  /** Errors caught in handlers or sends (nothing escapes into the socket's event loop). */
  errors: number;
}

/** What we use of multicast-dns (bonjour keeps it as `server.mdns`). */
interface MulticastDns extends EventEmitter {
  query(name: string, type: string, cb?: (err?: Error | null) => void): void;
}

export class MdnsDiscovery extends EventEmitter<DiscoveryEventMap> implements Discovery {
  readonly scope: MdnsScope;
  readonly stats: MdnsStats = { answers: 0, malformed: 0, foreign: 0, queries: 0, warnings: 0, errors: 0 };
  private readonly probe: boolean;
  private readonly requeryMs: number;
  private readonly log: Logger | undefined;
  private readonly table = new PeerTable();
  /** Service fqdn (lower case) → node id, to map a goodbye to the advert it withdraws. */
  private readonly nodeByFqdn = new Map<string, string>();
  private readonly warned = new Set<string>();
  private bonjour: Bonjour | null = null;
  private browser: Browser | null = null;
  private service: Service | null = null;
  private mdns: MulticastDns | null = null;
  /** Whether our own announcement came back: if not, multicast does not work here. */
  private heardSelf = false;
  private self: PeerAdvert | null = null;
  private timers = new Set<NodeJS.Timeout>();
  private running = false;

  /** Throws MdnsOptionsError for an interface this machine does not have. */
  constructor(options: MdnsDiscoveryOptions = {}) {
    super();
    this.scope = resolveScope(options, options.networkInterfaces?.() ?? osNetworkInterfaces());
    this.probe = options.probe ?? false;
    this.requeryMs = options.requeryMs ?? DEFAULT_REQUERY_MS;
    if (!Number.isFinite(this.requeryMs) || this.requeryMs < 0) throw new MdnsOptionsError(`requeryMs must be >= 0, got ${options.requeryMs}`);
    this.log = options.logger;
  }

  /** The peers currently believed in. */
  peers(): PeerAdvert[] {
    return this.table.list();
  }

  async start(self: PeerAdvert): Promise<void> {
    // Loaded here, not at the top: an agent with static peers never loads the mDNS stack.
    const { Bonjour } = await import('bonjour-service');
    if (this.bonjour) throw new Error('MdnsDiscovery already started');
    const txt = buildTxt(self);
    const busPort = Number(txt.bus);
    this.self = self;
    this.running = true;

    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    // multicast-dns options (interface, bind, socket) travel through bonjour's constructor.
    const mdnsOptions = { ...bonjourOptions(this.scope), socket } as unknown as ConstructorParameters<typeof Bonjour>[0];
    const bonjour = new Bonjour(mdnsOptions, (err: Error) => this.onError(err, 'send'));
    this.bonjour = bonjour;
    const mdns = (bonjour as unknown as { server: { mdns: MulticastDns } }).server.mdns;
    // bonjour's browser and responder run inside the socket's 'message' handler: whatever
    // a hostile or broken packet makes them throw is caught here, not by the process.
    const emit = mdns.emit.bind(mdns);
    mdns.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      try {
        return emit(event, ...args);
      } catch (err) {
        this.onError(err as Error, `${String(event)} handler`);
        return true;
      }
    }) as typeof mdns.emit;
    /** Socket warnings while starting (multicast-dns retries memberships every 5 s after). */
    let startWarnings: string[] | null = [];
    mdns.on('warning', (err: Error & { syscall?: string }) => {
      if (!err.syscall) {
        // A packet that is not DNS at all: someone else's garbage.
        this.stats.malformed++;
        this.warnOnce(`undecodable:${err.message}`, { err: err.message }, 'mDNS: ignored an undecodable packet');
        return;
      }
      this.stats.warnings++;
      startWarnings?.push(err.message);
      this.warnOnce(`warning:${err.message}`, { err: err.message }, 'mDNS socket warning (no multicast route or interface down? discovery may find nothing)');
    });
    let bindError: Error | null = null;
    mdns.on('error', (err: Error) => {
      bindError ??= err;
      this.onError(err, 'socket');
    });
    // multicast-dns sets TTL 255 and the interface when the socket starts listening, then
    // emits 'ready' before sending anything: tighten the loopback scope there.
    const ready = new Promise<void>((resolve) => {
      mdns.once('ready', () => {
        if (this.scope.kind === 'loopback') {
          try {
            socket.setMulticastTTL(0);
            socket.setMulticastInterface('127.0.0.1');
          } catch (err) {
            bindError = err as Error;
          }
        }
        resolve();
      });
      mdns.once('error', () => resolve());
    });
    await settle((done) => void ready.then(done), 5000);
    if (this.bonjour !== bonjour) return; // stopped meanwhile
    if (bindError) {
      await this.teardown(false);
      throw new Error(`mDNS discovery could not start on UDP 5353: ${(bindError as Error).message}`);
    }
    const problems = startWarnings;
    startWarnings = null;
    if (this.scope.kind === 'loopback' && problems.length > 0) {
      // Without the loopback membership we cannot promise where packets go: refuse.
      await this.teardown(false);
      throw new Error(`mDNS loopback mode could not join 224.0.0.251 on 127.0.0.1: ${problems.join('; ')}`);
    }

    const browser = bonjour.find({ type: MDNS_SERVICE_TYPE, protocol: MDNS_SERVICE_PROTOCOL });
    this.browser = browser;
    this.stats.queries++; // the browser queries once when created
    browser.on('up', (s) => this.onAnswer(s));
    browser.on('srv-update', (s) => this.onAnswer(s));
    browser.on('txt-update', (s) => this.onAnswer(s));
    browser.on('down', (s) => this.onGoodbye(s));

    this.service = bonjour.publish({
      name: self.node,
      type: MDNS_SERVICE_TYPE,
      protocol: MDNS_SERVICE_PROTOCOL,
      host: `${self.node}.local`,
      port: busPort,
      txt,
      probe: this.probe,
      disableIPv6: true,
    });
    this.mdns = mdns;
    this.heardSelf = false;
    this.later(3000, () => {
      if (this.running && !this.heardSelf) {
        this.stats.warnings++;
        this.log?.warn({ scope: this.scope }, 'mDNS: not even our own announcement came back after 3 s: no multicast route (224.0.0.0/4) or interface down? peers will not be found');
      }
    });
    if (this.probe) {
      this.later(3000, () => {
        if (this.service && !this.service.published) {
          this.log?.error({ node: self.node }, 'mDNS: not advertised: another responder answers for this node id (probe conflict); peers will not find this agent');
        }
      });
    }
    if (this.requeryMs > 0) this.scheduleQuery(Math.min(1000, this.requeryMs));
    this.log?.info({ scope: this.scope, bus: self.bus, probe: this.probe }, 'mDNS discovery started');
  }

  async stop(): Promise<void> {
    if (!this.bonjour) return;
    await this.teardown(true);
  }

  private async teardown(goodbye: boolean): Promise<void> {
    const bonjour = this.bonjour;
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.browser?.stop();
    this.browser = null;
    this.bonjour = null;
    this.mdns = null;
    if (bonjour) {
      // Goodbye: the service's records again with TTL 0; peers drop us at once.
      if (goodbye) await settle((done) => bonjour.unpublishAll(() => done()), 1000);
      await settle((done) => bonjour.destroy(() => done()), 1000);
    }
    this.service = null;
    this.self = null;
    this.table.clear();
    this.nodeByFqdn.clear();
  }

  /** Re-query with a ramp (1 s, 2 s, 4 s...) up to requeryMs, then every requeryMs ±20 %. */
  private scheduleQuery(delay: number): void {
    this.later(delay, () => {
      if (!this.running || !this.mdns) return;
      try {
        // What browser.update() sends, with a callback: a send that fails (ENETUNREACH: no
        // multicast route) is reported instead of swallowed.
        this.mdns.query(QUERY_NAME, 'PTR', (err) => {
          if (err) this.onError(err, 'query (no multicast route?)');
        });
        this.stats.queries++;
      } catch (err) {
        this.onError(err as Error, 'query');
      }
      const next = delay * 2 >= this.requeryMs ? this.requeryMs * (0.8 + 0.4 * Math.random()) : delay * 2;
      this.scheduleQuery(Math.round(next));
    });
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private onAnswer(service: Service): void {
    try {
      if (!this.running || !this.self) return;
      if (typeof service.name === 'string' && service.name.toLowerCase() === this.self.node.toLowerCase()) {
        this.heardSelf = true; // our own announcement, looped back
        return;
      }
      if (!acceptsSource(this.scope, service.referer?.address)) {
        this.stats.foreign++;
        return;
      }
      const parsed = advertFromAnswer(service);
      if (!parsed.ok) {
        this.stats.malformed++;
        this.warnOnce(`malformed:${service.fqdn}:${parsed.reason}`, { service: service.fqdn, from: service.referer?.address, reason: parsed.reason }, 'mDNS: ignored a malformed cohort answer');
        return;
      }
      if (parsed.value.node === this.self.node) return;
      this.stats.answers++;
      if (typeof service.fqdn === 'string') this.nodeByFqdn.set(service.fqdn.toLowerCase(), parsed.value.node);
      for (const change of this.table.observe(parsed.value)) this.report(change.event, change.peer);
    } catch (err) {
      this.onError(err as Error, 'answer');
    }
  }

  private onGoodbye(service: Service): void {
    try {
      if (!this.running || typeof service.fqdn !== 'string') return;
      const node = this.nodeByFqdn.get(service.fqdn.toLowerCase());
      if (node === undefined) return;
      this.nodeByFqdn.delete(service.fqdn.toLowerCase());
      for (const change of this.table.withdraw(node)) this.report(change.event, change.peer);
    } catch (err) {
      this.onError(err as Error, 'goodbye');
    }
  }

  /** Emits one event to each listener in turn; one that throws is logged and counted, and
   *  the next still runs (the agent's listener must not miss a peer for another's bug). */
  private report(event: 'up' | 'down', peer: PeerAdvert): void {
    this.log?.debug({ peer }, `mDNS peer ${event}`);
    for (const listener of this.rawListeners(event) as Array<(p: PeerAdvert) => void>) {
      try {
        listener.call(this, peer);
      } catch (err) {
        this.onError(err as Error, `${event} listener`);
      }
    }
  }

  private onError(err: Error, where: string): void {
    this.stats.errors++;
    this.warnOnce(`error:${where}:${err.message}`, { err: err.message, where }, 'mDNS error');
  }

  /** Logs a warning the first time, at debug level after: a broken peer re-answers every few seconds. */
  private warnOnce(key: string, fields: object, msg: string): void {
    if (!this.log) return;
    if (this.warned.has(key)) return void this.log.debug(fields, msg);
    if (this.warned.size < 1000) this.warned.add(key);
    this.log.warn(fields, msg);
  }
}

/** Waits for a callback-style operation, at most `ms` (a callback that never comes does not hang stop()). */
function settle(op: (done: () => void) => void, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      op(done);
    } catch {
      done();
    }
  });
}
