import { sameAdvert, type PeerAdvert } from './discovery.js';

export type PeerChange = { event: 'up' | 'down'; peer: PeerAdvert };

/**
 * The peers a discovery source currently believes in, keyed by node id, and the events
 * each observation implies. Shared by every Discovery implementation so that they all
 * report a restart the same way: an agent that comes back with new endpoints yields
 * 'down' for the old advert, then 'up' for the new one. Pure: the caller emits.
 */
export class PeerTable {
  private readonly peers = new Map<string, PeerAdvert>();

  /** Records `peer` as present. Returns the events to emit, in order (often none). */
  observe(peer: PeerAdvert): PeerChange[] {
    const known = this.peers.get(peer.node);
    if (known && sameAdvert(known, peer)) return [];
    this.peers.set(peer.node, peer);
    return known ? [{ event: 'down', peer: known }, { event: 'up', peer }] : [{ event: 'up', peer }];
  }

  /** Records that `node`'s advert was withdrawn. */
  withdraw(node: string): PeerChange[] {
    const known = this.peers.get(node);
    if (!known) return [];
    this.peers.delete(node);
    return [{ event: 'down', peer: known }];
  }

  clear(): void {
    this.peers.clear();
  }

  list(): PeerAdvert[] {
    return [...this.peers.values()];
  }
}
