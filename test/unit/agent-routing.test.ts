/**
 * The Agent's routing, without sockets: several Agents in one process over the
 * in-memory transport (agent/transport/memory.ts). A frame is decoded, checked
 * against its bus topic, delivered to the hosted members it is for, and every
 * frame that goes nowhere is counted under its reason (decode, unknownGroup,
 * noRoute); the transport's own counters say what it filtered or refused.
 * A "stranger" is a bare MemoryTransport announced on the network: it writes
 * whatever frames a test wants onto its bus or into an agent's direct endpoint.
 */
import t from 'tap';
import type { Envelope } from '../../agent/core/messages.js';
import { PROTOCOL_VERSION } from '../../agent/core/messages.js';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import type { Group } from '../../agent/api/group.js';
import { Agent, directedBusTopic } from '../../agent/runtime/agent.js';
import { MemoryNetwork, MemoryTransport } from '../../agent/transport/memory.js';
import { decodeEnvelope, encodeEnvelope } from '../../proto/codec.js';
import { commonLeader } from '../support/leader.js';
import { until, waitFor } from '../support/wait.js';

const TIMERS = { ...TIMER_PRESETS.lan };
const text = (s: string) => new TextEncoder().encode(s);

function data(group: string, to: string, channel: 'group' | 'fromLeader', payload: string, from = 'stranger/x'): Uint8Array {
  const env: Envelope = { version: PROTOCOL_VERSION, group, from, incarnation: 1, term: 0, to, body: { type: 'data', channel, payload: text(payload), sentAt: 0 } };
  return encodeEnvelope(env);
}

async function startAgents(t: Tap, net: MemoryNetwork, nodes: string[]): Promise<Agent[]> {
  const agents = nodes.map((node) => new Agent({ node, probeMs: 0, transportFactory: net.factory, discovery: net.discovery() }));
  t.teardown(() => Promise.all(agents.map((a) => a.stop())));
  await Promise.all(agents.map((a) => a.start()));
  return agents;
}
type Tap = Pick<typeof t, 'teardown'>;

/** Agents (not started) on one memory network, with each one's transport by node, to silence a link. */
function transportedAgents(t: Tap, nodes: string[]): { agents: Agent[]; transports: Map<string, MemoryTransport> } {
  const net = new MemoryNetwork();
  const transports = new Map<string, MemoryTransport>();
  const factory: typeof net.factory = (o) => {
    const tr = net.factory(o) as MemoryTransport;
    transports.set(o.identity ?? '', tr); // the transport identity is the node
    return tr;
  };
  const agents = nodes.map((node) => new Agent({ node, probeMs: 0, transportFactory: factory, discovery: net.discovery() }));
  t.teardown(() => Promise.all(agents.map((x) => x.stop())));
  return { agents, transports };
}

async function stranger(t: Tap, net: MemoryNetwork): Promise<{ tr: MemoryTransport; bus: string; direct: string }> {
  const tr = net.factory({ listenHost: 'mem', identity: 'stranger' }) as MemoryTransport;
  t.teardown(() => tr.close());
  const ep = await tr.start();
  net.announce({ node: 'stranger', bus: ep.bus, direct: ep.direct });
  return { tr, ...ep };
}

/** Waits until the groups agree on one leader (test/support/leader.ts) and returns it. */
function agreed(groups: Group[]): Promise<string> {
  return waitFor(() => commonLeader(groups.map((g) => ({ name: g.memberId(), memberId: g.memberId(), role: g.isLeader() ? 'leader' : 'follower', leader: g.leaderId(), term: g.term() })))?.leader, 15_000, 'one leader agreed by every member');
}

