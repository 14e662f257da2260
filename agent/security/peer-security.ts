/**
 * Secure mode of one agent: its keypair, its live allow-list, its ZAP domain, and the
 * rules that keep strangers out:
 *
 * - admission (ZAP): a client key is admitted to our PUB and ROUTER only if the allow-list
 *   holds it;
 * - dialling: a discovered peer is dialled only with a key the allow-list binds to that
 *   peer's node name (mDNS carries a key so that we know which, never to make it trusted;
 *   a static peer is named `NAME@host:port`); a peer without a key is a plaintext peer and
 *   is never dialled;
 * - identity: a frame is accepted only if the member id it claims (`from`) belongs to the
 *   node whose key it came with; otherwise it is dropped and counted (`drops.identity`),
 *   even from an admitted key;
 * - changes to the allow-list apply at once: links to removed keys are closed, and every
 *   accepted connection is cut so that each client handshakes again (transport.ts
 *   dropAcceptedConnections).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { PeerAdvert } from '../../discovery/discovery.js';
import type { CurvePeer, TransportCurve } from '../transport/curve.js';
import { RateLimitedLog, type LevelLogger } from '../runtime/rate-limited-log.js';
import { AllowList, type AllowListChange } from './allow-list.js';
import { DirectAuth } from './direct-auth.js';
import type { OwnKeys } from './keys.js';
import { zapHandler, type ZapStats } from './zap.js';

export interface PeerSecurityStatus {
  mode: 'curve';
  publicKey: string;
  allowDir: string;
  /** Every allow-listed key, and every peer we were told about but refused. */
  peers: { name: string; publicKey: string | null; admitted: boolean; endpoint: string | null; dialled: boolean; reason?: string }[];
  /** Client keys our ZAP handler refused lately (at most 32, newest last). */
  refusedKeys: { publicKey: string; address: string; at: number; count: number }[];
  zap: ZapStats;
}

interface KnownPeer {
  advert: PeerAdvert;
  /** Set when dialled. */
  dialled: CurvePeer | null;
  reason: string | null;
}

