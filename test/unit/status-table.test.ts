/** The tables of `cohort status` and `cohort members`, from statuses of several agents. */
import t from 'tap';
import { formatMembersTable, formatStatusTable, memberRows } from '../../agent/status-table.js';
import type { AgentStatus, GroupStatus, MemberInfo } from '../../agent/runtime/agent.js';

function status(node: string, groups: Array<Partial<GroupStatus>>): AgentStatus {
  return {
    node, endpoints: { bus: '', direct: '' }, drops: {} as AgentStatus['drops'], transport: {} as AgentStatus['transport'], clashes: [], transportHeartbeat: { intervalMs: 0, timeoutMs: 0 },
    groups: groups.map((g) => ({ group: 'S.n', component: 'agent', memberId: `${node}/agent`, role: 'follower', term: 3, leader: 'b/agent', members: [], minSize: 2, timers: {} as GroupStatus['timers'], voters: [], configVersion: 1, counters: {} as GroupStatus['counters'], lastActionErrorMs: null, persistFailures: 0, memberInfo: [], ...g })),
  };
}
const info = (id: string, lastHeardMs: number, endpoint = `tcp://10.0.0.${id[0] === 'a' ? 1 : id[0] === 'b' ? 2 : 3}:7002`, extra: Partial<MemberInfo> = {}): MemberInfo => ({ id, endpoint, incarnation: 1, lastHeardMs, ...extra });

t.test('members: own reports give role and term; the freshest view gives last heard', async (t) => {
  const a = status('a', [{ memberInfo: [info('a/agent', 0), info('b/agent', 400), info('c/agent', 2500)] }]);
  const b = status('b', [{ role: 'leader', term: 3, memberInfo: [info('a/agent', 300), info('b/agent', 0), info('c/agent', 900)] }]);
  const rows = memberRows([a, b]);
  t.same(rows.map((r) => [r.member, r.role, r.lastHeardMs, r.seenBy]), [
    ['a/agent', 'follower', 0, 'a/agent'],
    ['b/agent', 'leader', 0, 'b/agent'],
    ['c/agent', 'member', 900, 'b/agent'],
  ]);
  const table = formatMembersTable(rows);
  t.match(table, /^GROUP +MEMBER +ROLE +TERM +ADDRESS +LAST HEARD +SEEN BY\n/);
  t.match(table, /S\.n +c\/agent +member +3 +10\.0\.0\.3:7002 +0\.9 s ago +b\/agent/);
  t.notMatch(table, /OFFSET/, 'no offset column until offsets are reported');
});

t.test('members: an OFFSET column once the hardware layer reports clock offsets', async (t) => {
  const a = status('a', [{ memberInfo: [info('a/agent', 0), info('b/agent', 100, undefined, { clockOffsetMs: -1.25 })] }]);
  const table = formatMembersTable(memberRows([a]));
  t.match(table, /OFFSET\n/);
  t.match(table, /b\/agent .* -1\.3 ms$/m);
  t.match(table, /a\/agent .* -$/m);
});

t.test('status: one table for several agents, with the agent column; an agent without groups says so', async (t) => {
  const out = formatStatusTable([status('a', [{}]), status('c', [])], ['127.0.0.1:8001', '127.0.0.1:8003']);
  t.match(out, /^AGENT +NODE +GROUP/);
  t.match(out, /127\.0\.0\.1:8001 +a +S\.n +a\/agent +follower +3 +b\/agent/);
  t.match(out, /127\.0\.0\.1:8003 +c +\(no groups\)/);
});
