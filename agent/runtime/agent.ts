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
import { BadArgumentsError, CohortError } from '../core/errors.js';
import type { AppEvent, HardState } from '../core/events.js';
import { GroupMember, type MemberOptions } from '../core/member.js';
import { componentNameProblem, groupNameProblem, nodeNameProblem } from '../core/names.js';
import type { Envelope, MemberId } from '../core/messages.js';
import { validateTimers, type TimerSettings } from '../core/timers.js';
import { decodeEnvelope, encodeEnvelope, framePrefix, isDataBroadcastWithPrefix } from '../../proto/codec.js';
import type { Discovery, PeerAdvert } from '../../discovery/discovery.js';
import { heartbeatForTimers, ZmqTransport, type TransportOptions } from '../transport/transport.js';
import type { Transport, TransportFactory } from '../transport/interface.js';
import { ActionTimer } from './action-timer.js';
import { EventLog, preview, type EventEntry } from './event-log.js';
import { systemClock, type Clock } from './clock.js';
import { MemoryHardStateStore, type HardStateStore } from './hard-state-store.js';
import { MemberDriver } from './member-driver.js';
import { PROTOCOL_VERSION } from '../core/messages.js';
import { RateLimitedLog } from './rate-limited-log.js';
import { HardwareMonitor, type HardwareStatus } from '../../hw/monitor.js';
import { stallResolutionFor } from '../../hw/load.js';
import { onStep as stepDecision, type ClockPolicy } from '../../hw/action-guard.js';
import { chooseHandover, healthierVoter, type AdaptationOptions, type AutoPreset, type AutoTimersOptions, type TimerProfile } from '../../hw/timer-policy.js';
import type { PeerOffset } from '../../hw/group-clock.js';
import { MemberHardware } from './member-hardware.js';
import type { PeerSecurity, PeerSecurityStatus } from '../security/peer-security.js';
import { FloodGuard, type FloodLimits } from '../security/flood-guard.js';

/** Leader broadcasts also sent over the direct link to each member (see Agent.copyDirect). */
const LEADER_BROADCASTS: ReadonlySet<string> = new Set(['leaderHeartbeat', 'ballot', 'pollResult']);
/**
 * Directed messages also published on the bus (see Agent.route), under the addressee's directed
 * topic: votes and poll requests to the leader, acknowledgements to the leader (admission, commit)
 * and vote replies to a candidate (elections). Each is idempotent, so a copy is harmless.
 */
const DIRECTED_BUS_COPIES: ReadonlySet<string> = new Set(['memberVote', 'pollRequest', 'heartbeatAck', 'voteReply']);

/**
 * The bus topic of copies addressed to one member (see Agent.route): only that member's
 * agent subscribes to it. libzmq matches subscriptions by prefix at the publisher, so it
 * must not start with a group name (those start with a letter or _), and no member's
 * topic may be the start of another's (the closing '>' sees to that: names never hold one).
 */
export function directedBusTopic(group: string, member: MemberId): string {
  return `>${group}>${member}>`;
}

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
  /** Makes the transport from the options above (default: a ZmqTransport). Tests pass a MemoryNetwork's. */
  transportFactory?: TransportFactory;
  /**
   * Node-id probe: before a member starts speaking, listen this long for frames that
   * claim its member id (another agent running under the same node id). Default: the
   * group's heartbeat + max(200, heartbeat / 2) ms. 0 starts members at once (no probe;
   * clashes are still detected afterwards). See README "Node ids" and defaultProbeMs.
   */
  probeMs?: number | ((timers: TimerSettings) => number);
  /**
   * The hardware layer (board, load, clock quality, steps): shared by every member of the
   * agent. Default: a new HardwareMonitor; false: none (no guard, no adaptation).
   */
  hardware?: HardwareMonitor | false;
  /** Secure mode (CURVE, allow-list, per-frame identity): see agent/security/. Absent: plaintext. */
  security?: PeerSecurity;
  /** Per-peer receive rate limits (agent/security/flood-guard.ts); default FLOOD_DEFAULTS. */
  floodLimits?: FloodLimits;
}

export interface JoinOptions {
  /** Least number of members that may elect a leader (RIAPS groupMinSize). Default 2. */
  minSize?: number;
  timers?: Partial<TimerSettings>;
  /** Give every delivered message its send and receive times (RIAPS `timed` groups). */
  timed?: boolean;
  /** Deliver a member's own group messages to itself (RIAPS does). Default true. */
  deliverToSelf?: boolean;
  /** What this member's clock must honour before it agrees to an action (README "Hardware and clocks"). */
  clock?: Partial<ClockPolicy>;
  /** Timer adaptation to this member's stalls and load; false turns it off. Default on. */
  adapt?: Partial<AdaptationOptions> | false;
  /** Why the group's timers are what they are (shown with the timer profile), e.g. "preset lan". */
  timersReason?: string;
  /**
   * Timers `auto` (README "Configuration"): the group starts on `timers` (the board's choice)
   * and switches between these presets with the round trip its leader measures. Needs the
   * hardware layer (it runs on load samples).
   */
  autoTimers?: AutoTimersOptions;
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
  /** The active timer profile: the group's timers, this member's scale and why. */
  timerProfile?: Pick<TimerProfile, 'scale' | 'health' | 'reason'> & {
    base: TimerSettings;
    /** Timers `auto`: the preset chosen now, and the group round trip this member last measured as leader (ms; null: never). */
    auto?: { preset: AutoPreset; roundTripMs: number | null };
    /** In poor health with a healthier voter alive: this member lets the others campaign first. */
    yieldsCandidacy?: boolean;
  };
  /** This member's view of the group's clocks (see hw/group-clock.ts). */
  clock?: { peers: PeerOffset[]; skewMs: number; selfOffsetMs: number; errorMs: number | null; toleranceMs: number; unsynchronised: ClockPolicy['unsynchronised'] };
  /** Every member this one knows (itself included), for `cohort members`. */
  memberInfo: MemberInfo[];
}

