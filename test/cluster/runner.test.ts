/**
 * The scenario runner and the timeline rendering, against an in-memory fake
 * backend (no root, no processes): host references, partitions with `*`,
 * expectations, flap detection, votes/actions through /events, recovery
 * measurements, and the SVG/log/JSON files.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentLaunch, AgentStatus, Backend, HttpReply, LoggedEvent } from './backend.js';
import { helpListsDiscovery, agentArgs } from './backend.js';
import { fakeTimeSpec } from './netns.js';
import { describeStep, runScenario, type Scenario } from './scenario.js';
import { Timeline } from './timeline.js';

/** A toy group: the connected component with >= minSize hosts has a leader (lowest name), others none. */
class FakeBackend implements Backend {
  readonly kind = 'fake';
  readonly hosts: string[];
  readonly calls: string[] = [];
  private alive = new Set<string>();
  private cutSet = new Set<string>();
  private sides: string[][] | null = null;
  private leader: string | null = null;
  private term = 0;
  private minSize = 3;
  private events = new Map<string, LoggedEvent[]>();
  private seq = 0;
  /** Set to make the leader flap on every status call (flap detection test). */
  flap = false;

  constructor(n: number) {
    this.hosts = Array.from({ length: n }, (_, i) => `h${i + 1}`);
  }

  private component(h: string): string[] {
    if (!this.alive.has(h) || this.cutSet.has(h)) return [h];
    const side = this.sides?.find((s) => s.includes(h));
    return this.hosts.filter((x) => this.alive.has(x) && !this.cutSet.has(x) && (!this.sides || !side || side.includes(x)));
  }

  private majority(): string[] | null {
    for (const h of this.hosts) {
      const c = this.component(h);
      if (this.alive.has(h) && c.length >= this.minSize) return c;
    }
    return null;
  }

  private settle(): string[] | null {
    const m = this.majority();
    if (!m) this.leader = null;
    else if (this.flap || !this.leader || !m.includes(this.leader)) {
      this.leader = this.flap ? m[this.term % m.length]! : m[0]!;
      this.term++;
    }
    return m;
  }

  async startAgent(h: string, l: AgentLaunch): Promise<void> {
    this.calls.push(`start ${h} ${l.discovery} ${l.clockOffsetMs}`);
    this.minSize = l.minSize;
    this.alive.add(h);
  }
  async stopAgent(h: string): Promise<void> {
    this.calls.push(`stop ${h}`);
    this.alive.delete(h);
  }
  async kill(h: string, s: NodeJS.Signals): Promise<void> {
    this.calls.push(`kill ${h} ${s}`);
    this.alive.delete(h);
  }
  async status(h: string): Promise<AgentStatus> {
    if (!this.alive.has(h)) throw new Error('connection refused');
    const m = this.settle();
    const inM = m?.includes(h) ?? false;
    const role = inM && this.leader === h ? 'leader' : 'follower';
    const members = (inM ? m! : this.component(h)).map((x) => `${x}/agent`);
    return { node: h, groups: [{ group: 'Bench.main', component: 'agent', role, term: this.term, leader: inM && this.leader ? `${this.leader}/agent` : null, members }] } as unknown as AgentStatus;
  }
  async get<T>(h: string, path: string): Promise<T> {
    if (!this.alive.has(h)) throw new Error('connection refused');
    const after = Number(/after=(\d+)/.exec(path)?.[1] ?? 0);
    return (this.events.get(h) ?? []).filter((e) => e.seq > after) as T;
  }
  async post<T>(h: string, path: string, body: unknown): Promise<HttpReply<T>> {
    this.calls.push(`post ${h} ${path}`);
    const m = this.settle();
    if (!m?.includes(h)) return { status: 409, body: { error: 'NoLeaderError' } as T };
    const ballotId = `b${++this.seq}`;
    const when = Date.now() + Number((body as { inMs?: number }).inMs ?? 0);
    for (const x of m) {
      const list = this.events.get(x) ?? [];
      const base = { seq: ++this.seq, at: Date.now(), group: 'Bench.main', member: `${x}/agent`, ballotId };
      list.push(path.endsWith('/vote') ? { ...base, type: 'voteResult', outcome: 'yes', tally: { yes: m.length, no: 0, voters: m.length } } : { ...base, type: 'action', firedAt: when, errorMs: 0 });
      this.events.set(x, list);
    }
    return { status: 200, body: { ballotId, when } as T };
  }
  async cut(h: string) {
    this.cutSet.add(h);
  }
  async restore(h: string) {
    this.cutSet.delete(h);
  }
  async partition(sides: string[][]) {
    this.calls.push(`partition ${sides.map((s) => s.join(',')).join('|')}`);
    this.sides = sides;
  }
  async heal() {
    this.sides = null;
  }
  async loss(h: string, p: number, d?: string) {
    this.calls.push(`loss ${h} ${p} ${d}`);
  }
  async supportsMdns() {
    return false;
  }
  async close() {}
}

