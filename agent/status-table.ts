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
