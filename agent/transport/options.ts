/**
 * Transport settings. Every field says what it trades; {@link resolveTransportOptions}
 * fills in the defaults, so the rest of the transport sees no `undefined`.
 */

import { checkCurveKey, type TransportCurve } from './curve.js';

/** The subset of pino the transport logs through (pino itself fits). */
export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface TransportOptions {
  /** Address the PUB and ROUTER sockets bind to, e.g. `127.0.0.1`, `10.0.0.5` or `0.0.0.0`.
   *  With a wildcard the endpoints returned by `start()` contain the wildcard: the runtime
   *  must advertise a reachable address instead. */
  listenHost: string;
  /** Port of the group bus (PUB). 0 (default) lets the kernel pick a free one. */
  busPort?: number;
  /** Port of the directed-message socket (ROUTER). 0 (default) lets the kernel pick. */
  directPort?: number;
  /** This agent's node id. It prefixes the routing id of every DEALER we open, which
   *  shows up in the peer's ROUTER (and in packet captures). */
  identity: string;
  /** Largest frame sent or delivered, in bytes (default 1 MiB). Larger outgoing frames are
   *  refused (dropsSend); larger incoming ones are dropped (dropsMalformed). libzmq's own
   *  limit is set higher, see {@link wireFrameLimit}. */
  maxMessageBytes?: number;
  /** Messages queued per peer before sends drop (libzmq default 1000). On PUB the drop
   *  is silent and per slow subscriber; on a DEALER it is a counted `dropsSend`. */
  sendHighWaterMark?: number;
  /** Messages queued per peer on receive before libzmq stops reading that peer's TCP
   *  stream (which, in turn, makes the sender drop). libzmq default 1000. */
  receiveHighWaterMark?: number;
  /** ZMTP heartbeats on every socket (default 300/1000 ms): without them a dead peer's
   *  TCP connection lingers for minutes and queued messages arrive stale after a cable
   *  cut; with them the link drops ~1 s after a cut and reconnects ~0.2 s after repair. */
  heartbeat?: HeartbeatOptions;
  /** A DEALER unused this long is closed, releasing its queue and TCP connection
   *  (default 60 s). It is recreated on the next send. */
  directIdleMs?: number;
  /** How long close() lets queued messages (e.g. a goodbye) leave before sockets are
   *  torn down (default 200 ms). Also bounds how long process exit can wait on libzmq. */
  lingerMs?: number;
  logger?: TransportLogger;
  /** CURVE encryption and per-message sender identity (see curve.ts). Absent: plaintext. */
  curve?: TransportCurve;
}

/** ZMTP heartbeat: a PING every `intervalMs` of silence; a link with no traffic for `timeoutMs` after a PING is dropped. */
export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
}

export type ResolvedTransportOptions = Required<Omit<TransportOptions, 'sendHighWaterMark' | 'receiveHighWaterMark' | 'curve'>> &
  Pick<TransportOptions, 'sendHighWaterMark' | 'receiveHighWaterMark' | 'curve'>;

export const TRANSPORT_DEFAULTS = {
  busPort: 0,
  directPort: 0,
  maxMessageBytes: 1024 * 1024,
  heartbeat: { intervalMs: 300, timeoutMs: 1000 },
  directIdleMs: 60_000,
  lingerMs: 200,
} as const;

const INT32_MAX = 2 ** 31 - 1;
const MAX_HEARTBEAT_TTL_MS = 6_553_500;

const silentLogger: TransportLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class TransportError extends Error {
  override name = 'TransportError';
}