/** One member as another sees it. */
export interface MemberInfo {
  id: MemberId;
  /** The direct endpoint it advertises ('' until heard). */
  endpoint: string;
  incarnation: number;
  /** How long ago it was last heard, ms (0 for the reporting member itself). */
  lastHeardMs: number;
  /** Clock offset to the reporting member, ms, when the hardware layer measures it (else absent). */
  clockOffsetMs?: number;
}

export interface AgentStatus {
  node: string;
  endpoints: { bus: string; direct: string };
  groups: GroupStatus[];
  drops: AgentDrops;
  transport: ReturnType<Transport['stats']>;
  /** Another agent seen using one of this agent's member ids (same node id). */
  clashes: NodeIdClash[];
  /** ZMTP heartbeat given to new connections (derived from the fastest group timers). */
  transportHeartbeat: { intervalMs: number; timeoutMs: number };
  /** Board, load, event-loop delay and clock quality (null without the hardware layer). */
  hardware?: HardwareStatus | null;
  /** `plaintext`, or the secure mode's key, allow-list and peers (see README "Security"). */
  security?: PeerSecurityStatus | { mode: 'plaintext' };
  /** Own data broadcasts looped back by the bus and dropped before decoding (this agent's sole member of the group sent them). */
  ownEchoesSkipped?: number;
  /** The per-peer receive rate limits in force (config `floodLimits`). */
  floodLimits?: FloodLimits;
}

/** Another agent speaking under one of this agent's member ids. See README "Node ids". */
export interface NodeIdClash {
  group: string;
  memberId: MemberId;
  /** This agent's direct endpoint. */
  ownEndpoint: string;
  /** The direct endpoint the other advertises in its heartbeats ('' until one is heard). */
  otherEndpoint: string;
  ownIncarnation: number;
  otherIncarnation: number;
  /** Wall-clock ms when first seen, and when last seen. */
  since: number;
  lastSeen: number;
  /**
   * What this agent did: `refused` (heard during the probe: the member never started),
   * `stopped` (both were running, this one is the later: stopped silently, no Leave),
   * `kept` (both were running, this one is the earlier: it carries on).
   */
  outcome: 'refused' | 'stopped' | 'kept';
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
  /** Envelopes our own members produced that could not be encoded (never sent). */
  encode: number;
  /** Frames or events whose handling threw inside the runtime (skipped; the agent goes on). */
  internal: number;
  /** Frames from another agent using one of our member ids (see clashes). */
  clash: number;
  /** Secure mode: frames claiming a member of another node than the key they came with. */
  identity: number;
  /** Frames over their sender's rate limit (group data and control counted apart in floodData/floodControl). */
  flood: number;
  floodData: number;
  floodControl: number;
}

interface Hosted {
  driver: MemberDriver;
  group: Group;
  component: string;
  timed: boolean;
  onLeft: (() => void) | null;
  lastActionErrorMs: number | null;
  /** `probing`: created, listening for a clash before speaking; `running`: started. */
  phase: 'probing' | 'running';
  hw: MemberHardware;
  /** Monotonic time this member last became leader (null: it does not lead). */
  leaderSince: number | null;
  /** Actions its clock guard voted no on: should the group pass one anyway, it does not fire here. */
  refusedActions: Map<string, string>;
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
  readonly drops: AgentDrops = { decode: 0, unknownGroup: 0, noRoute: 0, handlerErrors: 0, encode: 0, internal: 0, clash: 0, identity: 0, flood: 0, floodData: 0, floodControl: 0 };
  private readonly flood: FloodGuard;
  /** Per-frame problems are logged through this: at most a few lines per kind, with counts. */
  private readonly limited: RateLimitedLog;
  private readonly clashes = new Map<string, NodeIdClash>(); // key: group \0 memberId
  private readonly transportHeartbeatFixed: boolean;
  /** Incarnations our own members have spoken with, per group \0 component: their echoes are not clashes. */
  private readonly spoken = new Map<string, Set<number>>();
  /** Recent group events, for GET /events. */
  readonly events = new EventLog();
  readonly hardware: HardwareMonitor | null;
  /**
   * Per group hosted by exactly one running member here: the first bytes of that member's
   * frames (see framePrefix). Its own data broadcasts come back on our bus and its core
   * would drop them unread; recognising them by these bytes spares a decode per message.
   */
  private readonly ownEchoes = new Map<string, Uint8Array>();
  /** Own data broadcasts looped back by the bus and dropped before decoding (see ownEchoes). */
  private echoesSkipped = 0;

  constructor(private readonly opts: AgentOptions) {
    const nodeProblem = nodeNameProblem(opts.node);
    if (nodeProblem) throw new BadArgumentsError(`node name ${nodeProblem}`);
    this.node = opts.node;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.limited = new RateLimitedLog(this.log);
    this.flood = new FloodGuard(opts.floodLimits);
    this.transportHeartbeatFixed = opts.transport?.heartbeat !== undefined;
    this.clock = opts.clock ?? systemClock();
    this.store = opts.store ?? new MemoryHardStateStore();
    this.actionTimer = new ActionTimer(() => this.clock.now().wall, () => this.clock.now().mono);
    this.hardware = opts.hardware === false ? null : opts.hardware ?? new HardwareMonitor({ wall: () => this.clock.now().wall, mono: () => this.clock.now().mono });
    const listenHost = opts.listenHost ?? '127.0.0.1';
    this.transport = (opts.transportFactory ?? ((o) => new ZmqTransport(o)))({
      listenHost,
      busPort: opts.busPort ?? 0,
      directPort: opts.directPort ?? 0,
      identity: opts.node,
      logger: this.log.child({ part: 'transport' }),
      ...opts.transport,
      ...(opts.security && { curve: opts.security.transportCurve() }),
    });
  }

