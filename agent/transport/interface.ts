/**
 * What an Agent needs from a transport: two ways to move opaque frames between
 * agents, a group bus (publish by topic = group name, subscribe per group) and
 * directed messages (to the endpoint a member advertised), plus counters and
 * the link-liveness heartbeat. The transport knows nothing of the protocol.
 *
 * Implementations: `ZmqTransport` in transport.ts (ZeroMQ PUB/SUB + ROUTER/DEALER,
 * what agents use) and `MemoryTransport` in memory.ts (in one process, no sockets:
 * tests of the Agent's routing). Both share these rules:
 * - sending never blocks and never throws for network reasons: a frame that cannot go
 *   is a counted drop (`dropsSend`);
 * - delivery is asynchronous (never inside the send call) and at most once;
 * - a bus frame reaches a handler only for a subscribed topic, exactly (not by prefix);
 * - a handler that throws is counted (`handlerErrors`) and the next frame is delivered.
 */
import type { BusHandler, CurvePeer, DirectHandler, TransportStats } from './transport.js';
import type { HeartbeatOptions, TransportOptions } from './options.js';

export type { BusHandler, CurvePeer, DirectHandler, TransportStats, HeartbeatOptions, TransportOptions };

export interface Transport {
  /** Binds the bus and direct endpoints and starts receiving. Returns the endpoints peers dial. */
  start(): Promise<{ bus: string; direct: string }>;
  /** Sends `frame` on our bus under `topic` (a group name) to every connected subscriber. */
  publish(topic: string, frame: Uint8Array): void;
  /** Receive bus frames of this topic (from every bus we are connected to). */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Listen to a peer's bus (ours included, for members of this agent to hear each other).
   *  In secure mode `peer` names the peer and its server key (a transport without CURVE ignores it). */
  connectBus(endpoint: string, peer?: CurvePeer): void;
  disconnectBus(endpoint: string): void;
  /** Sends one frame to the direct endpoint a peer advertised. */
  sendDirect(endpoint: string, frame: Uint8Array, serverKey?: string): void;
  /** Secure mode: close the connections peers made to us (after an allow-list removal). */
  dropAcceptedConnections(): Promise<void>;
  /** Set the receive callbacks (each replaces the previous one). */
  onBus(handler: BusHandler): void;
  onDirect(handler: DirectHandler): void;
  /** Hint: the connection of a direct link we opened closed under us (usually the peer's process exited). */
  onPeerClosed(handler: (endpoint: string) => void): void;
  stats(): TransportStats;
  /** The link heartbeat given to new connections, and a way to change it (see ZmqTransport). */
  heartbeat(): HeartbeatOptions;
  setHeartbeat(hb: HeartbeatOptions, opts?: { redial?: boolean }): void;
  /** Stops receiving and releases everything. Idempotent. */
  close(): Promise<void>;
}

/** How an Agent makes its transport (AgentOptions.transportFactory); the default makes a ZmqTransport. */
export type TransportFactory = (options: TransportOptions) => Transport;
