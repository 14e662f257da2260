/**
 * GroupWatch on a scripted agent status: /healthz's verdict per group (leader, waiting,
 * electing, leaderless) and the progress lines a person reads, rate-limited.
 */
import t from 'tap';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { EventLog } from '../../agent/runtime/event-log.js';
import { GroupWatch, electionBoundMs } from '../../agent/group-watch.js';
import type { AgentStatus, GroupStatus } from '../../agent/runtime/agent.js';

const TIMERS = { heartbeat: 200, electionMin: 500, electionMax: 800, peerTimeout: 1200, consensusTimeout: 1000 };

function group(over: Partial<GroupStatus>): GroupStatus {
  return {
    group: 'Sensors.north', component: 'agent', memberId: 'a/agent', role: 'follower', term: 0, leader: null, members: ['a/agent'], minSize: 2,
    timers: TIMERS, voters: [], configVersion: 0, counters: {} as GroupStatus['counters'], lastActionErrorMs: null, persistFailures: 0, memberInfo: [],
    ...over,
  };
}

function fixture() {
  let now = 0;
  let wall = 1_800_000_000_000;
  const status: AgentStatus = { node: 'a', endpoints: { bus: 'tcp://127.0.0.1:7001', direct: 'tcp://127.0.0.1:7101' }, groups: [], drops: {} as AgentStatus['drops'], transport: {} as AgentStatus['transport'], clashes: [], transportHeartbeat: { intervalMs: 0, timeoutMs: 0 } };
  const events = new EventLog();
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push((JSON.parse(String(chunk)) as { msg: string }).msg); cb(); } });
  const watch = new GroupWatch({ node: 'a', status: () => status, events } as never, {
    log: pino({ level: 'info' }, sink),
    peers: ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'],
    repeatMs: 30_000,
    now: () => now,
    wall: () => wall,
  });
  return {
    status, events, lines, watch,
    advance(ms: number) { now += ms; wall += ms; },
    get wall() { return wall; },
  };
}

t.test('health: leader known, waiting for peers, electing, leaderless too long', async (t) => {
  const f = fixture();
  t.same(f.watch.health(), { healthy: true, node: 'a', summary: 'running; no groups joined', groups: [] }, 'no groups: healthy, and says so');

  f.status.groups = [group({})];
  f.watch.sample();
  let h = f.watch.health();
  t.equal(h.healthy, true);
  t.equal(h.groups[0]!.state, 'waiting', 'one member of minSize 2: legitimately waiting');
  t.match(h.groups[0]!.detail, 'waiting for peers: 1 of the 2 members needed to elect');

  f.status.groups = [group({ members: ['a/agent', 'b/agent'] })];
  f.advance(100);
  f.watch.sample();
  h = f.watch.health();
  t.equal(h.groups[0]!.state, 'electing');
  t.equal(h.healthy, true, 'within the election bound');

  f.advance(electionBoundMs({ timers: TIMERS }) + 1);
  f.watch.sample();
  h = f.watch.health();
  t.equal(h.groups[0]!.state, 'leaderless');
  t.equal(h.healthy, false, 'no leader for longer than an election may take');
  t.match(h.summary, /Sensors\.north: no leader for \d+ ms although 2 members are present/);

  f.status.groups = [group({ members: ['a/agent', 'b/agent'], leader: 'b/agent', term: 3 })];
  f.watch.sample();
  h = f.watch.health();
  t.equal(h.healthy, true);
  t.equal(h.groups[0]!.state, 'follower');
  t.equal(h.summary, 'running; Sensors.north follower');

  f.status.clashes = [{ group: 'Other.x', memberId: 'a/agent', ownEndpoint: '', otherEndpoint: '', ownIncarnation: 1, otherIncarnation: 2, since: 0, lastSeen: 0, outcome: 'refused' }];
  t.equal(f.watch.health().healthy, false, 'a refused member (node id clash) is unhealthy');
});

t.test('progress lines: joined, waiting (rate-limited), leader is, unreachable since, back', async (t) => {
  const f = fixture();
  f.watch.sample();
  t.same(f.lines, ['this agent has joined no groups: it serves status only; join one with --group or a components entry in the config']);
  f.lines.length = 0;

  f.status.groups = [group({})];
  f.watch.sample();
  t.same(f.lines, ['joined Sensors.north as a/agent (minSize 2)'], 'joined, and no waiting line at once');
  f.lines.length = 0;
  f.advance(500);
  f.watch.sample();
  t.same(f.lines, ['Sensors.north: waiting for peers (0 of 2 reachable: 127.0.0.1:7002, 127.0.0.1:7003 not heard from); 1 of the 2 members needed to elect a leader'], 'waiting names the peers, without its own bus');
  f.lines.length = 0;
  for (let i = 0; i < 20; i++) {
    f.advance(500);
    f.watch.sample();
  }
  t.same(f.lines, [], 'unchanged: not repeated within 30 s');
  f.advance(20_000);
  f.watch.sample();
  t.equal(f.lines.length, 1, 'repeated after 30 s');
  f.lines.length = 0;

  f.status.groups = [group({ members: ['a/agent', 'b/agent'], leader: 'b/agent', term: 2 })];
  f.watch.sample();
  t.same(f.lines, ['Sensors.north: leader is b/agent, term 2']);
  f.lines.length = 0;

  f.events.add({ at: f.wall, group: 'Sensors.north', member: 'a/agent', type: 'memberLeft', subject: 'b/agent', reason: 'timeout' });
  f.status.groups = [group({ members: ['a/agent'], leader: null, term: 2 })];
  f.watch.sample();
  const since = new Date(f.wall - TIMERS.peerTimeout).toISOString().slice(11, 19);
  t.same(f.lines, ['Sensors.north: no leader (was b/agent); waiting for peers', `Sensors.north: peer b/agent unreachable since ${since} (not heard for 1200 ms)`]);
  f.lines.length = 0;
  f.advance(31_000);
  f.watch.sample();
  t.ok(f.lines.some((l) => l.startsWith(`Sensors.north: peer b/agent unreachable since ${since} (`)), 'repeated while it stays away');
  t.ok(f.lines.some((l) => l.startsWith('Sensors.north: waiting for peers (0 of 2 reachable')), 'and the group is waiting again');
  f.lines.length = 0;
  f.events.add({ at: f.wall, group: 'Sensors.north', member: 'a/agent', type: 'memberJoined', subject: 'b/agent' });
  f.watch.sample();
  t.match(f.lines, [/^Sensors\.north: peer b\/agent is back \(unreachable for \d+ s\)$/]);
});

t.test('GET /healthz answers 200 or 503 with the reason', async (t) => {
  const { startHttpServer } = await import('../../agent/http/server.js');
  const f = fixture();
  f.status.groups = [group({ members: ['a/agent', 'b/agent'] })];
  f.watch.sample();
  const fake = { node: 'a', status: () => f.status, events: f.events, log: pino({ level: 'silent' }), getGroup: () => undefined, actionErrors: [] };
  const { server, url } = await startHttpServer(fake as never, '127.0.0.1:0', { watch: f.watch });
  t.teardown(() => server.close());
  const ok = await fetch(`${url}/healthz`);
  t.equal(ok.status, 200, 'electing, within the bound');
  f.advance(60_000);
  f.watch.sample();
  const bad = await fetch(`${url}/healthz`);
  t.equal(bad.status, 503, 'leaderless for a minute: 503');
  t.match(await bad.json(), { healthy: false, summary: /^Sensors\.north: no leader for \d+ ms although 2 members are present/ });
});
