import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { curveClientOptions, type TransportCurve } from './curve.js';
import type { SocketOptionSets, TransportLogger } from './options.js';

/** What a send outcome is reported to; bound once per link, not per message. */
export interface DirectSendCounters {
  sent(): void;
  dropped(): void;
}

interface DirectLink {
  readonly socket: zmq.Dealer;
  /** Secure mode: the peer key this DEALER was dialled with. */
  readonly serverKey: string | undefined;
  readonly openedAt: number;
  /** The link's socket monitor, read only for 'disconnect' (see onPeerClosed); null when not watched. */
  readonly events: zmq.Observer | null;
  lastUsed: number;
  /** True while sends fail: we log the transitions, not every drop. */
  congested: boolean;
  readonly onSent: () => void;
  readonly onDropped: (err: unknown) => void;
}

/** libzmq allows routing ids of 1..255 bytes; leave room for the suffix. */
const MAX_IDENTITY_BYTES = 240;

/**
 * Secure mode: a DEALER is re-opened after this long. libzmq does not retry a handshake our
 * peer's ZAP handler refused (measured: one attempt, then silence), and a one-way DEALER
 * never learns that its link is dead; a peer that admits us later (its allow-list gained
 * our certificate, e.g. during a key rotation) would otherwise never hear from us again.
 * The old socket's queue still drains during linger; the cost is one handshake per peer
 * per period.
 */
export const CURVE_DEALER_MAX_AGE_MS = 10_000;

/**
 * One DEALER per remote ROUTER endpoint, opened on first use and closed after sitting
 * idle, so a fleet member only holds connections to the peers it actually talks to.
 *
 * Each DEALER's routing id is `<identity>~<random>`: unique even when two agents share a
 * node name (RIAPS bug B17, where the ROUTER silently ignored the second connection with
 * a duplicate id), and unique across a quick close/re-open of the same link, when the
 * peer's ROUTER may not yet have noticed that the old connection went away.
 */
export class DealerPool {
  private readonly links = new Map<string, DirectLink>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly idPrefix: string;
  private peerClosed: ((endpoint: string) => void) | null = null;

  constructor(
    identity: string,
    private socketOptions: SocketOptionSets['common'] & SocketOptionSets['send'] & SocketOptionSets['receive'],
    private readonly idleMs: number,
    private readonly counters: DirectSendCounters,
    private readonly logger: TransportLogger,
    private readonly curve?: TransportCurve,
  ) {
    this.idPrefix = Buffer.from(identity).subarray(0, MAX_IDENTITY_BYTES).toString();
  }

  get size(): number {
    return this.links.size;
  }

  /**
   * Queues one frame for the ROUTER at `endpoint`. Never throws and never waits: with
   * `sendTimeout: 0` the send settles synchronously, and a full queue (peer absent or
   * slow, HWM reached) rejects with EAGAIN, which we count as a drop.
   */
  send(endpoint: string, frame: Uint8Array, serverKey?: string): void {
    let link = this.links.get(endpoint);
    if (link && (link.serverKey !== serverKey || (this.curve && performance.now() - link.openedAt > CURVE_DEALER_MAX_AGE_MS))) {
      // The peer at this endpoint now has another key (a rotation, or another node took the port).
      this.forget(endpoint);
      link = undefined;
    }
    link ??= this.open(endpoint, serverKey);
    if (!link) {
      this.counters.dropped();
      return;
    }
    link.lastUsed = performance.now();
    try {
      // Secure mode: [our name, tag, frame], so the receiver knows who sent it (see curve.ts).
      const msg = this.curve && serverKey ? [this.curve.direct.name, this.curve.direct.tag(serverKey, frame), frame] : frame;
      link.socket.send(msg).then(link.onSent, link.onDropped);
    } catch (err) {
      // Synchronous throws: socket closed under us (EBADF). Still a drop, not a crash.
      link.onDropped(err);
    }
  }

  /**
   * Calls `handler(endpoint)` when the TCP connection of a DEALER opened from now on
   * closes under us: the peer's process exited (the kernel closes its sockets at once),
   * or libzmq dropped the link (ZMTP heartbeat timeout, protocol error). A hint for the
   * protocol, never proof of death. libzmq reconnects by itself as before.
   *
   * This is the one place a socket monitor is used (see wireFrameLimit for why the
   * transport otherwise avoids them: libzmq's I/O thread blocks once ~1000 unread monitor
   * events pile up). Its exposure is small: one monitor per DEALER, a DEALER lives only
   * while we talk to its peer (directIdleMs), its events are read at once by a loop that
   * does nothing else, and a dead peer produces a few events per reconnect attempt — the
   * event loop would have to stall for tens of seconds with a peer down for the queue to fill.
   */
  onPeerClosed(handler: (endpoint: string) => void): void {
    this.peerClosed = handler;
  }

