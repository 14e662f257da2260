/**
 * One agent process: one transport (a PUB bus and a ROUTER for directed
 * messages), one discovery source, and any number of group members — one per
 * (component, group) — each a pure core driven by a {@link MemberDriver}.
 *
 * Routing: broadcasts go on the bus with the group name as topic (the agent
 * subscribes to its own bus too, so local members of one group hear each other);
 * directed messages go to the endpoint the target advertised in its heartbeats,
 * or straight to the target when it lives in this agent.
 */
import { pino, type Logger } from 'pino';
import { Coordinator } from '../api/coordinator.js';
import { Group } from '../api/group.js';
import { decodeObject } from '../api/objects.js';
import { BadArgumentsError, CohortError } from '../core/errors.js';
import type { AppEvent, HardState } from '../core/events.js';
import { GroupMember, type MemberOptions } from '../core/member.js';
import type { Envelope, MemberId } from '../core/messages.js';
import { validateTimers, type TimerSettings } from '../core/timers.js';
import { decodeEnvelope, encodeEnvelope } from '../../proto/codec.js';
import type { Discovery, PeerAdvert } from '../../discovery/discovery.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import { ActionTimer } from './action-timer.js';
import { EventLog } from './event-log.js';
import { systemClock, type Clock } from './clock.js';
import { MemoryHardStateStore, type HardStateStore } from './hard-state-store.js';
import { MemberDriver } from './member-driver.js';
import { PROTOCOL_VERSION } from '../core/messages.js';

const NAME_RE = /^[A-Za-z0-9_-]{1,100}$/;

export interface AgentOptions {
  /** Node id, unique in the fleet (default: the host name). */
  node: string;
  /** Address to bind (default 127.0.0.1). */
  listenHost?: string;
  /** Address peers should dial (default: listenHost; required when listenHost is a wildcard). */
  advertiseHost?: string;
  busPort?: number;
  directPort?: number;
  discovery?: Discovery;
  store?: HardStateStore;
  logger?: Logger;
  clock?: Clock;
  transport?: Partial<TransportOptions>;
}

export interface JoinOptions {
  /** Least number of members that may elect a leader (RIAPS groupMinSize). Default 2. */
  minSize?: number;
  timers?: Partial<TimerSettings>;
  /** Give every delivered message its send and receive times (RIAPS `timed` groups). */
  timed?: boolean;
  /** Deliver a member's own group messages to itself (RIAPS does). Default true. */
  deliverToSelf?: boolean;
}

export interface GroupStatus {
  group: string;
  component: string;
  memberId: MemberId;
  role: 'leader' | 'follower' | 'candidate';
  term: number;
  leader: MemberId | null;
  members: MemberId[];
  minSize: number;
  timers: TimerSettings;
  voters: MemberId[];
  configVersion: number;
  counters: GroupMember['counters'];
  lastActionErrorMs: number | null;
  /** Hard-state writes that failed (the messages depending on them were not sent). */
  persistFailures: number;
}

export interface AgentStatus {
  node: string;
  endpoints: { bus: string; direct: string };
  groups: GroupStatus[];
  drops: AgentDrops;
  transport: ReturnType<Transport['stats']>;
}

export interface AgentDrops {
  /** Frames that failed to decode (malformed, wrong version...). */
  decode: number;
  /** Frames for a group or member this agent does not host. */
  unknownGroup: number;
  /** Directed messages to a member whose endpoint is not known yet. */
  noRoute: number;
  /** Application handlers that threw. */
  handlerErrors: number;
}

interface Hosted {
  driver: MemberDriver;
  group: Group;
  component: string;
  timed: boolean;
  onLeft: (() => void) | null;
  lastActionErrorMs: number | null;
}

export class Agent {
  readonly node: string;
  readonly log: Logger;
  private readonly clock: Clock;
  private readonly store: HardStateStore;
  private readonly transport: Transport;
  private readonly actionTimer: ActionTimer;
  private readonly hosted = new Map<string, Hosted>(); // key: group \0 component
  private endpoints: { bus: string; direct: string } = { bus: '', direct: '' };
  private readonly connectedPeers = new Set<string>();
  private started = false;
  private stopping: Promise<void> | null = null;
  /** Firing errors (ms) not yet read by the metrics exporter. */
  readonly actionErrors: number[] = [];
  readonly drops: AgentDrops = { decode: 0, unknownGroup: 0, noRoute: 0, handlerErrors: 0 };
  /** Recent group events, for GET /events. */
  readonly events = new EventLog();