t.test('three agents in one process, no sockets: they elect one leader and exchange group messages', async (t) => {
  const net = new MemoryNetwork();
  const agents = await startAgents(t, net, ['a', 'b', 'c']);
  const groups = agents.map((a) => a.join('agent', 'G', 'a', { timers: TIMERS }));
  const leader = await agreed(groups);
  t.ok(['a/agent', 'b/agent', 'c/agent'].includes(leader), `leader ${leader}`);
  const got = groups.map(() => [] as string[]);
  groups.forEach((g, i) => g.on('message', (m) => got[i]!.push(`${m.from}:${new TextDecoder().decode(m.payload)}`)));
  groups[1]!.send(text('hello'));
  await until('the message on every member', () => got.every((g) => g.length === 1));
  t.same(got, [['b/agent:hello'], ['b/agent:hello'], ['b/agent:hello']], 'every member (the sender too) gets it once');
  for (const a of agents) t.same(Object.fromEntries(Object.entries(a.status().drops).filter(([, n]) => n !== 0)), {}, `${a.node}: nothing dropped (no counter above 0)`);
  t.ok(agents.every((a) => a.status().transport.busIn > 0), 'every agent heard the bus');
  t.ok(agents.some((a) => a.status().transport.directIn > 0), 'directed messages (votes, acks) went through the direct path');
});

t.test('frames that go nowhere are counted under their reason', async (t) => {
  const net = new MemoryNetwork();
  const [a] = await startAgents(t, net, ['a']);
  const g = a!.join('agent', 'G', 'a', { timers: TIMERS });
  const s = await stranger(t, net);
  const own = a!.status().endpoints.direct;
  const drops = () => a!.status().drops;
  const messages: string[] = [];
  g.on('message', (m) => messages.push(`${m.from}:${new TextDecoder().decode(m.payload)}`));

  s.tr.publish('G.a', data('G.a', '', 'group', 'hi'));
  await until('a stranger\'s group message delivered', () => messages.length === 1);
  t.same(messages, ['stranger/x:hi'], 'a decodable frame on a subscribed topic reaches the member');

  s.tr.publish('G.a', new Uint8Array([0x12, 0x7f, 1, 2, 3]));
  await until('a decode drop', () => drops().decode === 1);
  s.tr.sendDirect(own, new Uint8Array([0xff, 0xff, 0xff]));
  await until('a second decode drop (direct)', () => drops().decode === 2);

  s.tr.publish('G.a', data('X.y', '', 'group', 'wrong topic'));
  await until('an unknownGroup drop (envelope group differs from its topic)', () => drops().unknownGroup === 1);
  s.tr.sendDirect(own, data('X.y', 'a/agent', 'group', 'no such group here'));
  await until('an unknownGroup drop (direct, group not hosted)', () => drops().unknownGroup === 2);
  s.tr.sendDirect(own, data('G.a', 'nobody/x', 'group', 'no such member here'));
  await until('an unknownGroup drop (direct, member id not hosted)', () => drops().unknownGroup === 3);

  const filteredBefore = a!.status().transport.busFiltered;
  s.tr.publish('H.b', data('H.b', '', 'group', 'not subscribed'));
  await until('the transport filters a topic nobody subscribed', () => a!.status().transport.busFiltered === filteredBefore + 1);

  t.same(messages, ['stranger/x:hi'], 'none of those reached the member');
  t.match(drops(), { decode: 2, unknownGroup: 3, noRoute: 0, internal: 0, clash: 0 }, 'each counted once, under its own reason');

  s.tr.sendDirect('mem://nobody.99/direct', data('G.a', '', 'group', 'x'));
  t.equal(s.tr.stats().dropsSend, 1, 'a direct send to an endpoint nobody holds is a counted send drop');
  s.tr.publish('G.a', new Uint8Array(1024 * 1024 + 1));
  t.equal(s.tr.stats().dropsSend, 2, 'so is a frame over maxMessageBytes');
});