  /** Heartbeat options for DEALERs opened from now on (open ones keep theirs). */
  setHeartbeat(hb: Pick<SocketOptionSets['common'], 'heartbeatInterval' | 'heartbeatTimeout' | 'heartbeatTimeToLive' | 'connectTimeout'>): void {
    this.socketOptions = { ...this.socketOptions, ...hb };
  }

  /** The options the next DEALER will get (for tests and diagnostics). */
  nextSocketOptions(): Readonly<SocketOptionSets['common'] & SocketOptionSets['send'] & SocketOptionSets['receive']> {
    return this.socketOptions;
  }

  /** Closes the link to `endpoint` now, discarding anything still queued after linger. */
  forget(endpoint: string): void {
    const link = this.links.get(endpoint);
    if (!link) return;
    this.links.delete(endpoint);
    // The monitor first: a socket closed under a live monitor leaves its receive pending forever.
    if (link.events && !link.events.closed) link.events.close();
    link.socket.close();
    if (this.links.size === 0) this.stopSweeper();
  }

  closeAll(): void {
    for (const endpoint of [...this.links.keys()]) this.forget(endpoint);
    this.stopSweeper();
  }

  private open(endpoint: string, serverKey: string | undefined): DirectLink | undefined {
    if (this.curve && !serverKey) {
      // Never a plaintext link from a secure agent.
      this.logger.debug({ endpoint }, 'no key known for this direct endpoint; message dropped');
      return undefined;
    }
    const routingId = `${this.idPrefix}~${randomBytes(4).toString('hex')}`;
    const curve = this.curve && serverKey ? curveClientOptions(this.curve, serverKey) : {};
    const socket = new zmq.Dealer({ ...this.socketOptions, ...curve, routingId });
    try {
      socket.connect(endpoint);
    } catch (err) {
      // A malformed endpoint (it may come from a peer's advert): refuse, don't throw.
      socket.close();
      this.logger.warn({ err, endpoint }, 'cannot connect to direct endpoint; message dropped');
      return undefined;
    }
    const events = this.peerClosed ? this.watch(socket, endpoint) : null;
    const link: DirectLink = {
      socket,
      serverKey,
      openedAt: performance.now(),
      events,
      lastUsed: performance.now(),
      congested: false,
      onSent: () => {
        if (link.congested) {
          link.congested = false;
          this.logger.info({ endpoint }, 'direct link accepting messages again');
        }
        this.counters.sent();
      },
      onDropped: (err: unknown) => {
        if (!link.congested) {
          link.congested = true;
          this.logger.warn({ endpoint, code: errorCode(err) }, 'direct link not accepting messages (peer absent or slow); dropping');
        }
        this.counters.dropped();
      },
    };
    this.links.set(endpoint, link);
    this.startSweeper();
    this.logger.debug({ endpoint, routingId }, 'direct link opened');
    return link;
  }

  private watch(socket: zmq.Dealer, endpoint: string): zmq.Observer | null {
    let events: zmq.Observer;
    try {
      events = socket.events;
    } catch (err) {
      this.logger.warn({ err, endpoint }, 'cannot monitor direct link; no connection-closed hints for it');
      return null;
    }
    void (async () => {
      try {
        for await (const ev of events) {
          if (ev.type !== 'disconnect') continue;
          this.logger.debug({ endpoint }, 'direct link connection closed');
          try {
            this.peerClosed?.(endpoint);
          } catch (err) {
            this.logger.error({ err, endpoint }, 'peer-closed handler threw');
          }
        }
      } catch {
        // Closing the monitor ends the loop with an error (ENOTSOCK): the link is gone, nothing to do.
      }
    })();
    return events;
  }

  private startSweeper(): void {
    if (this.sweeper) return;
    const period = Math.min(Math.max(this.idleMs / 2, 50), 30_000);
    this.sweeper = setInterval(() => this.closeIdle(), period);
    // Housekeeping must not keep the process alive on its own.
    this.sweeper.unref();
  }

  private stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private closeIdle(): void {
    const cutoff = performance.now() - this.idleMs;
    for (const [endpoint, link] of this.links) {
      if (link.lastUsed < cutoff) {
        this.logger.debug({ endpoint }, 'direct link idle; closing');
        this.forget(endpoint);
      }
    }
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}
