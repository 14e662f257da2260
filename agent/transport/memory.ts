/**
 * An in-process transport: several Agents in one process exchange frames through a
 * MemoryNetwork, without sockets, so the Agent's routing (decode, delivery to members,
 * drop counters) can be tested quickly and exactly. It keeps the rules of the
 * Transport interface (interface.ts) that routing depends on: delivery is
 * asynchronous and at most once, bus frames go only to exact subscribed topics and
 * only over connected buses, oversized frames are refused, a throwing handler is
 * counted. It can hold every frame for a fixed one-way delay ({@link MemoryNetwork.delayMs},
 * changeable at any time; frames to one transport stay in order), a wire's latency for
 * what measures round trips. It does not model loss or reconnection; the simulator
 * (test/sim/) is the place for those, and ZmqTransport's own tests for sockets.
 *
 * Endpoints look like `mem://<identity>.<n>/bus` and `mem://<identity>.<n>/direct`.
 */
import { EventEmitter } from 'node:events';
import type { Discovery, DiscoveryEventMap, PeerAdvert } from '../../discovery/discovery.js';
import type { Transport, TransportFactory } from './interface.js';
import { checkHeartbeat, TRANSPORT_DEFAULTS, TransportError, type HeartbeatOptions, type TransportOptions } from './options.js';
import type { BusHandler, DirectHandler, TransportStats } from './transport.js';

export class MemoryNetwork {
  private readonly buses = new Map<string, MemoryTransport>();
  private readonly directs = new Map<string, MemoryTransport>();
  private readonly discoveries = new Set<MemoryDiscovery>();
  private readonly adverts = new Map<string, PeerAdvert>(); // key: bus endpoint
  private seq = 0;
  /** When the last frame to each transport is due (monotonic ms): a shorter delay never overtakes. */
  private readonly lastDue = new Map<MemoryTransport, number>();
  /** One-way delay of every frame, ms (0: the next turn of the event loop). */
  delayMs = 0;

  constructor(opts: { delayMs?: number } = {}) {
    this.delayMs = opts.delayMs ?? 0;
  }

  /** @internal Deliver `fn` to `to` after the network's delay, in order per receiver. */
  deliver(to: MemoryTransport, fn: () => void): void {
    if (this.delayMs <= 0 && !this.lastDue.has(to)) return void setImmediate(fn);
    const now = performance.now();
    const due = Math.max(now + this.delayMs, this.lastDue.get(to) ?? 0);
    this.lastDue.set(to, due);
    setTimeout(() => {
      if (this.lastDue.get(to) === due) this.lastDue.delete(to);
      fn();
    }, due - now);
  }

  /** For AgentOptions.transportFactory. */
  readonly factory: TransportFactory = (options) => new MemoryTransport(this, options);

  /** A discovery source for one agent: it hears every advert announced on this network. */
  discovery(): MemoryDiscovery {
    return new MemoryDiscovery(this);
  }

  /** Tell every discovery on this network that `peer` is up (a started agent does this itself). */
  announce(peer: PeerAdvert): void {
    this.adverts.set(peer.bus, peer);
    for (const d of this.discoveries) d.heard(peer);
  }

  /** Withdraw an advert ('down' at every discovery). */
  withdraw(bus: string): void {
    const peer = this.adverts.get(bus);
    if (!peer) return;
    this.adverts.delete(bus);
    for (const d of this.discoveries) d.lost(peer);
  }

  /** @internal */
  bind(t: MemoryTransport, identity: string): { bus: string; direct: string } {
    const n = ++this.seq;
    const bus = `mem://${identity}.${n}/bus`;
    const direct = `mem://${identity}.${n}/direct`;
    this.buses.set(bus, t);
    this.directs.set(direct, t);
    return { bus, direct };
  }

  /** @internal */
  unbind(endpoints: { bus: string; direct: string }): void {
    this.buses.delete(endpoints.bus);
    this.directs.delete(endpoints.direct);
  }

  /** @internal Every transport whose SUB is connected to `bus`. */
  subscribersOf(bus: string): MemoryTransport[] {
    return [...this.buses.values()].filter((t) => t.listensTo(bus));
  }

  /** @internal */
  directAt(endpoint: string): MemoryTransport | undefined {
    return this.directs.get(endpoint);
  }

  /** @internal */
  join(d: MemoryDiscovery): PeerAdvert[] {
    this.discoveries.add(d);
    return [...this.adverts.values()];
  }

  /** @internal */
  part(d: MemoryDiscovery): void {
    this.discoveries.delete(d);
  }
}

type State = 'new' | 'running' | 'closed';