  constructor(private readonly opts: AgentOptions) {
    if (!NAME_RE.test(opts.node)) throw new BadArgumentsError(`node name must match ${NAME_RE}, got ${JSON.stringify(opts.node)}`);
    this.node = opts.node;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.clock = opts.clock ?? systemClock();
    this.store = opts.store ?? new MemoryHardStateStore();
    this.actionTimer = new ActionTimer(() => this.clock.now().wall);
    const listenHost = opts.listenHost ?? '127.0.0.1';
    this.transport = new Transport({
      listenHost,
      busPort: opts.busPort ?? 0,
      directPort: opts.directPort ?? 0,
      identity: opts.node,
      logger: this.log.child({ part: 'transport' }),
      ...opts.transport,
    });
  }

  async start(): Promise<{ bus: string; direct: string }> {
    if (this.started) return this.endpoints;
    this.started = true;
    const bound = await this.transport.start();
    const listen = this.opts.listenHost ?? '127.0.0.1';
    const advertise = this.opts.advertiseHost ?? listen;
    if (advertise === '0.0.0.0' || advertise === '::') throw new BadArgumentsError(`listening on ${listen}: set an advertise address peers can reach`);
    const swap = (ep: string) => ep.replace(/^tcp:\/\/(\[[^\]]*\]|[^:]*)/, `tcp://${advertise.includes(':') ? `[${advertise}]` : advertise}`);
    this.endpoints = { bus: swap(bound.bus), direct: swap(bound.direct) };
    this.transport.onBus((topic, frame) => this.onFrame(frame, topic));
    this.transport.onDirect((frame) => this.onFrame(frame, null));
    this.transport.connectBus(bound.bus); // our own bus: local members hear each other
    const discovery = this.opts.discovery;
    if (discovery) {
      discovery.on('up', (peer: PeerAdvert) => {
        if (peer.bus === this.endpoints.bus || peer.bus === bound.bus) return;
        this.log.info({ peer }, 'peer up');
        this.connectedPeers.add(peer.bus);
        this.transport.connectBus(peer.bus);
      });
      discovery.on('down', (peer: PeerAdvert) => {
        this.log.info({ peer }, 'peer down');
        // A goodbye can overtake the peer's last group messages (its Leave): let those drain first.
        const t = setTimeout(() => {
          if (!this.connectedPeers.has(peer.bus)) this.transport.disconnectBus(peer.bus);
        }, 2000);
        t.unref();
        this.connectedPeers.delete(peer.bus);
      });
      await discovery.start({ node: this.node, bus: this.endpoints.bus, direct: this.endpoints.direct, protocol: PROTOCOL_VERSION });
    }
    this.log.info({ node: this.node, ...this.endpoints }, 'agent started');
    return this.endpoints;
  }

  /** Join a group as `component`. Joining twice returns the same Group. */
  join(component: string, type: string, instance: string, opts: JoinOptions = {}): Group {
    if (!this.started) throw new CohortError('start the agent before joining groups');
    if (this.stopping) throw new CohortError('the agent is stopping');
    if (!NAME_RE.test(component)) throw new BadArgumentsError(`component name must match ${NAME_RE}, got ${JSON.stringify(component)}`);
    for (const [what, v] of [['group type', type], ['group instance', instance]] as const) {
      if (!/^[A-Za-z_][A-Za-z0-9_-]{0,99}$/.test(v)) throw new BadArgumentsError(`${what} must start with a letter or _ and use [A-Za-z0-9_-], got ${JSON.stringify(v)}`);
    }
    const name = `${type}.${instance}`;
    const key = `${name}\0${component}`;
    const existing = this.hosted.get(key);
    if (existing) return existing.group;
    const minSize = opts.minSize ?? 2;
    if (!Number.isInteger(minSize) || minSize < 1) throw new BadArgumentsError(`minSize must be a whole number >= 1, got ${String(opts.minSize)}`);
    const timers = validateTimers(opts.timers ?? {});
    // A damaged or lost state file throws StateFileError: the join fails, never a silent reset.
    const stored = this.store.claim(name, component);
    const memberOptions: MemberOptions = {
      group: name,
      id: `${this.node}/${component}`,
      incarnation: stored.incarnation,
      minSize,
      timers,
      random: { next: Math.random },
      hardState: stored.hardState,
      endpoint: this.endpoints.direct,
      deliverToSelf: opts.deliverToSelf ?? true,
      amnesiac: stored.amnesiac,
    };
    const core = new GroupMember(memberOptions);
    const driver = new MemberDriver(core, component, this.clock, {
      send: (env) => this.route(env),
      persist: (state, d) => this.persist(name, d.component, state),
      event: (event, d) => this.onEvent(name, d, event),
    });
    const entry: Hosted = {
      driver,
      component,
      timed: opts.timed ?? false,
      onLeft: null,
      lastActionErrorMs: null,
      group: undefined as unknown as Group,
    };
    entry.group = new Group(type, instance, { driver, timed: entry.timed, leave: () => this.leave(key) });
    this.hosted.set(key, entry);
    this.transport.subscribe(name);
    this.log.info({ group: name, member: core.id, minSize, timers }, 'joined group');
    // Start on the next turn, so the caller can attach listeners and see its own memberJoined.
    setImmediate(() => driver.start());
    return entry.group;
  }

  /** The RIAPS Coordinator of one component hosted by this agent. */
  coordinator(component: string): Coordinator {
    return new Coordinator(this, component);
  }

  getGroup(component: string, type: string, instance: string): Group | undefined {
    return this.hosted.get(`${type}.${instance}\0${component}`)?.group;
  }

  groups(): Group[] {
    return [...this.hosted.values()].map((h) => h.group);
  }

  private leave(key: string): Promise<void> {
    const h = this.hosted.get(key);
    if (!h) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(guard);
        h.driver.close();
        this.hosted.delete(key);
        const name = h.driver.core.group;
        if (![...this.hosted.values()].some((o) => o.driver.core.group === name)) this.transport.unsubscribe(name);
        this.log.info({ group: name, member: h.driver.core.id }, 'left group');
        resolve();
      };
      // A leader waits for its hand-over; never longer than this.
      const guard = setTimeout(done, 2 * h.driver.core.timers.heartbeat + 100);
      h.onLeft = done;
      h.driver.step((core, now) => core.leave(now));
    });
  }

  /** Leave every group (leaders hand over), then close sockets. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([...this.hosted.values()].map((h) => h.group.leave()));
      this.actionTimer.close();
      await this.opts.discovery?.stop();
      await this.transport.close();
      this.log.info({ node: this.node }, 'agent stopped');
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------------ routing

  private onFrame(frame: Uint8Array, topic: string | null): void {
    const decoded = decodeEnvelope(frame);
    if (!decoded.ok) {
      this.drops.decode++;
      this.log.warn({ err: decoded.error.message, code: decoded.error.code, field: decoded.error.field }, 'dropped a frame that failed to decode');
      return;
    }
    const env = decoded.envelope;
    if (topic !== null && topic !== env.group) {
      this.drops.unknownGroup++;
      return;
    }
    this.deliverLocal(env);
  }

  private deliverLocal(env: Envelope): void {
    let delivered = false;
    for (const h of this.hosted.values()) {
      const core = h.driver.core;
      if (core.group !== env.group || (env.to !== '' && env.to !== core.id)) continue;
      delivered = true;
      h.driver.step((c, now) => c.receive(env, now));
    }
    if (!delivered) this.drops.unknownGroup++;
  }

  private route(env: Envelope): void {
    if (env.to === '') {
      this.transport.publish(env.group, encodeEnvelope(env));
      return;
    }
    const local = [...this.hosted.values()].find((h) => h.driver.core.group === env.group && h.driver.core.id === env.to);
    if (local) {
      // Same agent: no socket, but still asynchronous, like the network.
      setImmediate(() => this.deliverLocal(env));
      return;
    }
    const sender = [...this.hosted.values()].find((h) => h.driver.core.group === env.group && h.driver.core.id === env.from);
    const endpoint = sender?.driver.core.endpointOf(env.to) ?? '';
    if (!endpoint) {
      this.drops.noRoute++;
      this.log.debug({ group: env.group, to: env.to, type: env.body.type }, 'no endpoint known for member; dropped');
      return;
    }
    this.transport.sendDirect(endpoint, encodeEnvelope(env));
  }

  /** Durably record a member's hard state. Throws on failure: the driver then sends nothing that depends on it. */
  private persist(group: string, component: string, state: HardState): void {
    const driver = this.hosted.get(`${group}\0${component}`)?.driver;
    try {
      this.store.save(group, component, state);
    } catch (err) {
      // Once per burst of failures (and every 100th after), not once per vote.
      const burst = driver?.persistFailureBurst ?? 0;
      if (burst % 100 === 0) {
        this.log.error({ err, group, component, failures: (driver?.persistFailures ?? 0) + 1, burst: burst + 1 }, 'could not persist hard state: not sending the messages that depend on it');
      }
      throw err;
    }
    if (driver && driver.persistFailureBurst > 0) this.log.warn({ group, component, failed: driver.persistFailureBurst }, 'hard state persisted again');
  }

  private onEvent(group: string, driver: MemberDriver, event: AppEvent): void {
    const h = this.hosted.get(`${group}\0${driver.component}`);
    if (!h) return;
    if (event.type === 'left') {
      h.onLeft?.();
      return;
    }
    this.events.add({ at: this.clock.now().wall, group, ...describe(event), member: driver.core.id });
    if (event.type === 'leaderElected' || event.type === 'leaderExited' || event.type === 'memberJoined' || event.type === 'memberLeft') {
      this.log.info({ group, self: driver.core.id, ...event }, event.type);
    }
    if (event.type === 'actionScheduled') {
      const topic = event.topic;
      this.actionTimer.at(event.when, (firing) => {
        h.lastActionErrorMs = firing.errorMs;
        this.actionErrors.push(firing.errorMs);
        this.events.add({ at: firing.firedAt, group, member: driver.core.id, type: 'action', ballotId: event.ballotId, ...firing });
        this.log.info({ group, ballotId: event.ballotId, ...firing }, 'action fired');
        this.guard(() => h.group.fireAction(event.ballotId, topic, firing), group, 'action');
      });
      return;
    }
    this.guard(() => h.group.deliver(event), group, event.type);
  }

  /** An application handler that throws is logged and counted; it never takes the agent down. */
  private guard(fn: () => void, group: string, what: string): void {
    try {
      fn();
    } catch (err) {
      this.drops.handlerErrors++;
      this.log.error({ err, group, event: what }, 'application handler threw');
    }
  }

  // ------------------------------------------------------------------ status

  status(): AgentStatus {
    const groups = [...this.hosted.values()].map((h): GroupStatus => {
      const c = h.driver.core;
      return {
        group: c.group,
        component: h.component,
        memberId: c.id,
        role: c.role(),
        term: c.term(),
        leader: c.leader(),
        members: c.members(),
        minSize: c.minSize,
        timers: { ...c.timers },
        voters: [...c.config().voters],
        configVersion: c.config().version,
        counters: structuredClone(c.counters),
        lastActionErrorMs: h.lastActionErrorMs,
        persistFailures: h.driver.persistFailures,
      };
    });
    return { node: this.node, endpoints: this.endpoints, groups, drops: { ...this.drops }, transport: this.transport.stats() };
  }
}

/** A JSON-friendly summary of an event (payload bytes shown as text when printable, else size). */
function describe(event: AppEvent): { type: string; [k: string]: unknown } {
  const { type, ...rest } = event as AppEvent & Record<string, unknown>;
  const out: { type: string; [k: string]: unknown } = { type };
  for (const [k, v] of Object.entries(rest)) {
    // `member` names the observing member in the log; the member an event is about becomes `subject`.
    const key = k === 'member' ? 'subject' : k;
    out[key] = v instanceof Uint8Array ? preview(v) : v;
  }
  return out;
}

function preview(bytes: Uint8Array): string {
  try {
    const v = decodeObject(bytes);
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return `<${bytes.length} bytes>`;
  }
}