t.test('a directed frame reaches only its addressee among the members one agent hosts', async (t) => {
  const net = new MemoryNetwork();
  const [a] = await startAgents(t, net, ['a']);
  a!.join('c1', 'G', 'a', { timers: TIMERS });
  a!.join('c2', 'G', 'a', { timers: TIMERS });
  const s = await stranger(t, net);
  const counters = (component: string) => a!.status().groups.find((g) => g.component === component)!.counters;
  // Leader data from someone who is not the leader: delivered to a/c2 alone, whose core refuses it.
  s.tr.sendDirect(a!.status().endpoints.direct, data('G.a', 'a/c2', 'fromLeader', 'forged'));
  await until('a/c2 to see the frame', () => counters('c2').notFromLeader === 1);
  t.equal(counters('c1').notFromLeader, 0, 'a/c1 never saw it');
  t.equal(a!.status().drops.unknownGroup, 0, 'it was routed, not dropped');
});

t.test('a member with no known endpoint for its addressee: a noRoute drop', async (t) => {
  const net = new MemoryNetwork();
  const [a] = await startAgents(t, net, ['a']);
  const g = a!.join('agent', 'G', 'a', { timers: TIMERS, minSize: 1 });
  await until('a/agent to lead its group of one', () => g.isLeader());
  const s = await stranger(t, net);
  // The stranger's group message makes it a member, but it never advertised an endpoint.
  s.tr.publish('G.a', data('G.a', '', 'group', 'hi'));
  await until('the stranger to be a member', () => g.members().includes('stranger/x'));
  g.sendToMember(text('x'), 'stranger/x');
  t.equal(a!.status().drops.noRoute, 1, 'counted as noRoute at once, nothing thrown');
});

