/**
 * The runtime's own-echo shortcut: a member's own data broadcasts, looped back by the
 * bus, are recognised from their first bytes (framePrefix) and dropped undecoded.
 */
import t from 'tap';
import { encodeEnvelope, framePrefix, isDataBroadcastWithPrefix } from '../../proto/codec.js';
import { PROTOCOL_VERSION, type Body, type Envelope } from '../../agent/core/messages.js';
import { Agent } from '../../agent/runtime/agent.js';

const data: Body = { type: 'data', channel: 'group', payload: new Uint8Array([1, 2, 3]), sentAt: 5 };
const env = (over: Partial<Envelope>): Envelope => ({ version: PROTOCOL_VERSION, group: 'G.a', from: 'n1/c', incarnation: 7, term: 3, to: '', body: data, ...over });

t.test('frames recognised by their prefix: exactly our own data broadcasts', async (t) => {
  const prefix = framePrefix('G.a', 'n1/c', 7);
  for (const term of [0, 1, 127, 128, 2 ** 40]) t.ok(isDataBroadcastWithPrefix(encodeEnvelope(env({ term })), prefix), `data, term ${term}`);
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ incarnation: 8 })), prefix), 'another incarnation');
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ incarnation: 0 })), prefix), 'incarnation 0');
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ from: 'n1/d' })), prefix), 'another member');
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ from: 'n1/cc' })), prefix), 'a member id our id is a prefix of');
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ group: 'G.b' })), prefix), 'another group');
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ to: 'n2/c' })), prefix), 'directed');
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ body: { type: 'leave' } })), prefix), 'a leave');
  const hb: Body = { type: 'memberHeartbeat', timers: { heartbeat: 1000, electionMin: 1500, electionMax: 2000, peerTimeout: 3000, consensusTimeout: 1500 }, minSize: 2, sentAt: 1, leader: '', endpoint: 'tcp://127.0.0.1:1' };
  t.notOk(isDataBroadcastWithPrefix(encodeEnvelope(env({ body: hb })), prefix), 'a heartbeat (it may reveal a node-id clash)');
  t.notOk(isDataBroadcastWithPrefix(prefix, prefix), 'the prefix alone');
  const zero = framePrefix('G.a', 'n1/c', 0);
  t.ok(isDataBroadcastWithPrefix(encodeEnvelope(env({ incarnation: 0 })), zero), 'incarnation 0 has its own prefix');
});

t.test('an agent skips its sole member\'s echoes, still delivers each own message once', async (t) => {
  const agent = new Agent({ node: 'echo1', probeMs: 0 });
  t.teardown(() => agent.stop());
  await agent.start();
  const g = agent.join('c', 'G', 'a', { minSize: 1, timers: { heartbeat: 100, electionMin: 200, electionMax: 300, peerTimeout: 600 } });
  let got = 0;
  g.on('message', () => got++);
  await new Promise((r) => setTimeout(r, 400)); // subscribed to its own bus
  for (let i = 0; i < 20; i++) g.send(new Uint8Array([0xc1, i]));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(got, 20, 'each own message delivered once (by the core, not the echo)');
  t.ok((agent.status().ownEchoesSkipped ?? 0) >= 20, `echoes skipped: ${agent.status().ownEchoesSkipped}`);
  t.equal(agent.status().drops.decode, 0);
});

t.test('two members of one group in one agent still hear each other', async (t) => {
  const agent = new Agent({ node: 'echo2', probeMs: 0 });
  t.teardown(() => agent.stop());
  await agent.start();
  const timers = { heartbeat: 100, electionMin: 200, electionMax: 300, peerTimeout: 600 };
  const a = agent.join('a', 'G', 'b', { minSize: 1, timers });
  const b = agent.join('b', 'G', 'b', { minSize: 1, timers });
  let atB = 0;
  b.on('message', (m) => { if (m.from === a.memberId()) atB++; });
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 5; i++) a.send(new Uint8Array([0xc1, i]));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(atB, 5);
  t.equal(agent.status().ownEchoesSkipped, 0, 'no shortcut with two members of the group here');
});
