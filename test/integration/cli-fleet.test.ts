/**
 * What a fleet engineer sees of running agents: progress lines, `cohort status` over several
 * agents, `cohort members`, `/healthz`, the build-info metric, bounded control calls, the
 * components-only control path, the action log line, and the order of a leader's last lines.
 */
import t from 'tap';
import { runNode, type NodeRun } from '../support/run.js';
import { CLI, REPO_ROOT, freePort, startCluster, waitFor, type AgentCluster } from './agent-cluster.js';

function cohort(args: string[]): Promise<NodeRun> {
  return runNode(['--import', 'tsx', CLI, ...args], { cwd: REPO_ROOT });
}

/** The keys of a JSON object's top level, duplicates kept (JSON.parse would hide them). */
export function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(line.slice(i + 1, j));
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

function msgs(c: AgentCluster, i: number): string[] {
  return c.agent(i).output.flatMap((l) => {
    try {
      return [(JSON.parse(l) as { msg: string }).msg];
    } catch {
      return [];
    }
  });
}

t.test('progress lines, status and members over several agents, healthz, metrics, bounded control calls', async (t) => {
  const c = await startCluster(t, [{ logLevel: 'info' }, { logLevel: 'info', deferStart: true }, { logLevel: 'info', deferStart: true }], { defaults: { autoVote: 'yes', groups: ['Sensors.north'] } });
  // Alone: it says what it waits for, naming the peers it cannot hear.
  await waitFor(() => msgs(c, 0).find((m) => m.startsWith('Sensors.north: waiting for peers (0 of 2 reachable: ')), 15_000, 'a waiting-for-peers line');
  t.ok(msgs(c, 0).includes('joined Sensors.north as n1/agent (minSize 2)'), 'joined line');
  const waiting = await c.getReply(0, '/healthz');
  t.equal(waiting.status, 200, 'waiting for peers is healthy');
  t.match(waiting.body, { healthy: true, groups: [{ group: 'Sensors.north', state: 'waiting' }] });

  await c.start(1);
  const formed = await c.waitForCommonLeader('Sensors.north', { among: [0, 1], members: 2, timeoutMs: 20_000 });
  await waitFor(() => msgs(c, 0).find((m) => m.startsWith(`Sensors.north: leader is ${formed.leader}`)), 5000, 'a leader-is line');

  // Health and metrics.
  const h = await c.getReply(0, '/healthz');
  t.equal(h.status, 200);
  t.match(h.body, { healthy: true, groups: [{ group: 'Sensors.north', state: /^(leader|follower)$/ }] });
  const metrics = (await c.getReply(0, '/metrics')).body;
  t.match(metrics, /cohort_build_info\{version="\d+\.\d+\.\d+[^"]*",arch="[a-z0-9]+",node="n1"\} 1/, 'build info metric');

  // Bad query and bounds: 400 with the field named.
  const ev = await c.getReply(0, '/events?after=abc');
  t.equal(ev.status, 400, '/events?after=abc is refused');
  t.match(ev.body, { message: /after must be an event sequence number/ });
  const huge = await c.post(0, '/groups/Sensors.north/vote', { topic: 'x', timeoutMs: 99_999_999_999 });
  t.equal(huge.status, 400, 'a poll timeout over 24 h is refused');
  t.match(huge.body, { message: /timeoutMs must be a number of milliseconds in 1\.\.86400000/ });

  // status over two agents and one that is not running: one table, the dead one named.
  const deadPort = await freePort();
  const st = await cohort(['status', '--http', `127.0.0.1:${c.agent(0).httpPort},127.0.0.1:${c.agent(1).httpPort}`, '--http', `127.0.0.1:${deadPort}`]);
  t.equal(st.code, 1, 'exit 1 when an agent cannot be reached');
  t.match(st.stderr, `cohort status: cannot reach an agent at 127.0.0.1:${deadPort}: connection refused`);
  t.notMatch(st.stderr, /fetch failed/);
  const rows = st.stdout.trim().split('\n');
  t.match(rows[0], /^AGENT +NODE +GROUP +MEMBER +ROLE +TERM +LEADER/);
  t.equal(rows.length, 3, 'one row per agent and group');
  t.ok(rows.some((r) => r.includes('n1/agent')) && rows.some((r) => r.includes('n2/agent')), 'both agents in one table');

  const mem = await cohort(['members', '--http', `127.0.0.1:${c.agent(0).httpPort}`, '--json']);
  t.equal(mem.code, 0, mem.stderr);
  const members = JSON.parse(mem.stdout) as Array<{ member: string; role: string; address: string; lastHeardMs: number }>;
  t.same(members.map((m) => m.member), ['n1/agent', 'n2/agent'], 'every member, as one agent sees them');
  t.equal(members.find((m) => m.member === formed.leader)!.role, 'leader');
  t.ok(members.every((m) => /^127\.0\.0\.1:\d+$/.test(m.address)), 'addresses');
  t.ok(members.find((m) => m.member === 'n2/agent')!.lastHeardMs < 2000, 'last heard recently');
  const table = await cohort(['members', '--http', `127.0.0.1:${c.agent(0).httpPort},127.0.0.1:${c.agent(1).httpPort}`]);
  t.match(table.stdout, /^GROUP +MEMBER +ROLE +TERM +ADDRESS +LAST HEARD +SEEN BY\n/);
  t.match(table.stdout, /Sensors\.north +n1\/agent +(leader|follower) +\d+ +127\.0\.0\.1:\d+ +self +n1\/agent/);

  // An action: the log line and the event say which.
  const leaderIdx = c.indexOf(formed.leader);
  const { ballotId } = await c.postOk<{ ballotId: string }>(leaderIdx, '/groups/Sensors.north/action', { action: 'blink the LED', inMs: 1500, kind: 'majority' });
  const fired = await c.waitForEvent(0, (e) => e.type === 'action' && e.ballotId === ballotId, 10_000);
  t.equal(fired.action, 'blink the LED', 'the action event names the action');
  await waitFor(() => msgs(c, 0).includes('action fired: blink the LED'), 5000, 'the action log line').catch((err: Error) => t.fail(`${err.message}: ${msgs(c, 0).join(' | ')}`));

  // A lost peer is reported with the time it went quiet.
  await c.kill(1, 'SIGKILL');
  await waitFor(() => msgs(c, 0).find((m) => /^Sensors\.north: peer n2\/agent unreachable since \d\d:\d\d:\d\d/.test(m)), 10_000, 'an unreachable-since line').catch((err: Error) => t.fail(`${err.message}: ${msgs(c, 0).join(' | ')}`));

  // Every log line carries `node` once.
  for (const line of c.agent(0).output) {
    if (!line.startsWith('{')) continue;
    const keys = topLevelKeys(line);
    if (keys.filter((k) => k === 'node').length !== 1) t.fail(`duplicate or missing node key: ${line}`);
  }
});

t.test('a stopping leader logs leaderExited before "agent stopped"; an agent without groups says so', async (t) => {
  const c = await startCluster(t, [{ logLevel: 'info' }, { logLevel: 'info' }, { logLevel: 'info' }, { logLevel: 'info', groups: [] }], { defaults: { autoVote: 'yes', timers: 'riaps' } });
  const formed = await c.waitForCommonLeader('G.a', { among: [0, 1, 2], members: 3, timeoutMs: 20_000 });
  const i = c.indexOf(formed.leader);
  const lines: string[] = [];
  c.onLine(i, (l) => lines.push(l));
  c.signal(i, 'SIGTERM');
  await waitFor(() => lines.some((l) => l.includes('"msg":"agent stopped"')), 10_000, 'agent stopped');
  const order = lines.flatMap((l) => {
    try {
      return [(JSON.parse(l) as { msg: string }).msg];
    } catch {
      return [];
    }
  });
  const exited = order.indexOf('leaderExited');
  t.ok(exited >= 0, `the leader logs leaderExited (${order.join(' | ')})`);
  t.ok(exited < order.indexOf('agent stopped'), 'before agent stopped');
  await waitFor(() => msgs(c, 3).find((m) => m.startsWith('this agent has joined no groups')), 10_000, 'the no-groups line');
});

t.test('components only: control calls act on the component member', async (t) => {
  const c = await startCluster(t, 2, { defaults: { components: ['test/fixtures/echo-leader.ts'], groups: ['Sensors.north'] } });
  const formed = await c.waitForCommonLeader('Sensors.north', { among: [0, 1], members: 2, timeoutMs: 20_000 }, 'component1');
  const status = await c.status(0);
  t.same(status.groups.map((g) => g.group), ['Sensors.north'], 'status lists the group');
  const r = await c.post(c.indexOf(formed.leader), '/groups/Sensors.north/vote', { topic: 'x', kind: 'majority' });
  t.equal(r.status, 200, `POST vote on a components-only group answers 200 (${JSON.stringify(r.body)})`);
  const none = await c.post(0, '/groups/Other.x/vote', { topic: 'x' });
  t.equal(none.status, 404);
});