t.test("a follower whose bus link goes silent keeps its leader: the leader's heartbeats also come over the direct link", async (t) => {
  // Models one TCP link stalled in retransmission (docs/bench-cluster.md, "Loss: two paths
  // and linear RTOs"): everything arriving on one follower's bus is lost; its direct link works.
  const { agents, transports } = transportedAgents(t, ['a', 'b', 'c']);
  await Promise.all(agents.map((a) => a.start()));
  const groups = agents.map((a) => a.join('agent', 'G', 'a', { timers: TIMERS }));
  const leader = await agreed(groups);
  const i = groups.findIndex((g) => g.memberId() !== leader);
  const follower = groups[i]!;
  const term = follower.term();
  const tr = transports.get(agents[i]!.node)!; // the transport identity is the node
  tr.arriveBus = () => {}; // bus link silent
  const directBefore = agents[i]!.status().transport.directIn;
  const seen = new Set<string>();
  const until = Date.now() + 3 * TIMERS.peerTimeout;
  while (Date.now() < until) {
    seen.add(`${follower.leaderId() ?? '-'}/t${follower.term()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  t.same([...seen], [`${leader}/t${term}`], 'the same leader and term all along');
  t.ok(agents[i]!.status().transport.directIn > directBefore + 5, 'heartbeats arrived on the direct link');
});

t.test("a leader whose direct link in goes silent still admits a joiner as a voter: acknowledgements (and vote replies) also come on the bus", async (t) => {
  // The other half of the two paths: what members send to the leader (heartbeat acks) and to a
  // candidate (vote replies) went on the direct link only. With the leader's inbound direct
  // link stalled or broken, a joiner's acks never arrived and it never became a voter (seen on
  // the ssh bench: a member left out of the voters, then a pair leaderless for 30 s).
  const { agents, transports } = transportedAgents(t, ['a', 'b', 'c']);
  await Promise.all(agents.slice(0, 2).map((x) => x.start()));
  const groups = agents.slice(0, 2).map((x) => x.join('agent', 'G', 'a', { timers: TIMERS }));
  const leader = await agreed(groups);
  const li = groups.findIndex((g) => g.memberId() === leader);
  transports.get(agents[li]!.node)!.arriveDirect = () => {}; // everything sent to the leader's direct endpoint is lost
  await agents[2]!.start();
  const joiner = agents[2]!.join('agent', 'G', 'a', { timers: TIMERS });
  await until('the joiner to be a member', () => groups[li]!.members().includes(joiner.memberId()));
  const voters = () => agents[li]!.status().groups[0]!.voters;
  await until('the joiner to be a voter', () => voters().includes(joiner.memberId()), 3 * TIMERS.peerTimeout).catch(() => {});
  t.ok(voters().includes(joiner.memberId()), `the joiner is a voter (${JSON.stringify(voters())})`);
  t.equal(groups[li]!.leaderId(), leader, 'the leader kept its lead');
});

t.test("a vote's bus copy goes to the leader's agent alone, under the leader's directed topic", async (t) => {
  // The second path of votes and poll requests (docs/bench-cluster.md, "two paths"): it must
  // reach the leader on the bus, and wake no other member's agent (published under the
  // group's topic, every member decoded and skipped every vote).
  const net = new MemoryNetwork();
  const busSeen = new Map<string, Array<{ topic: string; type: string; to: string }>>();
  const factory: typeof net.factory = (o) => {
    const tr = net.factory(o) as MemoryTransport;
    const seen: Array<{ topic: string; type: string; to: string }> = [];
    busSeen.set(o.identity ?? '', seen);
    const onBus = tr.onBus.bind(tr);
    tr.onBus = (handler) => onBus((topic, frame, peer) => {
      const d = decodeEnvelope(frame);
      if (d.ok) seen.push({ topic, type: d.envelope.body.type, to: d.envelope.to });
      handler(topic, frame, peer);
    });
    return tr;
  };
  const nodes = ['a', 'b', 'c', 'd'];
  const agents = nodes.map((node) => new Agent({ node, probeMs: 0, transportFactory: factory, discovery: net.discovery() }));
  t.teardown(() => Promise.all(agents.map((a) => a.stop())));
  await Promise.all(agents.map((a) => a.start()));
  const groups = agents.map((a) => a.join('agent', 'G', 'a', { timers: TIMERS }));
  const leader = await agreed(groups);
  await until('every member sees all four', () => groups.every((g) => g.members().length === 4));
  const results: string[] = [];
  for (const g of groups) {
    g.on('voteRequest', (e) => void g.vote(e.ballotId, true));
    g.on('voteResult', (e) => void results.push(`${g.memberId()}:${e.outcome}`));
  }
  for (const seen of busSeen.values()) seen.length = 0;
  const requester = groups.find((g) => g.memberId() !== leader)!;
  requester.requestVote(text('q'), { kind: 'consensus' });
  await until('the result at every member', () => results.length === 4);
  t.same(results.map((r) => r.split(':')[1]), ['yes', 'yes', 'yes', 'yes'], 'consensus reached');
  const toLeader = (type: string) => (s: { type: string }) => s.type === type;
  const leaderNode = leader.split('/')[0]!;
  for (const [node, seen] of busSeen) {
    const votes = seen.filter(toLeader('memberVote'));
    const requests = seen.filter(toLeader('pollRequest'));
    if (node === leaderNode) {
      t.equal(votes.length, 3, 'the leader got every other member\'s vote on the bus too');
      t.equal(requests.length, 1, 'and the poll request');
      t.ok([...votes, ...requests].every((s) => s.topic === directedBusTopic('G.a', leader)), 'under its directed topic');
    } else {
      t.same([...votes, ...requests], [], `${node}: no vote or request addressed to the leader on its bus`);
    }
  }
});

t.test('directed bus topics never match another subscription by prefix (libzmq filters by prefix)', async (t) => {
  const groups = ['G.a', 'G.ab', 'Ga.b', '_.x'];
  const members = ['n/c', 'n/cd', 'nn/c', 'n-/c'];
  const topics = groups.flatMap((g) => members.map((m) => directedBusTopic(g, m)));
  for (const topic of topics) {
    for (const g of groups) t.notOk(topic.startsWith(g), `${topic} does not start with group ${g}`);
    for (const other of topics) if (other !== topic && other.startsWith(topic)) t.fail(`${topic} is a prefix of ${other}`);
  }
  t.end();
});