  async start(): Promise<{ bus: string; direct: string }> {
    if (this.started) return this.endpoints;
    this.started = true;
    const security = this.opts.security;
    if (security) {
      this.wireSecurity(security);
      await security.start(); // the ZAP handler must be there before our servers bind
    }
    const bound = await this.transport.start();
    this.startHardware();
    const listen = this.opts.listenHost ?? '127.0.0.1';
    const advertise = this.opts.advertiseHost ?? listen;
    if (advertise === '0.0.0.0' || advertise === '::') throw new BadArgumentsError(`listening on ${listen}: set an advertise address peers can reach`);
    const swap = (ep: string) => ep.replace(/^tcp:\/\/(\[[^\]]*\]|[^:]*)/, `tcp://${advertise.includes(':') ? `[${advertise}]` : advertise}`);
    this.endpoints = { bus: swap(bound.bus), direct: swap(bound.direct) };
    this.transport.onBus((topic, frame, peer) => this.onFrame(frame, topic, peer));
    this.transport.onDirect((frame, peer) => this.onFrame(frame, null, peer));
    this.transport.onPeerClosed((endpoint) => this.onPeerClosed(endpoint));
    this.transport.connectBus(bound.bus, security?.self()); // our own bus: local members hear each other
    const discovery = this.opts.discovery;
    if (discovery) {
      discovery.on('up', (peer: PeerAdvert) => {
        if (peer.bus === this.endpoints.bus || peer.bus === bound.bus) return;
        this.log.info({ peer }, 'peer up');
        const as = security?.peerUp(peer);
        if (as === null) return; // secure mode refused it (logged, listed in status)
        this.connectedPeers.add(peer.bus);
        this.transport.connectBus(peer.bus, as);
      });
      discovery.on('down', (peer: PeerAdvert) => {
        this.log.info({ peer }, 'peer down');
        security?.peerDown(peer);
        // A goodbye can overtake the peer's last group messages (its Leave): let those drain first.
        const t = setTimeout(() => {
          if (!this.connectedPeers.has(peer.bus)) this.transport.disconnectBus(peer.bus);
        }, 2000);
        t.unref();
        this.connectedPeers.delete(peer.bus);
      });
      await discovery.start({ node: this.node, bus: this.endpoints.bus, direct: this.endpoints.direct, protocol: PROTOCOL_VERSION, ...(security && { publicKey: security.keys.publicKey }) });
    }
    this.log.info({ ...this.endpoints }, 'agent started');
    return this.endpoints;
  }

  /** Start the hardware layer: samples adapt each member's timers; a wall-clock step voids the clock estimates. */
  private startHardware(): void {
    const hw = this.hardware;
    if (!hw) return;
    hw.onSample((sample) => {
      for (const h of this.hosted.values()) {
        if (h.phase !== 'running') continue;
        this.adapt(h, sample.at, sample.eventLoopDelay.maxMs, sample.processCpu);
      }
    });
    hw.onStep((step) => {
      const at = this.clock.now().wall;
      this.log.warn({ stepMs: step.stepMs }, 'the wall clock stepped: clock estimates reset; waiting actions decide on their own (re-arm or cancel)');
      for (const h of this.hosted.values()) {
        h.hw.clock.reset();
        this.events.add({ at, group: h.driver.core.group, member: h.driver.core.id, type: 'clockStep', stepMs: step.stepMs });
      }
    });
    hw.start();
  }

  /**
   * Feed one load sample to a member's timer adaptation, and on `auto` timers judge the round
   * trip (or follow the leader's preset): new timers go to the core (and out in a heartbeat);
   * a leader in poor health hands over to a healthier live voter.
   */
  private adapt(h: Hosted, atMono: number, stallMs: number, cpuLoad: number): void {
    const changed = h.hw.adaptation.observe({ atMono, stallMs, cpuLoad });
    const core = h.driver.core;
    if (changed) {
      this.log.info({ group: core.group, member: core.id, scale: changed.scale, timers: changed.timers, health: changed.health, reason: changed.reason }, 'timers adapted');
      this.events.add({ at: this.clock.now().wall, group: core.group, member: core.id, type: 'timersAdapted', scale: changed.scale, health: changed.health, reason: changed.reason, timers: changed.timers });
    }
    const leader = core.leader();
    const auto = core.hasLeft() ? null : h.hw.autoStep({ isLeader: core.isLeader(), leader, leaderTimers: leader === null ? undefined : core.advertisedTimers(leader), mono: atMono });
    if (auto) {
      const p = auto.profile;
      this.log.info({ group: core.group, member: core.id, preset: auto.preset, roundTripMs: auto.rttMs, scale: p.scale, timers: p.timers, reason: auto.reason }, 'timers switched (auto)');
      this.events.add({ at: this.clock.now().wall, group: core.group, member: core.id, type: 'timersAuto', preset: auto.preset, roundTripMs: auto.rttMs, scale: p.scale, reason: auto.reason, timers: p.timers });
      // A new base preset moves this member's stall budget: the loop sampling follows it.
      this.followStallBudgets();
    }
    if ((changed || auto) && !core.hasLeft()) {
      // A member that has left takes no new timers (setTimers would throw LeftGroupError).
      const timers = h.hw.profile().timers;
      h.driver.step((c, now) => c.setTimers(timers, now));
    }
    if (core.hasLeft()) return;
    const profile = h.hw.profile();
    const members = new Set(core.members());
    const voters = core.config().voters.filter((v) => v !== core.id).map((id) => ({ id, alive: members.has(id), electionMin: core.advertisedTimers(id)?.electionMin ?? Infinity }));
    // Poor health with a healthier voter alive: let it campaign first (it does not win meanwhile).
    const yieldTo = profile.health === 'poor' ? healthierVoter(core.timers.electionMin, voters) : null;
    if ((yieldTo !== null) !== core.yieldsCampaign()) {
      h.driver.step((c) => c.setCampaignYield(yieldTo !== null));
      const why = yieldTo !== null ? `poor health (${profile.reason}); ${yieldTo} is healthier` : `health ${profile.health}`;
      this.log.info({ group: core.group, member: core.id, yielding: yieldTo !== null, healthier: yieldTo, reason: why }, yieldTo !== null ? 'yielding candidacy to healthier voters' : 'candidacy no longer yielded');
      this.events.add({ at: this.clock.now().wall, group: core.group, member: core.id, type: 'campaignYield', yielding: yieldTo !== null, reason: why });
    }
    if (!core.isLeader() || h.leaderSince === null) return;
    const target = chooseHandover({
      isLeader: true,
      health: profile.health,
      leaderForMs: atMono - h.leaderSince,
      // Long enough that a hand-over cannot chase a stall around the group.
      minTenureMs: 10 * profile.base.peerTimeout,
      ownElectionMin: core.timers.electionMin,
      voters,
    });
    if (target === null) return;
    const handed = h.driver.step((c, now) => c.handOver(target, now));
    if (handed) {
      this.log.warn({ group: core.group, member: core.id, to: target, health: profile.health, reason: profile.reason }, 'handing leadership over: this member is in poor health and a healthier voter exists');
      this.events.add({ at: this.clock.now().wall, group: core.group, member: core.id, type: 'leaderHandOver', to: target, reason: profile.reason });
    }
  }

  /** Join a group as `component`. Joining twice returns the same Group. */
  join(component: string, type: string, instance: string, opts: JoinOptions = {}): Group {
    if (!this.started) throw new CohortError('start the agent before joining groups');
    if (this.stopping) throw new CohortError('the agent is stopping');
    const componentProblem = componentNameProblem(component);
    if (componentProblem) throw new BadArgumentsError(`component name ${componentProblem}`);
    const name = `${type}.${instance}`;
    const groupProblem = typeof type === 'string' && typeof instance === 'string' && !type.includes('.') && !instance.includes('.') ? groupNameProblem(name) : 'must be given as a type and an instance without "."';
    if (groupProblem) throw new BadArgumentsError(`group ${groupProblem}`);
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
      // Members of an auto group switch presets a heartbeat or so apart: none of them is a mismatch.
      ...(opts.autoTimers && { acceptedTimers: Object.values(opts.autoTimers.bases) }),
    };
    const core = new GroupMember(memberOptions);
    const driver = new MemberDriver(core, component, this.clock, {
      send: (env) => this.route(env),
      persist: (state, d) => this.persist(name, d.component, state),
      event: (event, d) => this.onEvent(name, key, d, event),
    });
    const entry: Hosted = {
      driver,
      component,
      timed: opts.timed ?? false,
      onLeft: null,
      lastActionErrorMs: null,
      phase: 'probing',
      group: undefined as unknown as Group,
      hw: new MemberHardware(core.id, timers, this.hardware, { clock: opts.clock, adapt: opts.adapt, timersReason: opts.timersReason, ...(opts.autoTimers && { auto: opts.autoTimers }) }),
      leaderSince: null,
      refusedActions: new Map(),
    };
    entry.group = new Group(type, instance, { driver, timed: entry.timed, leave: () => this.leave(key) });
    const firstMember = this.hosted.size === 0;
    this.hosted.set(key, entry);
    this.transport.subscribe(name);
    this.transport.subscribe(directedBusTopic(name, core.id));
    this.followGroupTimers(firstMember);
    this.followStallBudgets();
    const probeMs = this.probeMs(timers);
    this.log.info({ group: name, member: core.id, minSize, timers, probeMs }, 'joined group');
    // Start on the next turn at the earliest, so the caller can attach listeners and see its
    // own memberJoined; first listen for another agent using this member id (the probe).
    const begin = () => {
      if (this.hosted.get(key) !== entry || entry.phase !== 'probing' || this.stopping) return;
      entry.phase = 'running';
      this.refreshOwnEchoes();
      let mine = this.spoken.get(key);
      if (!mine) this.spoken.set(key, (mine = new Set()));
      mine.add(core.incarnation);
      driver.start();
    };
    if (probeMs > 0) setTimeout(begin, probeMs).unref();
    else setImmediate(begin);
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
    if (h.phase === 'probing') {
      // Never spoke: nothing to say goodbye for.
      this.dropMember(key, h);
      this.log.info({ group: h.driver.core.group, member: h.driver.core.id }, 'left group (before it started)');
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(guard);
        h.driver.close();
        this.hosted.delete(key);
        this.refreshOwnEchoes();
        this.followStallBudgets();
        const name = h.driver.core.group;
        this.unsubscribeMember(h);
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
      // Events the members produced while leaving (a leader's leaderExited) are delivered on a
      // later turn: let them out first, so the log reads in the order things happened.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.actionTimer.close();
      this.hardware?.stop();
      await this.opts.discovery?.stop();
      await this.transport.close();
      this.opts.security?.stop();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }

  /** Allow-list changes re-dial, hang up, and cut accepted links (see PeerSecurity). */
  private wireSecurity(security: PeerSecurity): void {
    security.on('dial', (endpoint, peer) => {
      this.connectedPeers.add(endpoint);
      this.transport.connectBus(endpoint, peer);
    });
    security.on('hangUp', (endpoint) => {
      this.connectedPeers.delete(endpoint);
      this.transport.disconnectBus(endpoint);
    });
    security.on('cutAccepted', () => {
      // Directed links to removed keys close too: they reopen (with a current key) on the next send.
      this.transport.dropAcceptedConnections().catch((err: unknown) => this.internalError(err, 'cut accepted links'));
    });
  }

  // ------------------------------------------------------------------ routing

  /**
   * Every received frame comes through here. Nothing a frame contains may end the
   * process: whatever throws while decoding, routing or stepping a member is caught,
   * counted (`drops.internal`) and logged at a limited rate; the frame is skipped.
   */
  private onFrame(frame: Uint8Array, topic: string | null, peer?: string): void {
    try {
      if (topic !== null) {
        // Our sole member's own data broadcast, looped back by the bus: its core drops those
        // (and data frames carry no endpoint, so they tell nothing about node-id clashes).
        const own = this.ownEchoes.get(topic);
        if (own !== undefined && isDataBroadcastWithPrefix(frame, own)) {
          this.echoesSkipped++;
          return;
        }
      }
      const decoded = decodeEnvelope(frame);
      if (!decoded.ok) {
        this.drops.decode++;
        this.limited.warn('decode', { err: decoded.error.message, code: decoded.error.code, field: decoded.error.field, bytes: frame.byteLength }, 'dropped a frame that failed to decode');
        return;
      }
      const env = decoded.envelope;
      if (this.opts.security && !this.opts.security.mayClaim(peer, env.from)) {
        this.drops.identity++;
        this.limited.warn('identity', { from: env.from, peer, via: topic === null ? 'direct' : 'bus', type: env.body.type }, 'dropped a frame claiming a member of another node than its key');
        return;
      }
      if (!this.flood.admit(peer ?? env.from.slice(0, env.from.indexOf('/')), env.body.type)) {
        this.drops.flood++;
        if (env.body.type === 'data') this.drops.floodData++;
        else this.drops.floodControl++;
        this.limited.warn('flood', { from: env.from, peer, type: env.body.type }, 'dropped a frame over its sender\'s rate limit');
        return;
      }
      // On the bus: the group's topic, or (a copy to one member) that member's directed topic.
      if (topic !== null && topic !== env.group && (env.to === '' || topic !== directedBusTopic(env.group, env.to))) {
        this.drops.unknownGroup++;
        return;
      }
      this.deliverLocal(env, topic === null ? 'direct' : 'bus');
    } catch (err) {
      this.internalError(err, 'frame');
    }
  }

  /**
   * The connection of a direct link closed under us (usually: that peer's process died,
   * and the kernel closed its sockets). Every hosted member that knows a member at that
   * endpoint gets the hint (GroupMember.peerClosed), which matters only if it is their
   * leader. Not when the transport's ZMTP heartbeat timeout is shorter than the group's
   * electionMin: then a close may be the heartbeat timing out on a leader that is merely
   * frozen and may wake inside the lease its followers promised it (with timers the
   * transport follows, the timeout is peerTimeout - interval, which is longer).
   */
  private onPeerClosed(endpoint: string): void {
    try {
      const hbTimeout = this.transport.heartbeat().timeoutMs;
      for (const h of this.hosted.values()) {
        if (h.phase !== 'running') continue;
        const core = h.driver.core;
        if (hbTimeout < core.timers.electionMin) continue;
        for (const m of core.members()) {
          if (m === core.id || core.endpointOf(m) !== endpoint) continue;
          this.log.debug({ group: core.group, member: m, endpoint }, 'connection to member closed');
          h.driver.step((c, now) => c.peerClosed(m, now));
        }
      }
    } catch (err) {
      this.internalError(err, 'peer closed');
    }
  }

  private internalError(err: unknown, where: string): void {
    this.drops.internal++;
    this.limited.error('internal', { err, where }, 'internal error while handling input; skipped');
  }

  private deliverLocal(env: Envelope, via: 'bus' | 'direct' | 'local'): void {
    // A directed copy on the bus (see TO_LEADER_COPIES) reaches every subscriber: not a drop.
    let delivered = env.to !== '' && via === 'bus';
    for (const [key, h] of this.hosted) {
      const core = h.driver.core;
      if (core.group !== env.group) continue;
      if (env.from === core.id && via !== 'local' && this.isClash(key, h, env, via)) {
        delivered = true;
        continue;
      }
      if (env.to !== '' && env.to !== core.id) continue;
      delivered = true;
      h.driver.step((c, now) => {
        h.hw.heard(env, now.wall, now.mono);
        c.receive(env, now);
      });
    }
    if (!delivered) this.drops.unknownGroup++;
  }

  /**
   * A frame claiming member id `h.driver.core.id` reached us from the network. Our own
   * broadcasts loop back on the bus (same incarnation, our endpoint, or no endpoint in the
   * body) and are not clashes; anything else is another agent under our node id: a
   * different incarnation, another advertised endpoint, anything on the direct socket
   * (we never send to ourselves through it), or anything at all while we are still probing.
   * Returns true if it is a clash (the frame is then dropped and counted).
   */
  private isClash(key: string, h: Hosted, env: Envelope, via: 'bus' | 'direct'): boolean {
    const core = h.driver.core;
    const body = env.body as { endpoint?: unknown };
    const advertised = typeof body.endpoint === 'string' ? body.endpoint : '';
    const ours = this.endpoints.direct;
    // Ours: an incarnation one of our members spoke with (this one, or an earlier one that
    // left and whose last frames are still looping back), and not another endpoint.
    const echo = this.spoken.get(key)?.has(env.incarnation) === true && (advertised === '' || advertised === ours);
    if (echo) return false;
    this.drops.clash++;
    const now = this.clock.now().wall;
    const seen = this.clashes.get(key);
    if (seen) {
      seen.lastSeen = now;
      seen.otherIncarnation = env.incarnation;
      if (advertised && advertised !== seen.otherEndpoint) seen.otherEndpoint = advertised;
      if (seen.outcome === 'kept') this.limited.error('clash', { group: core.group, member: core.id, ownEndpoint: ours, otherEndpoint: seen.otherEndpoint }, 'node id clash goes on: another agent still uses this member id');
      return true;
    }
    let outcome: NodeIdClash['outcome'];
    if (h.phase === 'probing') outcome = 'refused';
    else {
      // Both running: the later one (higher incarnation; on a tie, the higher endpoint) gives way.
      const later = core.incarnation > env.incarnation || (core.incarnation === env.incarnation && ours > advertised);
      outcome = later ? 'stopped' : 'kept';
    }
    const clash: NodeIdClash = {
      group: core.group,
      memberId: core.id,
      ownEndpoint: ours,
      otherEndpoint: advertised,
      ownIncarnation: core.incarnation,
      otherIncarnation: env.incarnation,
      since: now,
      lastSeen: now,
      outcome,
    };
    this.clashes.set(key, clash);
    const what = {
      refused: 'not starting this member: another agent already runs it under the same node id; give each agent a unique node id',
      stopped: 'stopped this member silently (no Leave, which would remove the other too): another, earlier agent runs it under the same node id; give each agent a unique node id',
      kept: 'another, later agent runs this member under the same node id; it should stop its member; give each agent a unique node id',
    }[outcome];
    this.log.error({ group: core.group, member: core.id, ownEndpoint: ours, otherEndpoint: advertised || '(not advertised yet)', ownIncarnation: core.incarnation, otherIncarnation: env.incarnation, via, outcome }, `node id clash: ${what}`);
    this.events.add({ at: now, group: core.group, member: core.id, type: 'nodeIdClash', ownEndpoint: ours, otherEndpoint: advertised, outcome });
    if (outcome !== 'kept') {
      this.dropMember(key, h);
      // Not a typed Group event (the Group API is not ours to extend here): listeners may opt in.
      const group = h.group as unknown as { emit(name: string, arg: unknown): boolean; listenerCount(name: string): number };
      if (group.listenerCount('nodeIdClash') > 0) this.guard(() => void group.emit('nodeIdClash', { ...clash }), core.group, 'nodeIdClash');
    }
    return true;
  }

  /** Forget a member without a word on the wire (a clash, or leaving before it started). */
  private dropMember(key: string, h: Hosted): void {
    h.driver.close();
    if (this.hosted.get(key) === h) this.hosted.delete(key);
    this.refreshOwnEchoes();
    this.followStallBudgets();
    this.unsubscribeMember(h);
    h.onLeft?.();
  }

  /** A member is gone from this agent: its directed topic, and its group's once no member here is left in it. */
  private unsubscribeMember(h: Hosted): void {
    const { group, id } = h.driver.core;
    if (![...this.hosted.values()].some((o) => o.driver.core.group === group && o.driver.core.id === id)) this.transport.unsubscribe(directedBusTopic(group, id));
    if (![...this.hosted.values()].some((o) => o.driver.core.group === group)) this.transport.unsubscribe(group);
  }

  private refreshOwnEchoes(): void {
    const count = new Map<string, number>();
    for (const h of this.hosted.values()) count.set(h.driver.core.group, (count.get(h.driver.core.group) ?? 0) + 1);
    this.ownEchoes.clear();
    for (const h of this.hosted.values()) {
      const c = h.driver.core;
      // Another member of the group here must hear this one's broadcasts: no shortcut then.
      if (h.phase !== 'running' || count.get(c.group) !== 1) continue;
      try {
        this.ownEchoes.set(c.group, framePrefix(c.group, c.id, c.incarnation));
      } catch (err) {
        this.log.warn({ err, group: c.group }, 'own-echo shortcut unavailable; decoding every frame');
      }
    }
  }

  private probeMs(timers: TimerSettings): number {
    const p = this.opts.probeMs;
    const v = typeof p === 'function' ? p(timers) : p ?? defaultProbeMs(timers);
    return Number.isFinite(v) && v > 0 ? Math.ceil(v) : 0;
  }

  /**
   * Keep the transport's ZMTP heartbeat in step with the fastest group timers hosted
   * (see heartbeatForTimers), unless the agent was given a fixed one. When the first
   * member joins, no member has spoken yet, so the bus links made at start are
   * re-dialled to pick the values up; later changes apply to new connections only.
   */
  private followGroupTimers(firstMember: boolean): void {
    if (this.transportHeartbeatFixed) return;
    const hb = heartbeatForTimers([...this.hosted.values()].map((h) => h.driver.core.timers));
    if (!hb) return;
    try {
      this.transport.setHeartbeat(hb, { redial: firstMember });
    } catch (err) {
      this.log.warn({ err, heartbeat: hb }, 'could not apply the transport heartbeat for these timers; keeping the old one');
    }
  }

  /**
   * The event-loop delay histogram times stalls to a resolution that suits the tightest
   * stall budget of the members hosted (hw/load.ts stallResolutionFor): finer costs a
   * wake-up per period for nothing (at a fixed 10 ms it was most of an idle agent's CPU).
   */
  private followStallBudgets(): void {
    this.hardware?.setStallResolution(stallResolutionFor([...this.hosted.values()].map((h) => h.hw.adaptation.stallBudgetMs())));
  }

  /** Sends for a member. Never throws: an envelope that cannot be encoded is counted and dropped. */
  private route(env: Envelope): void {
    if (env.body.type === 'leaderHeartbeat') {
      const sender = [...this.hosted.values()].find((h) => h.driver.core.group === env.group && h.driver.core.id === env.from);
      sender?.hw.sent(env, this.clock.now().mono);
    }
    if (env.to === '') {
      const frame = this.encode(env);
      if (!frame) return;
      this.transport.publish(env.group, frame);
      if (LEADER_BROADCASTS.has(env.body.type)) this.copyDirect(env, frame);
      return;
    }
    const local = [...this.hosted.values()].find((h) => h.driver.core.group === env.group && h.driver.core.id === env.to);
    if (local) {
      // Same agent: no socket, but still asynchronous, like the network.
      setImmediate(() => {
        try {
          this.deliverLocal(env, 'local');
        } catch (err) {
          this.internalError(err, 'local delivery');
        }
      });
      return;
    }
    const sender = [...this.hosted.values()].find((h) => h.driver.core.group === env.group && h.driver.core.id === env.from);
    const endpoint = sender?.driver.core.endpointOf(env.to) ?? '';
    if (!endpoint) {
      this.drops.noRoute++;
      this.log.debug({ group: env.group, to: env.to, type: env.body.type }, 'no endpoint known for member; dropped');
      return;
    }
    const frame = this.encode(env);
    if (!frame) return;
    this.transport.sendDirect(endpoint, frame, this.opts.security?.keyForMember(env.to));
    // Votes, poll requests, acknowledgements and vote replies also go on the bus: a second,
    // independent TCP path, so one stalled or broken direct link cannot keep a joiner out of
    // the voters, a configuration uncommitted or a candidate from winning. Under the
    // addressee's own topic, so libzmq's PUB sends it to that agent alone (under the group's,
    // every member's process woke up to decode and skip it).
    if (DIRECTED_BUS_COPIES.has(env.body.type)) this.transport.publish(directedBusTopic(env.group, env.to), frame);
  }

  /**
   * A leader's heartbeat, ballot or result also goes to each member over the direct link
   * (our DEALER to its ROUTER), not only on the bus. The two are separate TCP connections
   * whose retransmission stalls (200, 400, 800 ms... under loss) are independent, so a
   * follower loses its leader only when both stall at once. Receivers take the copy like the
   * original: every one of these messages is idempotent. RIAPS sends them once, on the bus.
   * Measured in docs/bench-cluster.md, "Loss: two paths and linear RTOs".
   */
  private copyDirect(env: Envelope, frame: Uint8Array): void {
    const h = [...this.hosted.values()].find((x) => x.driver.core.group === env.group && x.driver.core.id === env.from);
    if (!h) return;
    const core = h.driver.core;
    for (const m of core.members()) {
      if (m === env.from) continue;
      const endpoint = core.endpointOf(m);
      if (!endpoint || endpoint === this.endpoints.direct) continue; // same agent: the bus loopback delivers it
      this.transport.sendDirect(endpoint, frame, this.opts.security?.keyForMember(m));
    }
  }

  private encode(env: Envelope): Uint8Array | null {
    try {
      return encodeEnvelope(env);
    } catch (err) {
      this.drops.encode++;
      const e = err as { message?: string; code?: string; field?: string | null };
      this.limited.error('encode', { err: e.message ?? String(err), code: e.code, field: e.field, group: env.group, type: env.body.type, term: env.term }, 'could not encode an outgoing envelope; dropped');
      return null;
    }
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

  private onEvent(group: string, key: string, driver: MemberDriver, event: AppEvent): void {
    try {
      this.handleEvent(group, key, driver, event);
    } catch (err) {
      this.internalError(err, `event ${event.type}`);
    }
  }

  private handleEvent(group: string, key: string, driver: MemberDriver, event: AppEvent): void {
    const h = this.hosted.get(key);
    if (!h) return;
    if (event.type === 'left') {
      h.onLeft?.();
      return;
    }
    if (event.type === 'leaderElected') h.leaderSince = event.leader === driver.core.id ? this.clock.now().mono : null;
    else if (event.type === 'leaderExited' && event.leader === driver.core.id) h.leaderSince = null;
    if (event.type === 'voteRequest' && event.subject === 'action' && event.canVote) this.guardAction(h, driver, event.ballotId, event.when);
    const isMessage = event.type === 'message' || event.type === 'messageToLeader' || event.type === 'messageFromLeader';
    // A message's receive time is the step's clock reading already: no second reading per message.
    this.events.add(logEntry(isMessage ? event.receivedAt : this.clock.now().wall, group, driver.core.id, event));
    if (isMessage) {
      try {
        h.group.deliver(event);
      } catch (err) {
        this.drops.handlerErrors++;
        this.log.error({ err, group, event: event.type }, 'application handler threw');
      }
      return;
    }
    if (event.type === 'leaderElected' || event.type === 'leaderExited' || event.type === 'memberJoined' || event.type === 'memberLeft') {
      this.log.info({ group, self: driver.core.id, ...event }, event.type);
    }
    if (event.type === 'configMismatch') {
      // A configuration error for the operator, not an application event (the core rate-limits it per sender).
      this.log.warn({ group, self: driver.core.id, member: event.member, differences: event.differences }, 'a member of the group has different group settings (minSize or timers): fix the configuration');
      return;
    }
    if (event.type === 'actionScheduled') {
      const refused = h.refusedActions.get(event.ballotId);
      if (refused !== undefined) {
        // The group passed it (a majority) but this member's clock cannot honour the instant:
        // acting would be acting at the wrong time. It sits this one out and says so.
        h.refusedActions.delete(event.ballotId);
        this.log.warn({ group, ballotId: event.ballotId, when: event.when, reason: refused }, 'action passed, but not fired here: this clock cannot honour its instant');
        this.events.add({ at: this.clock.now().wall, group, member: driver.core.id, type: 'actionSkipped', ballotId: event.ballotId, when: event.when, reason: refused });
        this.guard(() => void h.group.emit('actionSkipped', { ballotId: event.ballotId, when: event.when, reason: refused }), group, 'actionSkipped');
        return;
      }
      const topic = event.topic;
      const policy = h.hw.policy;
      const stepOptions = {
        onStep: (stepMs: number) => stepDecision(stepMs, policy),
        stepped: (st: { when: number; stepMs: number; at: number; decision: 'rearm' | 'cancel' }) => {
          this.log.warn({ group, ballotId: event.ballotId, ...st }, st.decision === 'cancel' ? 'action cancelled: the wall clock stepped while waiting' : 'action re-armed: the wall clock stepped while waiting');
          this.events.add({ group, member: driver.core.id, type: 'actionStep', ballotId: event.ballotId, ...st });
          this.guard(() => void h.group.emit('actionStep', { ballotId: event.ballotId, ...st }), group, 'actionStep');
        },
      };
      this.actionTimer.at(event.when, (firing) => {
        h.lastActionErrorMs = firing.errorMs;
        this.actionErrors.push(firing.errorMs);
        const action = preview(topic);
        this.events.add({ at: firing.firedAt, group, member: driver.core.id, type: 'action', ballotId: event.ballotId, action, ...firing });
        this.log.info({ group, ballotId: event.ballotId, action, ...firing }, `action fired: ${action}`);
        this.guard(() => h.group.fireAction(event.ballotId, topic, firing), group, 'action');
      }, stepOptions);
      return;
    }
    this.guard(() => h.group.deliver(event), group, event.type);
  }

  /**
   * The action guard (hw/action-guard.ts): a member whose clock cannot honour the instant
   * votes no at once, with the reason, before the application sees the request.
   */
  private guardAction(h: Hosted, driver: MemberDriver, ballotId: string, when: number): void {
    const core = driver.core;
    const now = this.clock.now();
    const endpoints = core.members().map((m) => (m === core.id ? this.endpoints.direct : core.endpointOf(m)));
    const verdict = h.hw.judge(when, now.wall, now.mono, endpoints);
    if (verdict.ok) return;
    h.group.refusedByGuard.set(ballotId, verdict.reason);
    h.refusedActions.set(ballotId, verdict.reason);
    // Bounded: results always come (a local timeout at worst), but never keep more than a few.
    if (h.refusedActions.size > 256) h.refusedActions.delete(h.refusedActions.keys().next().value as string);
    this.log.warn({ group: core.group, member: core.id, ballotId, when, reason: verdict.reason }, 'voting no on an action: this clock cannot honour its instant');
    this.events.add({ at: now.wall, group: core.group, member: core.id, type: 'actionRefused', ballotId, when, reason: verdict.reason });
    driver.step((c, n) => c.vote(ballotId, false, n, verdict.reason));
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
    const mono = this.clock.now().mono;
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
        timerProfile: (({ base, scale, health, reason }, auto) => ({ base, scale, health, reason, ...(auto && { auto }), yieldsCandidacy: c.yieldsCampaign() }))(h.hw.profile(), h.hw.autoStatus()),
        clock: { ...h.hw.groupClock(this.clock.now().mono), toleranceMs: h.hw.policy.clockToleranceMs, unsynchronised: h.hw.policy.unsynchronised },
        memberInfo: c.memberRecords().map((r) => ({
          id: r.id,
          endpoint: r.id === c.id ? this.endpoints.direct : r.endpoint,
          incarnation: r.incarnation,
          lastHeardMs: r.id === c.id ? 0 : Math.max(0, Math.round(mono - r.lastHeard)),
        })),
      };
    });
    return {
      node: this.node,
      endpoints: this.endpoints,
      groups,
      drops: { ...this.drops },
      transport: this.transport.stats(),
      clashes: [...this.clashes.values()].map((c) => ({ ...c })),
      transportHeartbeat: this.transport.heartbeat(),
      hardware: this.hardware?.snapshot() ?? null,
      security: this.opts.security?.status() ?? { mode: 'plaintext' },
      ownEchoesSkipped: this.echoesSkipped,
      floodLimits: { ...this.flood.limits },
    };
  }
}