export function resolveTransportOptions(o: TransportOptions): ResolvedTransportOptions {
  if (!o.identity) throw new TransportError('transport identity (node id) must be a non-empty string');
  if (!o.listenHost) throw new TransportError('transport listenHost must be a non-empty string');
  const r: ResolvedTransportOptions = {
    listenHost: o.listenHost,
    identity: o.identity,
    busPort: o.busPort ?? TRANSPORT_DEFAULTS.busPort,
    directPort: o.directPort ?? TRANSPORT_DEFAULTS.directPort,
    maxMessageBytes: o.maxMessageBytes ?? TRANSPORT_DEFAULTS.maxMessageBytes,
    sendHighWaterMark: o.sendHighWaterMark,
    receiveHighWaterMark: o.receiveHighWaterMark,
    heartbeat: o.heartbeat ?? TRANSPORT_DEFAULTS.heartbeat,
    directIdleMs: o.directIdleMs ?? TRANSPORT_DEFAULTS.directIdleMs,
    lingerMs: o.lingerMs ?? TRANSPORT_DEFAULTS.lingerMs,
    logger: o.logger ?? silentLogger,
    curve: o.curve,
  };
  if (o.curve) {
    // Checked here: a socket constructor that throws on a bad key leaves an unclosable socket.
    const bad = checkCurveKey(o.curve.publicKey, 'curve.publicKey') ?? checkCurveKey(o.curve.secretKey, 'curve.secretKey');
    if (bad) throw new TransportError(bad);
    if (!o.curve.zapDomain) throw new TransportError('curve.zapDomain must be a non-empty string');
  }
  for (const [name, port] of [['busPort', r.busPort], ['directPort', r.directPort]] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TransportError(`${name} must be 0..65535, got ${port}`);
  }
  if (!(r.maxMessageBytes > 0)) throw new TransportError(`maxMessageBytes must be positive, got ${r.maxMessageBytes}`);
  checkHeartbeat(r.heartbeat);
  const counts = {
    sendHighWaterMark: r.sendHighWaterMark ?? 0,
    receiveHighWaterMark: r.receiveHighWaterMark ?? 0,
    lingerMs: r.lingerMs,
  };
  // Checked here, not left to libzmq: a zeromq.js socket constructor that throws on a bad
  // option leaves a half-made socket nobody can close, and it blocks process exit forever.
  for (const [name, v] of Object.entries(counts)) {
    if (!Number.isInteger(v) || v < 0 || v > INT32_MAX) throw new TransportError(`${name} must be an integer in 0..${INT32_MAX}, got ${v}`);
  }
  if (!(r.directIdleMs > 0)) throw new TransportError(`directIdleMs must be positive, got ${r.directIdleMs}`);
  return r;
}

/** Throws TransportError unless both heartbeat values are integers libzmq accepts. */
export function checkHeartbeat(hb: HeartbeatOptions): void {
  // Checked here, not left to libzmq (see resolveTransportOptions).
  for (const [name, v] of [['heartbeat.intervalMs', hb?.intervalMs], ['heartbeat.timeoutMs', hb?.timeoutMs]] as const) {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > INT32_MAX) throw new TransportError(`${name} must be an integer in 0..${INT32_MAX}, got ${v}`);
  }
  if (hb.timeoutMs > MAX_HEARTBEAT_TTL_MS) {
    // It is also the heartbeat TTL, which ZMTP carries in deciseconds in 16 bits.
    throw new TransportError(`heartbeat.timeoutMs must be at most ${MAX_HEARTBEAT_TTL_MS}, got ${hb.timeoutMs}`);
  }
}

/**
 * The ZMTP heartbeat that suits a set of group timers (the fastest of them wins):
 *
 *   intervalMs = min(heartbeat, floor(peerTimeout / 3))
 *   timeoutMs  = peerTimeout - intervalMs
 *
 * A dead connection is dropped by peerTimeout after its last traffic, when the group's
 * own membership declares the peer gone anyway; the transport need not be quicker. A shorter timeout (peerTimeout / 2 was tried) tears links
 * down under heavy loss, when TCP retransmissions delay a PONG, and loses the messages
 * queued on them (measured on the netns bench at 20 % loss in and out). The idle cost is
 * one PING per group heartbeat. Presets: lan 200/1000, riaps 1000/2000, slow 2500/5000
 * (the fixed default was 300/1000).
 */
export function heartbeatForTimers(timers: Iterable<{ heartbeat: number; peerTimeout: number }>): HeartbeatOptions | null {
  let best: HeartbeatOptions | null = null;
  for (const t of timers) {
    const intervalMs = Math.max(1, Math.min(t.heartbeat, Math.floor(t.peerTimeout / 3)));
    const timeoutMs = Math.min(MAX_HEARTBEAT_TTL_MS, Math.max(intervalMs + 1, t.peerTimeout - intervalMs));
    best = best ? { intervalMs: Math.min(best.intervalMs, intervalMs), timeoutMs: Math.min(best.timeoutMs, timeoutMs) } : { intervalMs, timeoutMs };
  }
  return best;
}

