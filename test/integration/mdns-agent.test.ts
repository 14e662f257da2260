/**
 * End to end: three Agents on 127.0.0.1 that know nothing of each other but MdnsDiscovery in
 * loopback mode (multicast TTL 0: nothing leaves the machine, no root needed) form a group
 * and elect a leader. Then one leaves and stops: the others hear its goodbye and keep a
 * leader among themselves.
 */
import t from 'tap';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import { Agent } from '../../agent/runtime/agent.js';
import type { PeerAdvert } from '../../discovery/discovery.js';
import { MdnsDiscovery } from '../../discovery/mdns.js';
import { until as waitUntil } from '../support/wait.js';

const PREFIX = `me${process.pid}`;
// Per-run group: other test files may run agents over loopback mDNS at the same time.
const TYPE = 'MdnsE2e';
const INSTANCE = `g${process.pid}`;

const until = (what: string, done: () => boolean, deadlineMs = 10_000) => waitUntil(what, done, deadlineMs, { intervalMs: 10 });

interface Running {
  agent: Agent;
  discovery: MdnsDiscovery;
  downs: PeerAdvert[];
}

t.test('three agents find each other over loopback mDNS and elect a leader', async (t) => {
  const t0 = performance.now();
  const nodes: Running[] = [];
  for (const name of ['a', 'b', 'c']) {
    const discovery = new MdnsDiscovery({ loopback: true, requeryMs: 1000 });
    const agent = new Agent({ node: `${PREFIX}-${name}`, listenHost: '127.0.0.1', discovery });
    const r: Running = { agent, discovery, downs: [] };
    discovery.on('down', (p) => p.node.startsWith(PREFIX) && r.downs.push(p));
    t.teardown(() => agent.stop());
    nodes.push(r);
  }
  await Promise.all(nodes.map((n) => n.agent.start()));
  const groups = nodes.map((n) => n.agent.join('agent', TYPE, INSTANCE, { minSize: 2, timers: TIMER_PRESETS.lan }));
  const started = performance.now() - t0;

  const peersFound = await until('every agent to discover the other two', () =>
    nodes.every((n) => n.discovery.peers().filter((p) => p.node.startsWith(PREFIX)).length === 2),
  );
  const agreed = () => {
    const leader = groups[0]!.leaderId();
    return leader !== null && groups.every((g) => g.leaderId() === leader && g.size() === 3);
  };
  const elected = await until('one leader and three members everywhere', agreed);
  const total = performance.now() - t0;
  t.comment(`agents started in ${started.toFixed(0)} ms; peers discovered ${peersFound.toFixed(0)} ms later; leader agreed by all ${elected.toFixed(0)} ms after that (${total.toFixed(0)} ms from nothing)`);
  const leader = groups[0]!.leaderId();
  t.ok(leader && nodes.some((n) => leader.startsWith(`${n.agent.node}/`)), `leader ${leader} is one of ours`);
  for (const n of nodes) {
    const status = n.agent.status();
    t.equal(status.drops.decode, 0, `${n.agent.node}: no undecodable frames`);
    t.equal(n.discovery.stats.errors, 0);
    t.equal(n.discovery.stats.warnings, 0);
    for (const p of n.discovery.peers().filter((p) => p.node.startsWith(PREFIX))) t.match(p.bus, /^tcp:\/\/127\.0\.0\.1:\d+$/, 'peers are dialled on loopback');
  }

  // The leader's agent stops: its group hands over, its mDNS says goodbye.
  const leaving = nodes.find((n) => leader?.startsWith(`${n.agent.node}/`))!;
  const staying = nodes.filter((n) => n !== leaving);
  const stayingGroups = groups.filter((_, i) => nodes[i] !== leaving);
  const left: Array<{ member: string; reason: string }> = [];
  for (const g of stayingGroups) g.on('memberLeft', (e) => left.push(e));
  const t1 = performance.now();
  await leaving.agent.stop();
  await until('goodbye heard', () => staying.every((n) => n.downs.some((p) => p.node === leaving.agent.node)));
  await until('a new leader among the two left', () => {
    const l = stayingGroups[0]!.leaderId();
    return l !== null && l !== leader && stayingGroups.every((g) => g.leaderId() === l && g.size() === 2);
  });
  t.comment(`leader's agent stopped: goodbye heard and new leader agreed in ${(performance.now() - t1).toFixed(0)} ms`);
  for (const n of staying) t.notOk(n.discovery.peers().some((p) => p.node === leaving.agent.node), 'withdrawn from discovery');
  t.same(left.map((e) => e.reason), ['left', 'left'], `the others saw it leave, not time out (${JSON.stringify(left)})`);
});
