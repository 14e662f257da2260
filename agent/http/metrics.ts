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
