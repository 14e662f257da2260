import * as zmq from 'zeromq';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { DealerPool } from './dealer-pool.js';
import { curveClientOptions, curveServerOptions, type CurvePeer } from './curve.js';
import {
  bindSide,
  checkHeartbeat,
  resolveTransportOptions,
  socketOptionSets,
  TransportError,
  type ResolvedTransportOptions,
  type TransportOptions,
} from './options.js';

export { heartbeatForTimers, TransportError, TRANSPORT_DEFAULTS, wireFrameLimit, type HeartbeatOptions, type TransportLogger, type TransportOptions } from './options.js';
import type { HeartbeatOptions } from './options.js';
import type { Transport } from './interface.js';

export type { CurvePeer, TransportCurve } from './curve.js';

/** `peer`: in secure mode, the node the frame certainly comes from (see curve.ts); else undefined. */
export type BusHandler = (topic: string, frame: Uint8Array, peer?: string) => void;
export type DirectHandler = (frame: Uint8Array, peer?: string) => void;

export interface TransportStats {
  /** Bus messages handed to libzmq. PUB drops for a slow subscriber are invisible here. */
  busOut: number;
  /** Bus messages delivered to the handler. */
  busIn: number;
  directOut: number;
  directIn: number;
  /** Received messages with the wrong number of frames or a frame over maxMessageBytes. */
  dropsMalformed: number;
  /** Sends refused: queue full or peer absent (EAGAIN), oversized, or transport not running. */
  dropsSend: number;
  /** Bus messages whose topic matched a subscription prefix but not a subscribed topic
   *  (libzmq filters by prefix: "g1" also lets "g10" through), or that were already
   *  queued when their topic was unsubscribed. */
  busFiltered: number;
  /** DEALERs currently open (one per recently used direct endpoint). */
  directLinks: number;
  /** Messages whose handler threw (the message is skipped, the loop goes on). */
  handlerErrors: number;
  /** Times a receive loop failed and was restarted. */
  loopRestarts: number;
  /** Secure mode: directed messages without a valid sender tag (see curve.ts). */
  dropsAuth: number;
  /** Secure mode: sends dropped because no key is known for the receiver. */
  dropsNoKey: number;
}

/** Secure mode: one SUB per peer bus (see curve.ts). */
interface CurveBusLink {
  socket: zmq.Subscriber;
  peer: CurvePeer;
  loop: Promise<void>;
  /** performance.now() of the last message received (or of the dial). */
  lastIn: number;
}

/**
 * Secure mode: a bus link silent this long is re-dialled. libzmq does not retry a
 * handshake the peer's ZAP handler refused, so without this a peer that admits us only
 * later (its allow-list gained our certificate) would stay deaf to us for good. A live
 * peer with a group in common is never this silent (group heartbeats); one without only
 * costs a handshake per period.
 */
export const CURVE_SILENT_REDIAL_MS = 5_000;

type State = 'new' | 'starting' | 'running' | 'closed';

/**
 * Moves opaque frames between agents; knows nothing of the protocol.
 *
 * - Group bus: one PUB we bind, one SUB we connect to every peer's PUB (ours included,
 *   when the runtime wants self-delivery). A message is `[topic, frame]`, topic = group.
 * - Directed: one ROUTER we bind; to reach a peer we send through a DEALER connected to
 *   its ROUTER (see DealerPool). Directed messages are one-way: replies come back through
 *   the peer's own DEALER to our ROUTER.
 *
 * Sending never blocks and never throws for network reasons: every socket has
 * `sendTimeout: 0` (see socketOptionSets), so each send completes or fails inside the
 * call, and a failure is a counted drop. The protocol above must tolerate loss anyway.
 *
 * A started Transport keeps the process alive (zeromq.js's pending receives hold the
 * event loop, invisibly to process.getActiveResourcesInfo()): close() it on shutdown.
 * It uses no socket monitor (socket.events) on its bus and ROUTER sockets (see
 * wireFrameLimit for why); only direct links may be watched for closed connections
 * (onPeerClosed, a failover hint).
 */
