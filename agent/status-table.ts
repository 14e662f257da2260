/** Plain-text tables of agent status, for `cohort status` and the demo. */
import type { AgentStatus } from './runtime/agent.js';

export function formatStatusTable(statuses: AgentStatus[]): string {
  const rows: string[][] = [['NODE', 'GROUP', 'MEMBER', 'ROLE', 'TERM', 'LEADER', 'MEMBERS', 'VOTERS', 'MIN']];
  for (const s of statuses) {
    if (s.groups.length === 0) rows.push([s.node, '-', '-', '-', '-', '-', '-', '-', '-']);
    for (const g of s.groups) {
      rows.push([s.node, g.group, g.memberId, g.role, String(g.term), g.leader ?? '(none)', String(g.members.length), String(g.voters.length), String(g.minSize)]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const ms = (v: number | null): string => (v === null ? '-' : `${Math.abs(v) < 10 ? v.toFixed(2) : Math.round(v)} ms`);

/** The hardware layer's short form: board, load, clock; per group the timer profile and the clock skew. */
export function formatHardware(s: AgentStatus): string {
  const lines: string[] = [];
  const hw = s.hardware;
  if (hw) {
    const c = hw.clock;
    lines.push(`hardware: ${hw.board}, ${hw.arch}, ${hw.cores} cores; load ${Math.round(hw.load.cpu * 100)} %, event loop p99 ${ms(hw.eventLoopDelay.p99Ms)} (max ${ms(hw.eventLoopDelay.maxMs)})`);
    lines.push(`clock: ${c.source}, ${c.synchronised ? 'synchronised' : 'unsynchronised'}, error ${ms(c.errorMs)}${c.leapPending ? `, leap second pending (${c.leapPending})` : ''}${hw.steps.count > 0 ? `, ${hw.steps.count} step(s), last ${ms(hw.steps.last?.stepMs ?? null)}` : ''} — ${c.detail}`);
  }
  for (const g of s.groups) {
    const p = g.timerProfile;
    const k = g.clock;
    if (!p || !k) continue;
    lines.push(`${g.group} ${g.memberId}: timers x${p.scale} (${p.health}: ${p.reason}); clock skew ${ms(k.skewMs)}, this member ${k.selfOffsetMs >= 0 ? '+' : ''}${ms(k.selfOffsetMs)} off the group over ${k.peers.length} peer(s) (tolerance ${k.toleranceMs} ms, unsynchronised: ${k.unsynchronised})`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
