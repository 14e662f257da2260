import type * as zmq from 'zeromq';
import type { TransportLogger } from './options.js';

/**
 * Re-dials bus links that libzmq has abandoned.
 *
 * libzmq 4.3.5 treats a protocol error on a connection it dialled as final: the session
 * is terminated and never reconnected. The common cause is one frame above
 * ZMQ_MAXMSGSIZE (measured: after it, the SUB received nothing more from that PUB, ever).
 * A crash or a heartbeat timeout, by contrast, is retried. The socket monitor tells the
 * two apart: a link that libzmq will retry reports `disconnect` and then `connect:retry`
 * at once; an abandoned one reports only `disconnect`. When no retry follows within a
 * grace period, we disconnect and connect the endpoint again. Repeated failures back off
 * (a peer that is not a PUB at all fails its handshake every time).
 */
export class SubLinkWatchdog {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private stopped = false;
  /** Links re-dialled so far. */
  redials = 0;

  constructor(
    private readonly socket: zmq.Subscriber,
    /** Whether the runtime still wants this bus endpoint (disconnectBus removes it). */
    private readonly isWanted: (endpoint: string) => boolean,
    private readonly logger: TransportLogger,
    private readonly graceMs = 500,
    private readonly maxBackoffMs = 30_000,
  ) {}

  /** Follows the socket's events until the socket closes. Never rejects. */
  async run(): Promise<void> {
    try {
      for await (const event of this.socket.events) {
        if (this.stopped) break;
        const endpoint = 'address' in event ? event.address : undefined;
        if (endpoint === undefined) continue;
        switch (event.type) {
          case 'disconnect':
            this.arm(endpoint);
            break;
          case 'connect:retry':
          case 'connect':
            this.disarm(endpoint);
            break;
          case 'handshake':
            this.failures.delete(endpoint);
            break;
        }
      }
    } catch (err) {
      if (!this.stopped) this.logger.warn({ err }, 'bus link monitor stopped');
    } finally {
      this.stop();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private arm(endpoint: string): void {
    if (this.stopped || !this.isWanted(endpoint)) return;
    this.disarm(endpoint);
    const n = this.failures.get(endpoint) ?? 0;
    const delay = Math.min(this.graceMs * 2 ** n, this.maxBackoffMs);
    const timer = setTimeout(() => this.redial(endpoint), delay);
    timer.unref();
    this.timers.set(endpoint, timer);
  }

  private disarm(endpoint: string): void {
    const t = this.timers.get(endpoint);
    if (t) clearTimeout(t);
    this.timers.delete(endpoint);
  }

  private redial(endpoint: string): void {
    this.timers.delete(endpoint);
    if (this.stopped || this.socket.closed || !this.isWanted(endpoint)) return;
    this.failures.set(endpoint, (this.failures.get(endpoint) ?? 0) + 1);
    this.redials++;
    this.logger.warn({ endpoint }, 'bus link dropped by libzmq without retry (oversized frame or protocol error); re-dialling');
    try {
      this.socket.disconnect(endpoint);
    } catch {
      // Already gone from libzmq's endpoint table: nothing to undo.
    }
    try {
      this.socket.connect(endpoint);
    } catch (err) {
      this.logger.error({ err, endpoint }, 'bus link re-dial failed');
    }
  }
}