export class ZmqTransport implements Transport {
  private readonly o: ResolvedTransportOptions;
  private state: State = 'new';
  private readonly pub: zmq.Publisher;
  private readonly sub: zmq.Subscriber;
  private readonly router: zmq.Router;
  private readonly dealers: DealerPool;
  private readonly topics = new Set<string>();
  private readonly busEndpoints = new Set<string>();
  private busHandler: BusHandler = () => {};
  private directHandler: DirectHandler = () => {};
  private readonly counters: TransportStats = {
    busOut: 0, busIn: 0, directOut: 0, directIn: 0, dropsMalformed: 0, dropsSend: 0, busFiltered: 0, directLinks: 0, handlerErrors: 0, loopRestarts: 0, dropsAuth: 0, dropsNoKey: 0,
  };
  /** Anything a peer can trigger per message is logged through this (see rate-limited-log.ts). */
  private readonly limited: RateLimitedLog;
  private loops: Promise<void>[] = [];
  private readonly curveLinks = new Map<string, CurveBusLink>();
  private curveRedialTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  // Bound once: the publish hot path allocates no closures.
  private readonly countBusOut = (): void => { this.counters.busOut++; };
  private readonly countSendDrop = (): void => { this.counters.dropsSend++; };

  constructor(options: TransportOptions) {
    this.o = resolveTransportOptions(options);
    this.limited = new RateLimitedLog(this.o.logger);
    const { common, send, receive } = socketOptionSets(this.o);
    const server = this.o.curve ? curveServerOptions(this.o.curve) : {};
    // Sockets exist from the start so that subscribe()/connectBus() work, and fail
    // loudly, before start(); only binding and the receive loops wait for start().
    // A socket left unclosed blocks process exit, so if a constructor throws anyway, close
    // the ones already made. (The half-made one cannot be closed: hence the up-front
    // validation in resolveTransportOptions.)
    const made: zmq.Socket[] = [];
    try {
      made.push((this.pub = new zmq.Publisher({ ...bindSide(common), ...send, ...server })));
      // Secure mode receives the bus through one SUB per peer (curveLinks); this one stays idle.
      made.push((this.sub = new zmq.Subscriber({ ...common, ...receive })));
      made.push((this.router = new zmq.Router({ ...bindSide(common), ...send, ...receive, ...server })));
    } catch (err) {
      for (const socket of made) socket.close();
      throw new TransportError(`cannot create sockets: ${(err as Error).message}`, { cause: err });
    }
    this.dealers = new DealerPool(
      this.o.identity,
      { ...common, ...send, ...receive },
      this.o.directIdleMs,
      { sent: () => { this.counters.directOut++; }, dropped: this.countSendDrop },
      this.o.logger,
      this.o.curve,
    );
  }

  /** Binds the bus and direct sockets and starts receiving. Returns the real endpoints. */
  async start(): Promise<{ bus: string; direct: string }> {
    if (this.state !== 'new') throw new TransportError(`cannot start a transport that is ${this.state}`);
    this.state = 'starting';
    let endpoints: { bus: string; direct: string };
    try {
      endpoints = {
        bus: await bindTcp(this.pub, this.o.listenHost, this.o.busPort),
        direct: await bindTcp(this.router, this.o.listenHost, this.o.directPort),
      };
    } catch (err) {
      await this.close();
      throw err;
    }
    if (this.state !== 'starting') throw new TransportError('transport closed while starting');
    this.state = 'running';
    this.loops = [this.receiveBus(), this.receiveDirect()];
    for (const link of this.curveLinks.values()) link.loop = this.receiveCurveBus(link);
    if (this.o.curve) {
      this.curveRedialTimer = setInterval(() => this.redialSilentCurveLinks(), CURVE_SILENT_REDIAL_MS / 2);
      this.curveRedialTimer.unref();
    }
    this.o.logger.info({ ...endpoints, identity: this.o.identity }, 'transport started');
    return endpoints;
  }

