/** Plain-text tables of agent status, for `cohort status`, `cohort members` and the demo. */
import type { AgentStatus, MemberInfo } from './runtime/agent.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** One row per group member of each agent; `agents[i]` (the --http address) adds an AGENT column. */
export function formatStatusTable(statuses: AgentStatus[], agents?: string[]): string {
  const head = ['NODE', 'GROUP', 'MEMBER', 'ROLE', 'TERM', 'LEADER', 'MEMBERS', 'VOTERS', 'MIN'];
  const rows: string[][] = [agents ? ['AGENT', ...head] : head];
  statuses.forEach((s, i) => {
    const pre = agents ? [agents[i] ?? ''] : [];
    if (s.groups.length === 0) rows.push([...pre, s.node, '(no groups)', '-', '-', '-', '-', '-', '-', '-']);
    for (const g of s.groups) {
      rows.push([...pre, s.node, g.group, g.memberId, g.role, String(g.term), g.leader ?? '(none)', String(g.members.length), String(g.voters.length), String(g.minSize)]);
    }
  });
  return table(rows);
}

export interface MemberRow {
  group: string;
  member: string;
  role: string;
  term: number;
  address: string;
  /** ms since heard by the agent that heard it last (0 = it reported itself). */
  lastHeardMs: number;
  /** Which agent's view the row comes from. */
  seenBy: string;
  clockOffsetMs?: number;
}

/**
 * Every member of every group, merged over several agents' statuses: a member's own report
 * gives its role and term; the others' give its address and when they last heard it (the
 * freshest wins).
 */
export function memberRows(statuses: AgentStatus[]): MemberRow[] {
  const rows = new Map<string, MemberRow>();
  for (const s of statuses) {
    for (const g of s.groups) {
      const infos: MemberInfo[] = g.memberInfo ?? g.members.map((id) => ({ id, endpoint: '', incarnation: 0, lastHeardMs: id === g.memberId ? 0 : NaN }));
      for (const m of infos) {
        const key = `${g.group}\0${m.id}`;
        const self = m.id === g.memberId;
        const row: MemberRow = {
          group: g.group,
          member: m.id,
          role: self ? g.role : g.leader === m.id ? 'leader' : 'member',
          term: g.term,
          address: m.endpoint.replace(/^tcp:\/\//, ''),
          lastHeardMs: m.lastHeardMs,
          seenBy: g.memberId,
          ...(m.clockOffsetMs !== undefined ? { clockOffsetMs: m.clockOffsetMs } : {}),
        };
        const old = rows.get(key);
        if (!old) rows.set(key, row);
        else if (self) rows.set(key, { ...row, address: row.address || old.address });
        else if (old.lastHeardMs !== 0 && (Number.isNaN(old.lastHeardMs) || row.lastHeardMs < old.lastHeardMs)) rows.set(key, { ...row, address: row.address || old.address });
      }
    }
  }
  return [...rows.values()].sort((a, b) => a.group.localeCompare(b.group) || a.member.localeCompare(b.member));
}

export function formatMembersTable(rows: MemberRow[]): string {
  // The OFFSET column appears once the hardware layer reports clock offsets.
  const offsets = rows.some((r) => r.clockOffsetMs !== undefined);
  const out: string[][] = [['GROUP', 'MEMBER', 'ROLE', 'TERM', 'ADDRESS', 'LAST HEARD', 'SEEN BY', ...(offsets ? ['OFFSET'] : [])]];
  for (const r of rows) {
    const heard = r.lastHeardMs === 0 ? 'self' : Number.isNaN(r.lastHeardMs) ? '?' : `${(r.lastHeardMs / 1000).toFixed(1)} s ago`;
    out.push([r.group, r.member, r.role, String(r.term), r.address || '?', heard, r.seenBy, ...(offsets ? [r.clockOffsetMs === undefined ? '-' : `${r.clockOffsetMs.toFixed(1)} ms`] : [])]);
  }
  if (rows.length === 0) return 'no groups\n';
  return table(out);
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
    lines.push(`${g.group} ${g.memberId}: timers x${p.scale} (${p.health}: ${p.reason})${p.yieldsCandidacy ? ', yielding candidacy' : ''}; clock skew ${ms(k.skewMs)}, this member ${k.selfOffsetMs >= 0 ? '+' : ''}${ms(k.selfOffsetMs)} off the group over ${k.peers.length} peer(s) (tolerance ${k.toleranceMs} ms, unsynchronised: ${k.unsynchronised})`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