const quiet = { check: () => undefined, comment: () => undefined };

t.test('a full scenario against the fake backend', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const b = new FakeBackend(5);
  const comments: string[] = [];
  const checks: Array<[boolean, string]> = [];
  const scenario: Scenario = {
    name: 'fake-all-steps',
    hosts: 5,
    pollMs: 20,
    clockOffsets: { h5: 300 },
    steps: [
      { startHosts: 'all' },
      { waitForLeader: { within: 2000, members: 5, save: 'L' } },
      { expect: { leaders: 1, sameLeaderOnAll: true, leaderIs: 'h1', termIs: '$L', members: 5, noFlapWithin: 200 } },
      { cut: { host: '$L' } },
      { waitForLeader: { within: 2000, not: ['$L'], save: 'N' } },
      { expect: { leaderNot: '$L', leaderIs: '$L+1', termAbove: '$L', roles: { $L: '!leader' } }, among: ['$N', 'h3'] },
      { restore: { host: '$L' } },
      { waitForLeader: { within: 2000, members: 5, measure: 'rejoin' } },
      { expect: { leaderIs: '$N', termIs: '$N', roles: { $L: 'follower' } } },
      { partition: { sides: [['$N', '$N+1'], ['*']] } },
      { waitForLeader: { within: 2000, among: { side: 1 }, save: 'M' } },
      { expect: { leadersPerSide: [0, 1] } },
      { heal: true },
      { waitForLeader: { within: 2000, members: 5 } },
      { loss: { host: 'all', percent: 20, direction: 'out' } },
      { requestVote: { from: '$leader', kind: 'consensus' } },
      { requestAction: { from: 'h2', inMs: 50, within: 1000 } },
      { loss: { host: 'all', percent: 0 } },
      { kill: { host: '$M' } },
      { waitForLeader: { within: 2000, not: ['$M'] } },
      { clockOffset: { host: 'h2', ms: -100 } },
      { sleep: 30 },
    ],
  };
  const r = await runScenario(b, scenario, { resultsDir: dir, reporter: { check: (ok, m) => checks.push([ok, m]), comment: (m) => comments.push(m) } });
  t.same(r.failures, [], 'no failures');
  t.ok(r.ok, 'scenario passed');
  t.ok(checks.every(([ok]) => ok) && checks.length >= 12, `${checks.length} checks, all ok`);
  t.same(r.measurements.map((m) => m.label), ['formation (all agents serving → leader known to all)', 'cut h1 → leader known to all', 'rejoin', 'partition h2,h3 | h1,h4,h5 → leader known to all', 'heal → leader known to all', 'SIGKILL h1 → leader known to all'], 'one measurement per fault, custom label kept');
  t.ok(r.measurements.every((m) => m.ms >= 0 && m.ms < 2000), 'measurements are sane');
  t.ok(b.calls.includes('partition h2,h3|h1,h4,h5'), '`*` expands to the hosts not named');
  t.ok(b.calls.includes('start h5 static 300'), 'clock offset passed at start');
  t.ok(b.calls.includes('stop h2') && b.calls.includes('start h2 static -100'), 'clockOffset restarts the running agent with the new offset');
  t.ok(b.calls.filter((c) => c.startsWith('loss ')).length === 10, 'loss all applied to every host (on and off)');
  t.ok(comments.some((c) => /^vote b\d+: h1:yes/.test(c) || /^vote b\d+:/.test(c)), 'vote reported');
  t.ok(comments.some((c) => /real spread/.test(c)), 'action reported with its spread');
  for (const f of [r.files.svg, r.files.log, r.files.json]) t.ok(f && existsSync(f), `${f} written`);
  const svg = readFileSync(r.files.svg!, 'utf8');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, 'an SVG');
  for (const h of b.hosts) t.match(svg, new RegExp(`font-weight="bold">${h}</text>`), `lane for ${h}`);
  t.match(svg, /t1 leader/, 'term label in the leader lane');
  t.match(svg, />cut h1</, 'fault marker');
  t.match(svg, /recovered: \d+ ms/, 'recovery marker');
  t.match(svg, /url\(#hatch\)/, 'cut band');
  const log = readFileSync(r.files.log!, 'utf8');
  t.match(log, /\[fault\] cut h1/, 'log has the fault');
  t.match(log, /h2 +leader term 2 leader=h2 members=4/, 'log has state changes');
  t.match(log, /# recovery times/, 'log ends with the recovery times');
  const json = JSON.parse(readFileSync(r.files.json!, 'utf8')) as { samples: unknown[]; measurements: unknown[] };
  t.ok(json.samples.length > 50 && json.measurements.length === 6, 'JSON has samples and measurements');
});

t.test('failures: a wrong expectation, flapping, and a leaderless wait that ends the scenario', async (t) => {
  const b = new FakeBackend(3);
  const r1 = await runScenario(b, { name: 'x', hosts: 3, pollMs: 20, steps: [{ startHosts: 'all' }, { waitForLeader: { within: 1000 } }, { expect: { leaders: 2, leaderIs: 'h3' } }, { sleep: 10 }] }, { reporter: quiet });
  t.notOk(r1.ok, 'fails');
  t.equal(r1.failures.length, 1, 'one failure');
  t.match(r1.failures[0], /1 hosts with role leader, expected 2; leader is h1, expected h3/, 'says what was wrong');
  t.ok(r1.timeline.markers.some((m) => m.kind === 'step' && m.text === 'sleep 10 ms'), 'later steps still run after a failed expect');

  const b2 = new FakeBackend(3);
  b2.flap = true;
  const r2 = await runScenario(b2, { name: 'y', hosts: 3, pollMs: 20, steps: [{ startHosts: 'all' }, { expect: { noFlapWithin: 200 } }] }, { reporter: quiet });
  t.match(r2.failures.join('\n'), /no flapping for 200 ms .*→/, 'flapping detected');

  const b3 = new FakeBackend(3);
  const r3 = await runScenario(b3, { name: 'z', hosts: 3, pollMs: 20, steps: [{ startHosts: ['h1', 'h2'] }, { cut: { host: 'h2' } }, { waitForLeader: { within: 300 } }, { sleep: 5000 }] }, { reporter: quiet });
  t.match(r3.failures[0], /no common leader within 300 ms among h1/, 'wait failure');
  t.notOk(r3.timeline.markers.some((m) => m.text === 'sleep 5000 ms'), 'a failed wait ends the scenario');

  const r4 = await runScenario(new FakeBackend(3), { name: 'm', hosts: 3, discovery: 'mdns', steps: [{ startHosts: 'all' }] }, { reporter: quiet });
  t.match(r4.skipped, /no --discovery option/, 'mdns scenario skipped when the backend cannot do mdns');

  const r5 = await runScenario(new FakeBackend(3), { name: 'r', hosts: 3, pollMs: 20, steps: [{ startHosts: 'all' }, { cut: { host: '$nope' } }] }, { reporter: quiet });
  t.match(r5.failures[0], /\$nope: nothing saved as nope/, 'unknown reference');
  t.throws(() => runScenario(new FakeBackend(2), { name: 'q', hosts: 3, steps: [] }), /needs host h3/, 'scenario needs hosts the backend has');
});

t.test('small helpers', async (t) => {
  t.equal(fakeTimeSpec(250), '+0.250');
  t.equal(fakeTimeSpec(-1500), '-1.500');
  t.ok(helpListsDiscovery('  --peers <list>  x\n  --discovery <mode>  static|mdns\n'));
  t.notOk(helpListsDiscovery('  --peers <list>  static peers\n'));
  const l: AgentLaunch = { node: 'h1', group: 'G.a', minSize: 3, timers: 'lan', autoVote: 'yes', discovery: 'mdns', clockOffsetMs: 0, logLevel: 'warn' };
  t.same(agentArgs(l, { listen: '10.0.0.1', busPort: 7001, httpPort: 8080, peers: ['x:1'], iface: 'eth0', stateDir: null }), ['agent', '--node', 'h1', '--listen', '10.0.0.1', '--group', 'G.a', '--min-size', '3', '--bus-port', '7001', '--discovery', 'mdns', '--interface', 'eth0', '--http', '10.0.0.1:8080', '--timers', 'lan', '--auto-vote', 'yes', '--no-state', '--log-level', 'warn']);
  t.equal(describeStep({ heal: true }), 'heal');
  t.equal(describeStep({ startHosts: 'all' }), 'start all hosts');
  const tl = new Timeline(['a']);
  tl.add({ t: 10, sent: 5, host: 'a', up: true, role: 'leader', term: 1, leader: 'a/agent', members: ['a/agent'] });
  tl.add({ t: 8, sent: 2, host: 'a', up: false });
  t.equal(tl.latest('a')?.role, 'leader', 'a late answer to an older request does not replace the latest sample');
  t.match(tl.toSvg('x <&>'), /x &lt;&amp;&gt;/, 'SVG text escaped');
});