  // ---- group bus ----------------------------------------------------------------

  /** Sends `[topic, frame]` to every connected subscriber of `topic`. Never throws for
   *  network reasons; an oversized frame or a transport not running is a counted drop. */
  publish(topic: string, frame: Uint8Array): void {
    checkTopic(topic);
    if (this.state !== 'running' || frame.byteLength > this.o.maxMessageBytes) {
      this.dropSend('publish', topic, frame);
      return;
    }
    try {
      // PUB never blocks (it drops per slow subscriber), so this settles at once.
      this.pub.send([topic, frame]).then(this.countBusOut, this.countSendDrop);
    } catch {
      this.counters.dropsSend++;
    }
  }

  /** Receive bus messages for `topic` (exact match; libzmq's prefix match is narrowed). */
  subscribe(topic: string): void {
    checkTopic(topic);
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    if (!this.sub.closed) this.sub.subscribe(topic);
    for (const link of this.curveLinks.values()) if (!link.socket.closed) link.socket.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    if (!this.sub.closed) this.sub.unsubscribe(topic);
    for (const link of this.curveLinks.values()) if (!link.socket.closed) link.socket.unsubscribe(topic);
  }

  /** Connects the SUB to a peer's PUB (idempotent). Throws TransportError for an endpoint
   *  libzmq cannot parse. libzmq reconnects by itself after crashes and cable cuts, but not
   *  after a frame over wireFrameLimit(): then disconnectBus + connectBus re-dials. */
  connectBus(endpoint: string, peer?: CurvePeer): void {
    if (this.o.curve) {
      this.connectCurveBus(endpoint, peer);
      return;
    }
    if (this.busEndpoints.has(endpoint) || this.state === 'closed') return;
    try {
      this.sub.connect(endpoint);
    } catch (err) {
      throw new TransportError(`cannot connect bus to ${JSON.stringify(endpoint)}: ${(err as Error).message}`, { cause: err });
    }
    this.busEndpoints.add(endpoint);
  }

  disconnectBus(endpoint: string): void {
    const link = this.curveLinks.get(endpoint);
    if (link) {
      this.curveLinks.delete(endpoint);
      link.socket.close();
    }
    if (!this.busEndpoints.delete(endpoint) || this.sub.closed) return;
    try {
      this.sub.disconnect(endpoint);
    } catch {
      // libzmq may already have dropped the link (see wireFrameLimit); nothing to undo.
    }
  }

  // ---- directed -----------------------------------------------------------------

  /** Sends one frame to the ROUTER at `endpoint`. Never throws, never waits: a peer that
   *  is absent or slow fills its DEALER queue (sendHighWaterMark), then sends drop. */
  sendDirect(endpoint: string, frame: Uint8Array, serverKey?: string): void {
    if (this.state !== 'running' || frame.byteLength > this.o.maxMessageBytes) {
      this.dropSend('sendDirect', endpoint, frame);
      return;
    }
    if (this.o.curve && !serverKey) {
      // Secure mode never opens a plaintext link: the caller must know the receiver's key.
      this.counters.dropsNoKey++;
      this.counters.dropsSend++;
      return;
    }
    this.dealers.send(endpoint, frame, serverKey);
  }

  /** The bus endpoints dialled in secure mode, and as whom. */
  curvePeers(): { endpoint: string; name: string; serverKey: string }[] {
    return [...this.curveLinks].map(([endpoint, l]) => ({ endpoint, name: l.peer.name, serverKey: l.peer.serverKey }));
  }