export class PeerSecurity extends EventEmitter<{
  /** Dial (or re-dial) `endpoint` as `peer`. */
  dial: [endpoint: string, peer: CurvePeer];
  /** Stop dialling `endpoint`. */
  hangUp: [endpoint: string];
  /** Keys were removed: cut the connections our servers accepted. */
  cutAccepted: [];
}> {
  readonly zapDomain = `cohort-${randomBytes(6).toString('hex')}`;
  readonly direct: DirectAuth;
  private zap: ZapStats = { admitted: 0, refused: 0, malformed: 0 };
  private readonly known = new Map<string, KnownPeer>(); // by bus endpoint
  private readonly refused = new Map<string, { publicKey: string; address: string; at: number; count: number }>();
  private readonly limited: RateLimitedLog;
  private registered = false;

  constructor(
    readonly keys: OwnKeys,
    readonly allow: AllowList,
    private readonly log: LevelLogger,
  ) {
    super();
    this.limited = new RateLimitedLog(log);
    this.direct = new DirectAuth(keys.name, keys.secretKey, (name) => allow.keysOf(name));
    allow.on('change', (c) => this.onAllowChange(c));
  }

  get node(): string {
    return this.keys.name;
  }

  transportCurve(): TransportCurve {
    return { publicKey: this.keys.publicKey, secretKey: this.keys.secretKey, zapDomain: this.zapDomain, direct: this.direct };
  }

  /** Registers the ZAP domain (before the transport binds) and starts watching the allow-list. */
  async start(): Promise<void> {
    this.zap = await zapHandler.register(this.zapDomain, (publicKey, address) => {
      const name = this.allow.nameOf(publicKey);
      if (name !== undefined) return { admit: true, user: name };
      this.noteRefused(publicKey, address);
      return { admit: false, reason: 'key not on the allow-list' };
    });
    this.registered = true;
    this.allow.watch();
  }

  /** After the transport closed (a server socket without a ZAP handler would admit anyone). */
  stop(): void {
    this.allow.close();
    if (this.registered) zapHandler.unregister(this.zapDomain);
    this.registered = false;
  }

  /** How to dial our own bus. */
  self(): CurvePeer {
    return { name: this.keys.name, serverKey: this.keys.publicKey };
  }

  /** A peer was discovered: returns how to dial it, or null (refused; logged, listed in status). */
  peerUp(advert: PeerAdvert): CurvePeer | null {
    const entry: KnownPeer = { advert, dialled: null, reason: null };
    this.known.set(advert.bus, entry);
    return this.evaluate(entry);
  }

  peerDown(advert: PeerAdvert): void {
    const entry = this.known.get(advert.bus);
    if (entry && entry.advert.node === advert.node) this.known.delete(advert.bus);
  }

  /**
   * Whether a frame that came with `peer` (the node its key or tag proved) may claim to be
   * from `from`. A member id belongs to the node before its "/".
   */
  mayClaim(peer: string | undefined, from: string): boolean {
    const slash = from.indexOf('/');
    return peer !== undefined && slash > 0 && from.slice(0, slash) === peer;
  }

  /** The key to dial `memberId`'s agent with, if its node is allow-listed. */
  keyForMember(memberId: string): string | undefined {
    const slash = memberId.indexOf('/');
    return slash > 0 ? this.allow.keyFor(memberId.slice(0, slash)) : undefined;
  }

  status(): PeerSecurityStatus {
    const dialledBy = new Map<string, KnownPeer>();
    for (const k of this.known.values()) if (k.dialled) dialledBy.set(k.dialled.serverKey, k);
    const peers: PeerSecurityStatus['peers'] = this.allow.list().map((k) => {
      const d = dialledBy.get(k.publicKey);
      return { name: k.name, publicKey: k.publicKey, admitted: true, endpoint: d?.advert.bus ?? null, dialled: d !== undefined };
    });
    for (const k of this.known.values()) {
      if (k.dialled) continue;
      peers.push({ name: k.advert.node, publicKey: k.advert.publicKey ?? null, admitted: false, endpoint: k.advert.bus, dialled: false, reason: k.reason ?? 'refused' });
    }
    return {
      mode: 'curve',
      publicKey: this.keys.publicKey,
      allowDir: this.allow.dir,
      peers,
      refusedKeys: [...this.refused.values()],
      zap: { ...this.zap },
    };
  }

  private evaluate(entry: KnownPeer): CurvePeer | null {
    const { advert } = entry;
    let reason: string | null = null;
    let key: string | undefined;
    if (advert.publicKey !== undefined) {
      // mDNS: the key says which certificate to hold the peer to; the allow-list decides.
      const name = this.allow.nameOf(advert.publicKey);
      if (name === undefined) reason = 'announced key is not on the allow-list';
      else if (name !== advert.node) reason = `announced key belongs to ${name}, not ${advert.node}`;
      else key = advert.publicKey;
    } else if (advert.node.startsWith('tcp://')) {
      reason = 'plaintext or unnamed peer: a secure agent dials static peers as NAME@host:port';
    } else {
      key = this.allow.keyFor(advert.node);
      if (key === undefined) reason = `no certificate for ${advert.node} in the allow-list`;
    }
    entry.reason = reason;
    if (reason !== null || key === undefined) {
      entry.dialled = null;
      this.limited.warn('peer-refused', { peer: advert.node, bus: advert.bus, reason }, 'secure mode: not talking to this peer');
      return null;
    }
    entry.dialled = { name: advert.node, serverKey: key };
    return entry.dialled;
  }

  private onAllowChange(change: AllowListChange): void {
    this.direct.reset();
    for (const [endpoint, entry] of this.known) {
      const before = entry.dialled;
      const after = this.evaluate(entry);
      if (before && (!after || after.serverKey !== before.serverKey)) this.emit('hangUp', endpoint);
      if (after && (!before || after.serverKey !== before.serverKey)) this.emit('dial', endpoint, after);
    }
    if (change.removed.length > 0) this.emit('cutAccepted');
  }

  private noteRefused(publicKey: string, address: string): void {
    const seen = this.refused.get(publicKey);
    const at = Date.now();
    if (seen) {
      seen.count++;
      seen.at = at;
    } else {
      if (this.refused.size >= 32) this.refused.delete(this.refused.keys().next().value!);
      this.refused.set(publicKey, { publicKey, address, at, count: 1 });
    }
    this.limited.warn('zap-refused', { publicKey, address }, 'refused a connection: key not on the allow-list');
  }
}
