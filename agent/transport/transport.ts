import * as zmq from 'zeromq';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { DealerPool } from './dealer-pool.js';
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

export type BusHandler = (topic: string, frame: Uint8Array) => void;
export type DirectHandler = (frame: Uint8Array) => void;

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
}

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
export class Transport {
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
    busOut: 0, busIn: 0, directOut: 0, directIn: 0, dropsMalformed: 0, dropsSend: 0, busFiltered: 0, directLinks: 0, handlerErrors: 0, loopRestarts: 0,
  };
  /** Anything a peer can trigger per message is logged through this (see rate-limited-log.ts). */
  private readonly limited: RateLimitedLog;
  private loops: Promise<void>[] = [];
  private closing: Promise<void> | undefined;
  // Bound once: the publish hot path allocates no closures.
  private readonly countBusOut = (): void => { this.counters.busOut++; };
  private readonly countSendDrop = (): void => { this.counters.dropsSend++; };

  constructor(options: TransportOptions) {
    this.o = resolveTransportOptions(options);
    this.limited = new RateLimitedLog(this.o.logger);
    const { common, send, receive } = socketOptionSets(this.o);
    // Sockets exist from the start so that subscribe()/connectBus() work, and fail
    // loudly, before start(); only binding and the receive loops wait for start().
    // A socket left unclosed blocks process exit, so if a constructor throws anyway, close
    // the ones already made. (The half-made one cannot be closed: hence the up-front
    // validation in resolveTransportOptions.)
    const made: zmq.Socket[] = [];
    try {
      made.push((this.pub = new zmq.Publisher({ ...bindSide(common), ...send })));
      made.push((this.sub = new zmq.Subscriber({ ...common, ...receive })));
      made.push((this.router = new zmq.Router({ ...bindSide(common), ...send, ...receive })));
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
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    if (!this.sub.closed) this.sub.unsubscribe(topic);
  }

  /** Connects the SUB to a peer's PUB (idempotent). Throws TransportError for an endpoint
   *  libzmq cannot parse. libzmq reconnects by itself after crashes and cable cuts, but not
   *  after a frame over wireFrameLimit(): then disconnectBus + connectBus re-dials. */
  connectBus(endpoint: string): void {
    if (this.busEndpoints.has(endpoint) || this.state === 'closed') return;
    try {
      this.sub.connect(endpoint);
    } catch (err) {
      throw new TransportError(`cannot connect bus to ${JSON.stringify(endpoint)}: ${(err as Error).message}`, { cause: err });
    }
    this.busEndpoints.add(endpoint);
  }

  disconnectBus(endpoint: string): void {
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
  sendDirect(endpoint: string, frame: Uint8Array): void {
    if (this.state !== 'running' || frame.byteLength > this.o.maxMessageBytes) {
      this.dropSend('sendDirect', endpoint, frame);
      return;
    }
    this.dealers.send(endpoint, frame);
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
    for (const socket of [this.pub, this.sub, this.router]) {
      if (socket.closed) continue;
      socket.heartbeatInterval = socket === this.sub ? common.heartbeatInterval : 0; // see bindSide
      socket.heartbeatTimeout = common.heartbeatTimeout;
      socket.heartbeatTimeToLive = common.heartbeatTimeToLive;
      socket.connectTimeout = common.connectTimeout;
    }
    this.dealers.setHeartbeat(common);
    this.o.logger.info({ heartbeat: this.o.heartbeat, redial: opts.redial ?? false }, 'transport heartbeat changed');
    if (opts.redial && this.state !== 'closed') {
      for (const endpoint of [...this.busEndpoints]) {
        this.disconnectBus(endpoint);
        this.connectBus(endpoint);
      }
      this.dealers.closeAll();
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
    this.dealers.closeAll();
    this.pub.close();
    this.sub.close();
    this.router.close();
    await Promise.allSettled(this.loops);
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
      for await (const msg of this.sub) {
        const [topicFrame, frame] = msg;
        if (msg.length !== 2 || topicFrame === undefined || frame === undefined || frame.byteLength > max) {
          this.dropMalformed('bus', msg);
          continue;
        }
        const topic = topicFrame.toString();
        if (!this.topics.has(topic)) {
          this.counters.busFiltered++;
          continue;
        }
        this.counters.busIn++;
        try {
          this.busHandler(topic, frame);
        } catch (err) {
          this.counters.handlerErrors++;
          this.limited.error('bus-handler', { err, topic }, 'bus handler threw; message skipped');
        }
      }
    });
  }

  private receiveDirect(): Promise<void> {
    const max = this.o.maxMessageBytes;
    // A ROUTER prefixes the sender's routing id: a well-formed message is [id, frame].
    return this.keepReceiving('direct', async () => {
      for await (const msg of this.router) {
        const frame = msg[1];
        if (msg.length !== 2 || frame === undefined || frame.byteLength > max) {
          this.dropMalformed('direct', msg);
          continue;
        }
        this.counters.directIn++;
        try {
          this.directHandler(frame);
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