  /**
   * Secure mode: drops every connection our PUB and ROUTER accepted (unbind + bind on the
   * same endpoints), so each client handshakes again through the ZAP handler. libzmq has
   * no call to cut one accepted connection; this is how a key removed from the allow-list
   * loses the links it already had. Admitted peers reconnect within ~100 ms; messages in
   * flight on the old links may be lost, which the protocol tolerates.
   */
  async dropAcceptedConnections(): Promise<void> {
    if (this.state !== 'running') return;
    for (const socket of [this.pub, this.router]) {
      const endpoint = socket.lastEndpoint;
      if (!endpoint || socket.closed) continue;
      try {
        await socket.unbind(endpoint);
        await socket.bind(endpoint);
      } catch (err) {
        this.limited.error('rebind', { err, endpoint }, 'could not re-bind after an allow-list removal');
      }
    }
  }

  /** Calls `handler(directEndpoint)` when the connection of a direct link we opened closes
   *  under us (see DealerPool.onPeerClosed): usually the peer's process exited. A hint. */
  onPeerClosed(handler: (endpoint: string) => void): void {
    this.dealers.onPeerClosed(handler);
  }

  /** Closes the DEALER to `endpoint` now (e.g. the peer left); it reopens on next send. */
  forgetDirect(endpoint: string): void {
    this.dealers.forget(endpoint);
  }

  // ---- receiving ----------------------------------------------------------------

  /** Sets the bus handler (replacing any previous one). */
  onBus(handler: BusHandler): void {
    this.busHandler = handler;
  }

  /** Sets the directed-message handler (replacing any previous one). */
  onDirect(handler: DirectHandler): void {
    this.directHandler = handler;
  }

  stats(): TransportStats {
    return { ...this.counters, directLinks: this.dealers.size };
  }

  /** The ZMTP heartbeat currently given to new connections. */
  heartbeat(): HeartbeatOptions {
    return { ...this.o.heartbeat };
  }

  /**
   * Changes the ZMTP heartbeat. libzmq copies socket options into each connection when
   * it is made, so the new values apply to connections made from now on: connections our
   * PUB and ROUTER accept, DEALERs opened later, and bus links dialled later. Existing
   * links keep the old values, unless `redial` is set: then every bus link is
   * re-dialled (disconnect + connect; messages in flight on it may be lost, which the
   * protocol tolerates) and every DEALER is closed (it reopens on the next send).
   * Throws TransportError for values resolveTransportOptions would refuse.
   */
  setHeartbeat(hb: HeartbeatOptions, opts: { redial?: boolean } = {}): void {
    checkHeartbeat(hb);
    const old = this.o.heartbeat;
    if (old.intervalMs === hb.intervalMs && old.timeoutMs === hb.timeoutMs) return;
    this.o.heartbeat = { intervalMs: hb.intervalMs, timeoutMs: hb.timeoutMs };
    const { common } = socketOptionSets(this.o);
    const apply = (socket: zmq.Socket, interval: number): void => {
      if (socket.closed) return;
      socket.heartbeatInterval = interval;
      socket.heartbeatTimeout = common.heartbeatTimeout;
      socket.heartbeatTimeToLive = common.heartbeatTimeToLive;
      socket.connectTimeout = common.connectTimeout;
    };
    // A bound socket's listener copied its options at bind (libzmq): new values would reach
    // only a later bind, so once started PUB and ROUTER keep theirs (they only answer pings:
    // see bindSide). Setting them anyway is what printed "Socket option will not take effect".
    if (this.state === 'new') {
      apply(this.pub, 0);
      apply(this.router, 0);
    }
    this.dealers.setHeartbeat(common);
    this.o.logger.info({ heartbeat: this.o.heartbeat, redial: opts.redial ?? false }, 'transport heartbeat changed');
    if (opts.redial && this.state !== 'closed') {
      // Options set while the SUB has no connections take effect without a warning, and the
      // re-dialled links get them.
      const endpoints = [...this.busEndpoints];
      for (const endpoint of endpoints) this.disconnectBus(endpoint);
      apply(this.sub, common.heartbeatInterval);
      for (const endpoint of endpoints) this.connectBus(endpoint);
      for (const [endpoint, link] of [...this.curveLinks]) {
        this.disconnectBus(endpoint);
        this.connectBus(endpoint, link.peer);
      }
      this.dealers.closeAll();
    } else {
      apply(this.sub, common.heartbeatInterval); // for the SUB's next connections
    }
  }

