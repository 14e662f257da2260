/**
 * The runtime side of the transport: the ZMTP heartbeat follows the group timers, and
 * nothing on the send or receive path throws out of the agent (in-process Agent on loopback).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import { PROTOCOL_VERSION, type Envelope } from '../../agent/core/messages.js';
import { Agent, defaultProbeMs } from '../../agent/runtime/agent.js';
import { heartbeatForTimers, Transport, TransportError } from '../../agent/transport/transport.js';
import { encodeEnvelope } from '../../proto/codec.js';

const TIMERS = { ...TIMER_PRESETS.lan };
type Internals = {
  route(env: Envelope): void;
  onFrame(frame: Uint8Array, topic: string | null): void;
  deliverLocal(env: Envelope, via: string): void;
  hosted: Map<string, { driver: { core: { receive: (...a: unknown[]) => void } } }>;
};

t.test('heartbeatForTimers: a dead link is noticed before peerTimeout, idle pings follow the heartbeat', async (t) => {
  t.same(heartbeatForTimers([TIMER_PRESETS.lan]), { intervalMs: 200, timeoutMs: 1000 });
  t.same(heartbeatForTimers([TIMER_PRESETS.riaps]), { intervalMs: 1000, timeoutMs: 2000 });
  t.same(heartbeatForTimers([TIMER_PRESETS.slow]), { intervalMs: 2500, timeoutMs: 5000 });
  t.same(heartbeatForTimers([TIMER_PRESETS.slow, TIMER_PRESETS.lan, TIMER_PRESETS.riaps]), { intervalMs: 200, timeoutMs: 1000 }, 'the fastest group wins');
  t.equal(heartbeatForTimers([]), null);
  for (const timers of [...Object.values(TIMER_PRESETS), { heartbeat: 1000, peerTimeout: 1003 }, { heartbeat: 1, peerTimeout: 4 }]) {
    const hb = heartbeatForTimers([timers])!;
    t.ok(hb.intervalMs + hb.timeoutMs <= timers.peerTimeout, `${JSON.stringify(timers)} -> ${JSON.stringify(hb)}: detection by peerTimeout`);
    t.ok(hb.timeoutMs > hb.intervalMs, 'a single late PONG does not cut the link');
  }
});

t.test('Transport.setHeartbeat sets the sockets and the DEALERs opened later', async (t) => {
  const tr = new Transport({ listenHost: '127.0.0.1', identity: 'x' });
  t.teardown(() => tr.close());
  const sockets = tr as unknown as Record<'pub' | 'sub' | 'router', { heartbeatInterval: number; heartbeatTimeout: number; heartbeatTimeToLive: number }> & {
    dealers: { nextSocketOptions(): { heartbeatInterval: number; heartbeatTimeout: number } };
  };
  t.same(tr.heartbeat(), { intervalMs: 300, timeoutMs: 1000 }, 'the default until told');
  t.equal(sockets.sub.heartbeatInterval, 300);
  tr.setHeartbeat({ intervalMs: 200, timeoutMs: 600 });
  t.same(tr.heartbeat(), { intervalMs: 200, timeoutMs: 600 });
  for (const name of ['pub', 'sub', 'router'] as const) {
    // Only the connecting side pings (see bindSide); the binding sockets time out on the TTL.
    t.equal(sockets[name].heartbeatInterval, name === 'sub' ? 200 : 0, `${name} interval`);
    t.equal(sockets[name].heartbeatTimeout, 600, `${name} timeout`);
    t.equal(sockets[name].heartbeatTimeToLive, 600, `${name} TTL`);
  }
  t.match(sockets.dealers.nextSocketOptions(), { heartbeatInterval: 200, heartbeatTimeout: 600 }, 'new DEALERs get it');
  t.throws(() => tr.setHeartbeat({ intervalMs: -1, timeoutMs: 600 }), TransportError);
  t.throws(() => tr.setHeartbeat({ intervalMs: 100, timeoutMs: 7_000_000 }), TransportError);
});

t.test('an agent gives its transport the heartbeat of the groups it hosts', async (t) => {
  const a = new Agent({ node: 'hb', probeMs: 0 });
  t.teardown(() => a.stop());
  await a.start();
  t.same(a.status().transportHeartbeat, { intervalMs: 300, timeoutMs: 1000 }, 'no group yet: the transport default');
  a.join('c', 'G', 'slow', { timers: TIMER_PRESETS.slow });
  t.same(a.status().transportHeartbeat, { intervalMs: 2500, timeoutMs: 5000 });
  a.join('c', 'G', 'lan', { timers: TIMERS });
  t.same(a.status().transportHeartbeat, { intervalMs: 200, timeoutMs: 1000 }, 'the fastest group hosted');

  const fixed = new Agent({ node: 'hbfixed', probeMs: 0, transport: { heartbeat: { intervalMs: 50, timeoutMs: 500 } } });
  t.teardown(() => fixed.stop());
  await fixed.start();
  fixed.join('c', 'G', 'lan', { timers: TIMERS });
  t.same(fixed.status().transportHeartbeat, { intervalMs: 50, timeoutMs: 500 }, 'an explicit transport heartbeat is kept');
});

t.test('an envelope that cannot be encoded is counted, never thrown (publish and directed)', async (t) => {
  const a = new Agent({ node: 'enc', probeMs: 0 });
  t.teardown(() => a.stop());
  await a.start();
  a.join('c', 'G', 'a', { timers: TIMERS, minSize: 1 });
  await sleep(50);
  const inner = a as unknown as Internals;
  const peer: Envelope = {
    version: PROTOCOL_VERSION, group: 'G.a', from: 'p/c', incarnation: 1, term: 0, to: '',
    body: { type: 'memberHeartbeat', timers: TIMERS, minSize: 1, sentAt: Date.now(), leader: '', endpoint: 'tcp://127.0.0.1:9' },
  };
  inner.deliverLocal(peer, 'bus'); // now the agent knows an endpoint for p/c
  const bad = (to: string): Envelope => ({ version: PROTOCOL_VERSION, group: 'G.a', from: 'enc/c', incarnation: 1, term: 2 ** 53, to, body: { type: 'heartbeatAck', configTerm: 0, configVersion: 0, accepted: true } });
  t.doesNotThrow(() => inner.route(bad('')), 'publish');
  t.doesNotThrow(() => inner.route(bad('p/c')), 'directed');
  t.equal(a.status().drops.encode, 2);
  t.equal(a.status().drops.noRoute, 0, 'the directed one had a route: it failed at encoding');

  // The original crash: a member adopted term 2^53-1 (here bypassing the wire bound) and its
  // next campaign (term + 1) could not be encoded. Now the core refuses terms above its ceiling.
  inner.deliverLocal({ ...peer, term: 2 ** 53 - 1, to: 'enc/c', body: { type: 'heartbeatAck', configTerm: 0, configVersion: 0, accepted: true } }, 'direct');
  await sleep(TIMERS.electionMax * 3);
  const g = a.status().groups[0];
  t.ok((g?.counters.absurd ?? 0) >= 1, 'the absurd term was dropped by the core');
  t.ok((g?.term ?? Infinity) < 2 ** 48, `the member's term stays encodable (${g?.term})`);
  t.equal(a.status().drops.encode, 2, 'no later send failed to encode');
});

t.test('a frame whose handling throws is skipped and counted as drops.internal', async (t) => {
  const a = new Agent({ node: 'int', probeMs: 0 });
  t.teardown(() => a.stop());
  await a.start();
  a.join('c', 'G', 'a', { timers: TIMERS });
  await sleep(50);
  const inner = a as unknown as Internals;
  const h = [...inner.hosted.values()][0]!;
  h.driver.core.receive = () => {
    throw new Error('boom');
  };
  const frame = encodeEnvelope({
    version: PROTOCOL_VERSION, group: 'G.a', from: 'p/c', incarnation: 1, term: 0, to: '',
    body: { type: 'memberHeartbeat', timers: TIMERS, minSize: 2, sentAt: Date.now(), leader: '', endpoint: '' },
  });
  t.doesNotThrow(() => inner.onFrame(frame, 'G.a'));
  t.doesNotThrow(() => inner.onFrame(frame, null));
  t.equal(a.status().drops.internal, 2);
  // A term over 2^48 cannot even be written by a codec that follows the wire's bounds (proto/codec.ts).
  t.throws(() => encodeEnvelope({ version: PROTOCOL_VERSION, group: 'G.a', from: 'p/c', incarnation: 1, term: 2 ** 48 + 1, to: '', body: { type: 'leave' } as Envelope['body'] }), /term must be a whole number in 0\.\.281474976710656/);
  t.equal(defaultProbeMs(TIMERS), 400);
});
