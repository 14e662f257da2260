import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import type { Discovery, DiscoveryEventMap, PeerAdvert } from './discovery.js';
import { isNodeName } from '../agent/core/names.js';
import { parsePeerEndpoint, PeerEntryError, type PeerEndpoint } from './peer-endpoint.js';
import { PeerTable } from './peer-table.js';

export { PeerEntryError } from './peer-endpoint.js';

/** Splits a configured peer list (`"a:5001, b:5001 c:5001"`) on commas and whitespace. */
export function parsePeerList(s: string): string[] {
  return s.split(/[\s,]+/).filter((e) => e.length > 0);
}

export interface StaticDiscoveryOptions {
  /** Addresses of this machine. When the agent binds a wildcard (0.0.0.0), an entry
   *  naming one of them with our port is ourselves. Default: every interface address
   *  from os.networkInterfaces(); tests inject their own. */
  localAddresses?: readonly string[];
}

/**
 * Discovery from a fixed list of bus endpoints, for benches without multicast and for
 * fleets whose addresses are known. On start it reports every listed peer 'up' (the node
 * id is unknown until the peer speaks: the endpoint stands in for it) and never reports
 * 'down': a listed peer's liveness is for the protocol's heartbeats to judge.
 *
 * The same list can be deployed to every board: the agent's own entry is skipped, by
 * exact endpoint or, when the agent binds a wildcard or loopback address, by port plus
 * a local address.
 */
export class StaticDiscovery extends EventEmitter<DiscoveryEventMap> implements Discovery {
  /** The validated, de-duplicated entries (`name`: the node, when the entry was NAME@host:port). */
  readonly peers: readonly (PeerEndpoint & { name?: string })[];
  private readonly localAddresses: ReadonlySet<string>;
  private readonly table = new PeerTable();
  private running = false;

  /** Throws PeerEntryError, naming the entry, for anything that is not host:port. */
  constructor(entries: readonly string[], options: StaticDiscoveryOptions = {}) {
    super();
    const byEndpoint = new Map<string, PeerEndpoint & { name?: string }>();
    for (const entry of entries) {
      // NAME@host:port names the node (secure mode needs it: the allow-list binds keys to names).
      const at = entry.indexOf('@');
      const name = at > 0 ? entry.slice(0, at).trim() : undefined;
      if (name !== undefined && !isNodeName(name)) throw new PeerEntryError(entry, `${JSON.stringify(name)} before "@" is not a node id`);
      const peer = parsePeerEndpoint(at > 0 ? entry.slice(at + 1) : entry);
      byEndpoint.set(peer.endpoint, name !== undefined ? { ...peer, name } : peer);
    }
    this.peers = [...byEndpoint.values()];
    this.localAddresses = new Set((options.localAddresses ?? interfaceAddresses()).map((a) => a.toLowerCase()));
  }

  async start(self: PeerAdvert): Promise<void> {
    if (this.running) throw new Error('StaticDiscovery already started');
    const own = parsePeerEndpoint(self.bus.replace('://*:', '://0.0.0.0:'));
    this.running = true;
    for (const peer of this.peers) {
      if (this.isSelf(own, peer) || (peer.name !== undefined && peer.name === self.node)) continue;
      for (const change of this.table.observe({ node: peer.name ?? peer.endpoint, bus: peer.endpoint })) {
        this.emit(change.event, change.peer);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.table.clear();
  }

  private isSelf(own: PeerEndpoint, peer: PeerEndpoint): boolean {
    if (peer.port !== own.port) return false;
    if (peer.host === own.host) return true;
    if (WILDCARDS.has(own.host)) return LOOPBACK_NAMES.has(peer.host) || /^127\./.test(peer.host) || this.localAddresses.has(peer.host);
    // Bound to loopback: "localhost" and the loopback addresses name the same agent.
    return LOOPBACK_NAMES.has(own.host) && LOOPBACK_NAMES.has(peer.host);
  }
}

const WILDCARDS = new Set(['0.0.0.0', '::']);
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}