  /** Closes every socket and waits for the receive loops to end. Idempotent. Queued
   *  outgoing messages (a goodbye) get `lingerMs` to leave. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed';
    if (this.curveRedialTimer) clearInterval(this.curveRedialTimer);
    this.dealers.closeAll();
    this.pub.close();
    this.sub.close();
    this.router.close();
    const curveLoops = [...this.curveLinks.values()].map((l) => (l.socket.close(), l.loop));
    this.curveLinks.clear();
    await Promise.allSettled([...this.loops, ...curveLoops]);
    this.o.logger.debug({ stats: this.stats() }, 'transport closed');
  }

  /** Runs `loop` until the transport closes; if it fails while running, logs, counts and restarts it. */
  private async keepReceiving(channel: 'bus' | 'direct', loop: () => Promise<void>): Promise<void> {
    while (this.state === 'running') {
      try {
        await loop();
        return; // the socket closed
      } catch (err) {
        if (this.state !== 'running') return;
        this.counters.loopRestarts++;
        this.limited.error(`${channel}-loop`, { err, channel }, 'receive loop failed; restarting it');
        await sleep(50);
      }
    }
  }

  private receiveBus(): Promise<void> {
    const max = this.o.maxMessageBytes;
    return this.keepReceiving('bus', async () => {
      let n = 0;
      for await (const msg of this.sub) {
        this.onBusMessage(msg, max, undefined);
        if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
      }
    });
  }

  private onBusMessage(msg: Buffer[], max: number, peer: string | undefined): void {
    const [topicFrame, frame] = msg;
    if (msg.length !== 2 || topicFrame === undefined || frame === undefined || frame.byteLength > max) {
      this.dropMalformed('bus', msg);
      return;
    }
    const topic = topicFrame.toString();
    if (!this.topics.has(topic)) {
      this.counters.busFiltered++;
      return;
    }
    this.counters.busIn++;
    try {
      this.busHandler(topic, frame, peer);
    } catch (err) {
      this.counters.handlerErrors++;
      this.limited.error('bus-handler', { err, topic }, 'bus handler threw; message skipped');
    }
  }

  /** Secure mode: a SUB of its own for `endpoint`, a CURVE client of the peer's key. */
  private connectCurveBus(endpoint: string, peer: CurvePeer | undefined): void {
    if (this.state === 'closed') return;
    if (!peer) throw new TransportError(`secure transport: no key given for bus ${JSON.stringify(endpoint)} (it never dials a peer in plaintext)`);
    const old = this.curveLinks.get(endpoint);
    if (old && old.peer.serverKey === peer.serverKey && old.peer.name === peer.name) return;
    if (old) this.disconnectBus(endpoint);
    const { common, receive } = socketOptionSets(this.o);
    const socket = new zmq.Subscriber({ ...common, ...receive, ...curveClientOptions(this.o.curve!, peer.serverKey) });
    try {
      socket.connect(endpoint);
    } catch (err) {
      socket.close();
      throw new TransportError(`cannot connect bus to ${JSON.stringify(endpoint)}: ${(err as Error).message}`, { cause: err });
    }
    for (const topic of this.topics) socket.subscribe(topic);
    const link: CurveBusLink = { socket, peer: { ...peer }, loop: Promise.resolve(), lastIn: performance.now() };
    this.curveLinks.set(endpoint, link);
    if (this.state === 'running') link.loop = this.receiveCurveBus(link);
  }

  private receiveCurveBus(link: CurveBusLink): Promise<void> {
    const max = this.o.maxMessageBytes;
    const name = link.peer.name;
    return this.keepReceiving('bus', async () => {
      let n = 0;
      for await (const msg of link.socket) {
        link.lastIn = performance.now();
        this.onBusMessage(msg, max, name);
        if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
      }
    });
  }

