/**
 * How an agent learns where its peers are. The runtime depends only on this interface;
 * StaticDiscovery (a configured list) implements it now, mDNS will later.
 *
 * Discovery only says where a peer's agent can be reached. Whether it is alive is the
 * protocol's business (heartbeats): a killed agent sends no goodbye, so 'down' is a hint
 * (an advert withdrawn or replaced), never a failure detector.
 */
import type { EventEmitter } from 'node:events';

/** What an agent announces about itself. */
export interface PeerAdvert {
  /** Node id; unique in the fleet. A static list does not know it: the bus endpoint is used. */
  node: string;
  /** Group-bus (PUB) endpoint, `tcp://host:port`. */
  bus: string;
  /** Directed-message (ROUTER) endpoint, when the source knows it. */
  direct?: string;
  /** Wire-protocol version, so incompatible agents can be told apart before they talk. */
  protocol?: number;
  /** CURVE public key (Z85), once links are encrypted. */
  publicKey?: string;
}

/** Event name → listener arguments (node's typed EventEmitter map). */
export interface DiscoveryEventMap {
  /** A peer appeared, or re-appeared with new endpoints (then 'down' for the old advert came first). */
  up: [peer: PeerAdvert];
  /** A peer's advert was withdrawn or replaced. */
  down: [peer: PeerAdvert];
}

export interface Discovery extends Pick<EventEmitter<DiscoveryEventMap>, 'on' | 'off' | 'once'> {
  /** Starts announcing `self` (where the source can) and reporting peers. 'up' events may
   *  fire before the returned promise settles: attach listeners first. */
  start(self: PeerAdvert): Promise<void>;
  /** Stops reporting. Emits no 'down' events: the agent is leaving, not its peers. */
  stop(): Promise<void>;
}

/** Whether two adverts describe the same running agent (same node, same endpoints). */
export function sameAdvert(a: PeerAdvert, b: PeerAdvert): boolean {
  return (
    a.node === b.node &&
    a.bus === b.bus &&
    a.direct === b.direct &&
    a.protocol === b.protocol &&
    a.publicKey === b.publicKey
  );
}