/**
 * Socket options, split by direction because zeromq.js sockets are sealed objects: setting
 * a send option on a SUB (which cannot send) throws.
 *
 * `sendTimeout: 0` is the important one. zeromq.js then sends synchronously (zmq_msg_send
 * with DONTWAIT) and settles the promise before send() returns, so a send is never "in
 * progress" and the EBUSY "Socket is busy writing" error cannot occur; a send that would
 * block rejects with EAGAIN instead. With the default (-1) even a PUB socket, which never
 * blocks, throws EBUSY after 512 back-to-back un-awaited sends (measured: 513 of 2000
 * went through), because the binding then defers the write to the next event-loop turn
 * so as not to starve it, and a deferred write counts as in progress.
 */
export interface SocketOptionSets {
  /** For every socket. */
  common: {
    linger: number;
    maxMessageSize: number;
    heartbeatInterval: number;
    heartbeatTimeout: number;
    heartbeatTimeToLive: number;
    connectTimeout: number;
  };
  /** For sockets that send (PUB, ROUTER, DEALER). */
  send: { sendTimeout: number; sendHighWaterMark?: number };
  /** For sockets that receive (SUB, ROUTER, DEALER). */
  receive: { receiveHighWaterMark?: number };
}

/**
 * The ZMQ_MAXMSGSIZE we give libzmq: a memory guard against a rogue peer, deliberately
 * above maxMessageBytes. libzmq enforces it by cutting the connection, and libzmq 4.3.5
 * never re-dials a link it cut for a protocol error: measured, a SUB that received one
 * frame over the limit heard nothing more from that PUB, ever (ROUTER/DEALER recover,
 * because the DEALER side dials and sees an ordinary disconnect). With headroom, a frame
 * that is merely over our limit (a peer configured with a larger maxMessageBytes) is
 * dropped and counted by the transport and the link lives on. Only a frame over this
 * guard, which no Cohort sender produces, still cuts a bus link; the runtime restores it
 * with disconnectBus + connectBus.
 *
 * Detecting the cut through the socket monitor (socket.events) was tried and rejected:
 * libzmq's I/O thread writes monitor events with a blocking send, so a monitor reader
 * that falls ~1000 events behind (a peer down for a minute produces ~20 retry events a
 * second) freezes every socket in the process. Observed under load, confirmed in gdb.
 */
export function wireFrameLimit(maxMessageBytes: number): number {
  return Math.max(4 * maxMessageBytes, maxMessageBytes + 64 * 1024);
}

/** The TCP connect timeout that goes with a ZMTP heartbeat: one interval, at least 100 ms. */
export function connectTimeoutFor(hb: HeartbeatOptions): number {
  return Math.max(100, hb.intervalMs);
}

/**
 * Options for the sockets that only bind (PUB, ROUTER): no PINGs of their own. Every
 * connection they accept comes from a SUB or DEALER that pings it (with a TTL, which
 * makes this side drop the link when the PINGs stop) and gets PONGs back, so pinging from
 * both ends would only double the idle wake-ups of libzmq's I/O thread (measured: ZMTP
 * heartbeats were most of an idle agent's I/O-thread CPU, BENCHMARKS.md).
 */
export function bindSide<T extends SocketOptionSets['common']>(common: T): T {
  return { ...common, heartbeatInterval: 0 };
}

export function socketOptionSets(o: ResolvedTransportOptions): SocketOptionSets {
  return {
    common: {
      linger: o.lingerMs,
      maxMessageSize: wireFrameLimit(o.maxMessageBytes),
      heartbeatInterval: o.heartbeat.intervalMs,
      heartbeatTimeout: o.heartbeat.timeoutMs,
      // Lets the binding side time the connection out too, when the connecting side
      // pings and then goes silent.
      heartbeatTimeToLive: o.heartbeat.timeoutMs,
      // One TCP connect attempt gives up after this and libzmq retries (every 100 ms): without
      // it a peer cut off for long sits in SYN-SENT on the kernel's backoff (1, 3, 7, 15 s...)
      // and the group heals seconds after the network did.
      connectTimeout: connectTimeoutFor(o.heartbeat),
    },
    send: { sendTimeout: 0, ...(o.sendHighWaterMark !== undefined && { sendHighWaterMark: o.sendHighWaterMark }) },
    receive: { ...(o.receiveHighWaterMark !== undefined && { receiveHighWaterMark: o.receiveHighWaterMark }) },
  };
}