  private redialSilentCurveLinks(): void {
    const cutoff = performance.now() - CURVE_SILENT_REDIAL_MS;
    for (const [endpoint, link] of [...this.curveLinks]) {
      if (link.lastIn >= cutoff || this.state !== 'running') continue;
      this.disconnectBus(endpoint);
      this.connectCurveBus(endpoint, link.peer);
    }
  }

  private receiveDirect(): Promise<void> {
    const max = this.o.maxMessageBytes;
    // A ROUTER prefixes the sender's routing id: a well-formed message is [id, frame].
    return this.keepReceiving('direct', async () => {
      const curve = this.o.curve;
      let n = 0;
      for await (const msg of this.router) {
        if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
        // Secure mode: [id, sender name, tag, frame] (see curve.ts).
        const frame = curve ? msg[3] : msg[1];
        if (msg.length !== (curve ? 4 : 2) || frame === undefined || frame.byteLength > max) {
          this.dropMalformed('direct', msg);
          continue;
        }
        let peer: string | undefined;
        if (curve) {
          const sender = curve.direct.verify(msg[1]!, msg[2]!, frame);
          if (sender === null) {
            this.counters.dropsAuth++;
            this.limited.warn('direct-auth', { bytes: frame.byteLength }, 'directed message without a valid sender tag dropped');
            continue;
          }
          peer = sender;
        }
        this.counters.directIn++;
        try {
          this.directHandler(frame, peer);
        } catch (err) {
          this.counters.handlerErrors++;
          this.limited.error('direct-handler', { err }, 'direct handler threw; message skipped');
        }
      }
    });
  }

  private dropMalformed(channel: 'bus' | 'direct', msg: Buffer[]): void {
    this.counters.dropsMalformed++;
    this.limited.debug('malformed', { channel, frames: msg.length, bytes: msg.slice(0, 4).map((f) => f.byteLength) }, 'malformed message dropped');
  }

  private dropSend(op: string, target: string, frame: Uint8Array): void {
    this.counters.dropsSend++;
    if (this.state !== 'running') {
      this.o.logger.debug({ op, target, state: this.state }, 'send dropped: transport not running');
    } else {
      // A caller bug, and a costly one: the receiver would cut the whole link.
      this.limited.warn('oversized-send', { op, target, bytes: frame.byteLength, max: this.o.maxMessageBytes }, 'send dropped: frame exceeds maxMessageBytes');
    }
  }
}

/**
 * A receive loop yields to the event loop after this many messages. With a backlog queued,
 * zeromq.js settles each receive at once, so `for await` runs on microtasks alone and
 * timers (heartbeats, elections) and HTTP never get a turn: a flood of frames, even ones
 * dropped at once, then starves the protocol (RIAPS bug B19; measured: elections under a
 * 20k msg/s flood, /status p99 0.8 s). Yielding costs one setImmediate per batch.
 */
const YIELD_EVERY = 64;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function checkTopic(topic: string): void {
  // An empty SUB filter means "everything": never let that happen by accident.
  if (typeof topic !== 'string' || topic.length === 0) throw new TransportError('bus topic must be a non-empty string');
}

/** Binds `socket` and reads back the real endpoint (port 0 means "any free port"). */
async function bindTcp(socket: zmq.Publisher | zmq.Router, host: string, port: number): Promise<string> {
  const wanted = `tcp://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  try {
    await socket.bind(wanted);
  } catch (err) {
    throw new TransportError(`cannot bind ${wanted}: ${(err as Error).message}`, { cause: err });
  }
  const bound = socket.lastEndpoint;
  if (!bound) throw new TransportError(`bound ${wanted} but libzmq reports no endpoint`);
  return bound;
}

/** The name ZmqTransport had before the Transport interface (interface.ts) existed. */
export { ZmqTransport as Transport };