export class MemoryTransport implements Transport {
  private state: State = 'new';
  private endpoints: { bus: string; direct: string } | null = null;
  private readonly topics = new Set<string>();
  private readonly connected = new Set<string>();
  private busHandler: BusHandler = () => {};
  private directHandler: DirectHandler = () => {};
  private hb: HeartbeatOptions;
  private readonly maxBytes: number;
  private readonly counters: TransportStats = {
    busOut: 0, busIn: 0, directOut: 0, directIn: 0, dropsMalformed: 0, dropsSend: 0, busFiltered: 0, directLinks: 0, handlerErrors: 0, loopRestarts: 0, dropsAuth: 0, dropsNoKey: 0,
  };

  constructor(
    private readonly network: MemoryNetwork,
    private readonly options: TransportOptions,
  ) {
    if (!options.identity) throw new TransportError('transport identity (node id) must be a non-empty string');
    this.hb = { ...(options.heartbeat ?? TRANSPORT_DEFAULTS.heartbeat) };
    checkHeartbeat(this.hb);
    this.maxBytes = options.maxMessageBytes ?? TRANSPORT_DEFAULTS.maxMessageBytes;
  }

  async start(): Promise<{ bus: string; direct: string }> {
    if (this.state === 'closed') throw new TransportError('transport is closed');
    this.endpoints ??= this.network.bind(this, this.options.identity);
    this.state = 'running';
    return { ...this.endpoints };
  }

  publish(topic: string, frame: Uint8Array): void {
    if (this.state !== 'running' || !this.endpoints || frame.byteLength > this.maxBytes) return void this.counters.dropsSend++;
    this.counters.busOut++;
    // A copy per send, as on a wire: a sender that reuses its buffer changes nothing in flight.
    const copy = Uint8Array.from(frame);
    for (const t of this.network.subscribersOf(this.endpoints.bus)) this.network.deliver(t, () => t.arriveBus(topic, copy));
  }

  subscribe(topic: string): void {
    this.topics.add(topic);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }

  connectBus(endpoint: string): void {
    this.connected.add(endpoint);
  }

  disconnectBus(endpoint: string): void {
    this.connected.delete(endpoint);
  }

  sendDirect(endpoint: string, frame: Uint8Array): void {
    const to = this.network.directAt(endpoint);
    // Like a DEALER with sendTimeout 0 and nobody at the other end: the send fails, counted.
    if (this.state !== 'running' || !to || frame.byteLength > this.maxBytes) return void this.counters.dropsSend++;
    this.counters.directOut++;
    const copy = Uint8Array.from(frame);
    this.network.deliver(to, () => to.arriveDirect(copy));
  }

  onBus(handler: BusHandler): void {
    this.busHandler = handler;
  }

  onDirect(handler: DirectHandler): void {
    this.directHandler = handler;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  heartbeat(): HeartbeatOptions {
    return { ...this.hb };
  }

  setHeartbeat(hb: HeartbeatOptions): void {
    checkHeartbeat(hb);
    this.hb = { intervalMs: hb.intervalMs, timeoutMs: hb.timeoutMs };
  }

  /** No connections here, so none closes: the hint never fires (agents fall back to their timers). */
  onPeerClosed(_handler: (endpoint: string) => void): void {}

  /** No CURVE here: nothing is accepted with a key, so there is nothing to cut. */
  async dropAcceptedConnections(): Promise<void> {}

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.endpoints) this.network.unbind(this.endpoints);
  }

  /** @internal */
  listensTo(bus: string): boolean {
    return this.state === 'running' && this.connected.has(bus);
  }

  /** @internal */
  arriveBus(topic: string, frame: Uint8Array): void {
    if (this.state !== 'running') return;
    if (!this.topics.has(topic)) return void this.counters.busFiltered++;
    this.counters.busIn++;
    try {
      this.busHandler(topic, frame);
    } catch {
      this.counters.handlerErrors++;
    }
  }

  /** @internal */
  arriveDirect(frame: Uint8Array): void {
    if (this.state !== 'running') return;
    this.counters.directIn++;
    try {
      this.directHandler(frame);
    } catch {
      this.counters.handlerErrors++;
    }
  }
}

/** Discovery over a MemoryNetwork: `start(self)` announces the agent and reports every other one. */
export class MemoryDiscovery extends EventEmitter<DiscoveryEventMap> implements Discovery {
  private self: PeerAdvert | null = null;

  constructor(private readonly network: MemoryNetwork) {
    super();
  }

  async start(self: PeerAdvert): Promise<void> {
    this.self = self;
    for (const peer of this.network.join(this)) this.heard(peer);
    this.network.announce(self);
  }

  async stop(): Promise<void> {
    this.network.part(this);
    if (this.self) this.network.withdraw(this.self.bus);
    this.self = null;
  }

  /** @internal */
  heard(peer: PeerAdvert): void {
    if (this.self && peer.bus !== this.self.bus) this.emit('up', peer);
  }

  /** @internal */
  lost(peer: PeerAdvert): void {
    if (this.self && peer.bus !== this.self.bus) this.emit('down', peer);
  }
}