/**
 * How long a new member listens for another agent using its id before it speaks: one
 * group heartbeat plus max(200 ms, half a heartbeat) for the bus subscription to reach
 * the peers and for jitter (lan 400 ms, riaps 1500 ms, slow 3750 ms).
 */
export function defaultProbeMs(timers: Pick<TimerSettings, 'heartbeat'>): number {
  return timers.heartbeat + Math.max(200, Math.floor(timers.heartbeat / 2));
}

/**
 * An event as the /events log keeps it. Byte fields (payloads, topics) stay raw: the log
 * renders them only when read (see EventLog), so a delivered message costs one small
 * object here, whoever reads the log or not. Messages, the hot case, are built field by
 * field; `member` names the observing member, the member an event is about is `subject`.
 */
function logEntry(at: number, group: string, member: string, event: AppEvent): EventEntry {
  switch (event.type) {
    case 'message':
    case 'messageToLeader':
    case 'messageFromLeader':
      return { at, group, type: event.type, from: event.from, payload: event.payload, sentAt: event.sentAt, receivedAt: event.receivedAt, member };
    default: {
      const out: EventEntry = { at, group, type: event.type, member };
      for (const [k, v] of Object.entries(event)) {
        if (k === 'type') continue;
        out[k === 'member' ? 'subject' : k] = v;
      }
      out.member = member;
      return out;
    }
  }
}
