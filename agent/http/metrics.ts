/**
 * Prometheus metrics, read from the agent's status on each scrape (no bookkeeping
 * on the protocol's hot path). Counters that the core keeps as totals are exported
 * through collect() callbacks.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Agent } from '../runtime/agent.js';
import { buildInfo } from '../build-info.js';

export function agentMetrics(agent: Agent): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node: agent.node });
  const build = buildInfo();
  new Gauge({ name: 'cohort_build_info', help: 'Always 1; the labels say which build runs', labelNames: ['version', 'arch'], registers: [registry] }).set({ version: build.version, arch: build.arch }, 1);
  const groups = () => agent.status().groups;
  const perGroup = (name: string, help: string, value: (g: ReturnType<typeof groups>[number]) => number, kind: 'gauge' | 'counter') => {
    const labelNames = ['group', 'member'] as const;
    if (kind === 'gauge') {
      new Gauge({ name, help, labelNames, registers: [registry], collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.group, member: g.memberId }, value(g));
      } });
    } else {
      new Counter({ name, help, labelNames, registers: [registry], collect() {
        this.reset();
        for (const g of groups()) this.inc({ group: g.group, member: g.memberId }, value(g));
      } });
    }
  };
  perGroup('cohort_group_members', 'Members of the group, this one included', (g) => g.members.length, 'gauge');
  perGroup('cohort_group_voters', 'Voters in the configuration this member knows', (g) => g.voters.length, 'gauge');
  perGroup('cohort_group_term', 'Current term', (g) => g.term, 'gauge');
  perGroup('cohort_group_is_leader', '1 if this member leads the group', (g) => (g.role === 'leader' ? 1 : 0), 'gauge');
  perGroup('cohort_group_has_leader', '1 if this member knows a leader', (g) => (g.leader ? 1 : 0), 'gauge');
  perGroup('cohort_elections_total', 'Elections this member started', (g) => g.counters.elections, 'counter');
  perGroup('cohort_leader_changes_total', 'Times this member saw a new leader', (g) => g.counters.leaderChanges, 'counter');
  perGroup('cohort_polls_opened_total', 'Polls opened while leading', (g) => g.counters.pollsOpened, 'counter');
  perGroup('cohort_stale_dropped_total', 'Messages from stale incarnations dropped', (g) => g.counters.staleDropped, 'counter');
  perGroup('cohort_config_mismatches_total', 'Heartbeats from members whose minSize or protocol timers differ from ours (a configuration error)', (g) => g.counters.configMismatches, 'counter');
  new Counter({
    name: 'cohort_poll_results_total',
    help: 'Poll results delivered, by outcome',
    labelNames: ['group', 'member', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of groups()) for (const [outcome, n] of Object.entries(g.counters.pollResults)) this.inc({ group: g.group, member: g.memberId, outcome }, n);
    },
  });
  const transport = (name: string, help: string, pick: (s: ReturnType<Agent['status']>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(agent.status()));
      },
    });
  transport('cohort_messages_out_total', 'Frames sent (bus + directed)', (s) => s.transport.busOut + s.transport.directOut);
  transport('cohort_messages_in_total', 'Frames received (bus + directed)', (s) => s.transport.busIn + s.transport.directIn);
  transport('cohort_decode_drops_total', 'Frames dropped because they failed to decode', (s) => s.drops.decode + s.transport.dropsMalformed);
  transport('cohort_send_drops_total', 'Frames that could not be sent', (s) => s.transport.dropsSend + s.drops.noRoute);
  transport('cohort_handler_errors_total', 'Application handlers that threw', (s) => s.drops.handlerErrors);
  transport('cohort_encode_drops_total', 'Outgoing envelopes that could not be encoded (never sent)', (s) => s.drops.encode);
  transport('cohort_internal_errors_total', 'Inputs whose handling threw inside the runtime or transport (skipped)', (s) => s.drops.internal + s.transport.handlerErrors);
  transport('cohort_node_id_clash_frames_total', 'Frames from another agent using one of this agent\'s member ids', (s) => s.drops.clash);
  new Gauge({
    name: 'cohort_node_id_clashes',
    help: 'Member ids this agent found another agent using (see status.clashes)',
    registers: [registry],
    collect() {
      this.set(agent.status().clashes.length);
    },
  });
  // The hardware layer: board-level gauges, and per group the timer scale and clock skew.
  const hwGauge = (name: string, help: string, pick: (h: NonNullable<ReturnType<Agent['status']>['hardware']>) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const h = agent.status().hardware;
        const v = h ? pick(h) : null;
        if (v !== null && Number.isFinite(v)) this.set(v);
      },
    });
  hwGauge('cohort_hw_cpu_load_ratio', 'Machine CPU busy fraction over the last sample', (h) => h.load.cpu);
  hwGauge('cohort_hw_process_cpu_cores', "This agent's CPU use, in cores", (h) => h.load.process);
  hwGauge('cohort_hw_event_loop_delay_p99_ms', 'Event-loop delay p99 over the last sample, ms', (h) => h.eventLoopDelay.p99Ms);
  hwGauge('cohort_hw_event_loop_delay_max_ms', 'Longest event-loop stall in the last sample, ms', (h) => h.eventLoopDelay.maxMs);
  hwGauge('cohort_hw_gc_pause_max_ms', 'Longest GC pause in the last sample, ms', (h) => h.gc.maxMs);
  hwGauge('cohort_hw_cores', 'CPU cores', (h) => h.cores);
  hwGauge('cohort_clock_synchronised', '1 if the clock daemon says the clock is synchronised', (h) => (h.clock.synchronised ? 1 : 0));
  hwGauge('cohort_clock_error_bound_ms', "The clock daemon's error bound, ms (absent when it gives none)", (h) => h.clock.errorMs);
  hwGauge('cohort_clock_leap_pending', '1 if a leap second is announced', (h) => (h.clock.leapPending ? 1 : 0));
  hwGauge('cohort_clock_steps_total', 'Wall-clock steps seen since the start', (h) => h.steps.count);
  new Gauge({
    name: 'cohort_hw_board_info',
    help: 'The board (labels), always 1',
    labelNames: ['board', 'arch', 'clock_source'],
    registers: [registry],
    collect() {
      this.reset();
      const h = agent.status().hardware;
      if (h) this.set({ board: h.board, arch: h.arch, clock_source: h.clock.source }, 1);
    },
  });
  perGroup('cohort_timer_scale', "This member's timer scale (1 = the group's timers)", (g) => g.timerProfile?.scale ?? 1, 'gauge');
  perGroup('cohort_campaign_yield', '1 while this member yields its candidacy (poor health, a healthier voter alive)', (g) => (g.timerProfile?.yieldsCandidacy ? 1 : 0), 'gauge');
  new Gauge({
    name: 'cohort_timer_auto_round_trip_ms',
    help: 'Timers auto: the group round trip this member last measured as leader, ms (absent: not auto, or never measured)',
    labelNames: ['group', 'member', 'preset'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of groups()) {
        const a = g.timerProfile?.auto;
        if (a && a.roundTripMs !== null) this.set({ group: g.group, member: g.memberId, preset: a.preset }, a.roundTripMs);
      }
    },
  });
  perGroup('cohort_group_clock_skew_ms', 'Spread of the group members\' wall clocks as this member sees them, ms', (g) => g.clock?.skewMs ?? 0, 'gauge');
  perGroup('cohort_group_clock_self_offset_ms', "This member's clock minus the group's (median), ms", (g) => g.clock?.selfOffsetMs ?? 0, 'gauge');
  new Gauge({
    name: 'cohort_peer_clock_offset_ms',
    help: "Each peer's estimated wall-clock offset (peer - this member), ms",
    labelNames: ['group', 'member', 'peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of groups()) for (const p of g.clock?.peers ?? []) this.set({ group: g.group, member: g.memberId, peer: p.peer }, p.offsetMs);
    },
  });
  new Histogram({
    name: 'cohort_action_fire_error_ms',
    help: 'How late (ms, wall clock) agreed actions fired on this member',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 500],
    registers: [registry],
    collect() {
      for (const e of agent.actionErrors.splice(0)) this.observe(e);
    },
  });
  return registry;
}
