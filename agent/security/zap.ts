/**
 * The ZAP handler (ZeroMQ RFC 27): libzmq asks it about every CURVE handshake our
 * server sockets (PUB, ROUTER) receive. CURVE by itself admits any client key; the
 * handler is what admits only the allow-list.
 *
 * libzmq looks for the handler at `inproc://zeromq.zap.01` in the socket's context, so
 * there is one per process (zeromq.js's default context). Several agents in one process
 * (tests, the demo) each register their own ZAP domain (socket option `zapDomain`), and
 * the handler dispatches on it; a request for a domain nobody registered is refused.
 *
 * What a ZAP request tells us: the domain, the peer's IP address, and the client's
 * 32-byte public key. Its "identity" frame is the server socket's own routing id, not the
 * peer's (libzmq 4.3.5; checked), and zeromq.js exposes no per-message `User-Id`, so the
 * handler can admit a key but cannot tie later messages to it: see transport/curve.ts for
 * how identity reaches each message.
 */
import * as zmq from 'zeromq';
import { z85Encode } from './z85.js';

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** Decides one handshake: the client's Z85 public key and IP address → admit or not. */
export type ZapDecision = (publicKey: string, address: string) => { admit: true; user: string } | { admit: false; reason: string };

export interface ZapStats {
  admitted: number;
  refused: number;
  /** Requests that were not CURVE, not ZAP 1.0, or for an unknown domain. */
  malformed: number;
}

class ZapHandler {
  private router: zmq.Router | null = null;
  private starting: Promise<void> | null = null;
  private loop: Promise<void> | null = null;
  private readonly domains = new Map<string, { decide: ZapDecision; stats: ZapStats }>();

  async register(domain: string, decide: ZapDecision): Promise<ZapStats> {
    if (this.domains.has(domain)) throw new Error(`ZAP domain ${domain} is already registered`);
    const stats: ZapStats = { admitted: 0, refused: 0, malformed: 0 };
    this.domains.set(domain, { decide, stats });
    // The handler must be bound before any server socket of this domain binds: without a
    // handler libzmq admits every CURVE client.
    await this.ensureStarted();
    return stats;
  }

  unregister(domain: string): void {
    this.domains.delete(domain);
    if (this.domains.size === 0 && this.router) {
      // Only once nobody needs it: a server socket still open without a handler would admit anyone.
      this.router.close();
      this.router = null;
      this.starting = null;
    }
  }

  private ensureStarted(): Promise<void> {
    this.starting ??= (async () => {
      const router = new zmq.Router({ linger: 0, sendTimeout: 0 });
      try {
        await router.bind(ZAP_ENDPOINT);
      } catch (err) {
        router.close();
        this.starting = null;
        throw new Error(`cannot bind the ZAP handler at ${ZAP_ENDPOINT}: ${(err as Error).message}`, { cause: err });
      }
      this.router = router;
      this.loop = this.serve(router);
    })();
    return this.starting;
  }

  private async serve(router: zmq.Router): Promise<void> {
    try {
      for await (const msg of router) {
        // [peer, "", version, requestId, domain, address, identity, mechanism, ...credentials]
        const [peer, empty, version, requestId, domain, address, , mechanism, key] = msg;
        if (!peer || !empty || !requestId) continue;
        const reply = (status: string, text: string, user = '') =>
          router.send([peer, empty, '1.0', requestId, status, text, user, '']).catch(() => {});
        const entry = domain ? this.domains.get(domain.toString()) : undefined;
        if (!entry || version?.toString() !== '1.0' || mechanism?.toString() !== 'CURVE' || !key || key.length !== 32) {
          if (entry) entry.stats.malformed++;
          await reply('400', 'refused');
          continue;
        }
        let verdict: ReturnType<ZapDecision>;
        try {
          verdict = entry.decide(z85Encode(key), address?.toString() ?? '');
        } catch {
          verdict = { admit: false, reason: 'internal error' };
        }
        if (verdict.admit) {
          entry.stats.admitted++;
          await reply('200', 'OK', verdict.user);
        } else {
          entry.stats.refused++;
          await reply('400', verdict.reason);
        }
      }
    } catch {
      // The router closed (last domain unregistered).
    }
  }
}

/** The process's ZAP handler. */
export const zapHandler = new ZapHandler();
