import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../../agent/free-port.js';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import * as zmq from 'zeromq';
import { Transport, TransportError, wireFrameLimit, type TransportOptions } from '../../agent/transport/transport.js';
import { until as waitUntil } from '../support/wait.js';

const HOST = '127.0.0.1';
const DEADLINE_MS = 5000;

interface Agent {
  tr: Transport;
  bus: string;
  direct: string;
  busIn: Array<[string, string]>;
  directIn: string[];
}

/** A started Transport on loopback that records what it receives; closed at test end. */
async function agent(t: Tap, identity: string, extra: Partial<TransportOptions> = {}): Promise<Agent> {
  const tr = new Transport({ listenHost: HOST, identity, ...extra });
  t.teardown(() => tr.close());
  const endpoints = await tr.start();
  const a: Agent = { tr, ...endpoints, busIn: [], directIn: [] };
  tr.onBus((topic, frame) => a.busIn.push([topic, Buffer.from(frame).toString()]));
  tr.onDirect((frame) => a.directIn.push(Buffer.from(frame).toString()));
  return a;
}
/** What agent() needs from a tap test. */
type Tap = { teardown(fn: () => unknown): void };

/**
 * Polls `done` until it holds, calling `poke` between polls (used to re-publish while
 * PUB/SUB links come up: messages published before a subscription reaches the PUB are
 * lost, the "slow joiner"). Deadline is loose on purpose: it is a liveness bound.
 */
const until = async (what: string, done: () => boolean, poke?: () => void): Promise<void> => void (await waitUntil(what, done, DEADLINE_MS, { intervalMs: 20, ...(poke ? { poke } : {}) }));

const bytes = (s: string): Buffer => Buffer.from(s);
const topics = (a: Agent): string[] => a.busIn.map(([topic]) => topic);

/** A port nobody listens on: below the ephemeral range, so no other socket is handed it meanwhile. */
const closedPort = (): Promise<number> => freePort(HOST);

t.test('start binds both sockets on free ports and reports real endpoints', async (t) => {
  const a = await agent(t, 'a');
  t.match(a.bus, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.match(a.direct, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.not(a.bus, a.direct);
  t.not(a.bus.endsWith(':0'), true);
  await t.rejects(a.tr.start(), TransportError, 'start twice');
});

t.test('bus: published frames reach subscribed peers only, by exact topic', async (t) => {
  const a = await agent(t, 'a');
  const b = await agent(t, 'b');
  const c = await agent(t, 'c');
  b.tr.subscribe('g1');
  c.tr.subscribe('g2');
  b.tr.connectBus(a.bus);
  b.tr.connectBus(a.bus); // idempotent
  c.tr.connectBus(a.bus);
  await until('b to hear g1', () => b.busIn.length > 0, () => a.tr.publish('g1', bytes('hello')));
  await until('c to hear g2', () => c.busIn.length > 0, () => a.tr.publish('g2', bytes('hello')));
  t.same(new Set(topics(b)), new Set(['g1']));
  t.same(new Set(topics(c)), new Set(['g2']));
  t.same(b.busIn[0], ['g1', 'hello']);

  // libzmq filters by prefix: "g10" passes b's "g1" filter; the transport narrows it.
  b.busIn.length = 0;
  a.tr.publish('g10', bytes('not for b'));
  a.tr.publish('g2', bytes('not for b'));
  a.tr.publish('g1', bytes('marker'));
  await until('marker', () => b.busIn.length > 0);
  t.same(b.busIn, [['g1', 'marker']], 'one PUB-SUB link is FIFO: nothing else came before the marker');
  t.ok(b.tr.stats().busFiltered >= 1, 'g10 was filtered by the transport');

  // After unsubscribe nothing more is delivered, even what was already in flight.
  b.tr.unsubscribe('g1');
  b.tr.unsubscribe('g1'); // idempotent
  b.tr.subscribe('g3');
  b.busIn.length = 0;
  await until('b to hear g3', () => b.busIn.length > 0, () => {
    a.tr.publish('g1', bytes('after unsubscribe'));
    a.tr.publish('g3', bytes('marker'));
  });
  t.same(new Set(topics(b)), new Set(['g3']));

  const sb = b.tr.stats();
  t.ok(sb.busIn >= 3);
  t.ok(a.tr.stats().busOut >= 5);
  t.throws(() => b.tr.subscribe(''), TransportError, 'an empty topic would subscribe to everything');
  t.throws(() => a.tr.publish('', bytes('x')), TransportError);
});

t.test('bus: an agent subscribed to its own PUB hears itself', async (t) => {
  const a = await agent(t, 'a');
  a.tr.subscribe('self');
  a.tr.connectBus(a.bus);
  await until('self-delivery', () => a.busIn.length > 0, () => a.tr.publish('self', bytes('me')));
  t.same(a.busIn[0], ['self', 'me']);
});

t.test('bus: disconnectBus stops delivery from that peer', async (t) => {
  const a = await agent(t, 'a');
  const b = await agent(t, 'b');
  b.tr.subscribe('g');
  b.tr.connectBus(a.bus);
  await until('link', () => b.busIn.length > 0, () => a.tr.publish('g', bytes('x')));
  b.tr.disconnectBus(a.bus);
  b.tr.disconnectBus(a.bus); // idempotent
  b.tr.disconnectBus('tcp://127.0.0.1:1'); // never connected: no-op
  await sleep(100);
  b.busIn.length = 0;
  for (let i = 0; i < 10; i++) a.tr.publish('g', bytes('x'));
  await sleep(200);
  t.same(b.busIn, []);
  t.throws(() => b.tr.connectBus('not-an-endpoint'), { name: 'TransportError', message: /not-an-endpoint/ });
});

t.test('direct: sendDirect reaches the peer, both ways', async (t) => {
  const a = await agent(t, 'a');
  const b = await agent(t, 'b');
  // A DEALER queues while it connects, so one send suffices; no retry needed.
  a.tr.sendDirect(b.direct, bytes('to b'));
  await until('b to receive', () => b.directIn.length > 0);
  b.tr.sendDirect(a.direct, bytes('to a'));
  await until('a to receive', () => a.directIn.length > 0);
  t.same(b.directIn, ['to b']);
  t.same(a.directIn, ['to a']);
  t.equal(a.tr.stats().directOut, 1);
  t.equal(b.tr.stats().directIn, 1);
  t.equal(a.tr.stats().directLinks, 1);
  // Two agents with the same node name both get through (unique DEALER routing ids).
  const twin = await agent(t, 'a');
  twin.tr.sendDirect(b.direct, bytes('from twin'));
  a.tr.sendDirect(b.direct, bytes('from a again'));
  await until('both', () => b.directIn.length === 3);
  t.same(new Set(b.directIn), new Set(['to b', 'from twin', 'from a again']));
});

t.test('malformed messages from raw zeromq sockets are dropped and counted; loops survive', async (t) => {
  const b = await agent(t, 'b');
  // Directed: a ROUTER message must be [routingId, frame].
  const dealer = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
  t.teardown(() => dealer.close());
  dealer.connect(b.direct);
  await dealer.send([bytes('two'), bytes('frames')]);
  await dealer.send(bytes('fine'));
  await until('good direct message after a bad one', () => b.directIn.length > 0);
  t.same(b.directIn, ['fine']);
  t.equal(b.tr.stats().dropsMalformed, 1);

  // Bus: a message must be [topic, frame].
  const pub = new zmq.Publisher({ linger: 0, sendTimeout: 0 });
  t.teardown(() => pub.close());
  await pub.bind(`tcp://${HOST}:0`);
  b.tr.subscribe('g');
  b.tr.connectBus(pub.lastEndpoint ?? '');
  await until('malformed bus message', () => b.tr.stats().dropsMalformed > 1, () => void pub.send(['g', 'a', 'b']));
  await pub.send(['g']);
  await until('good bus message after bad ones', () => b.busIn.length > 0, () => void pub.send(['g', 'ok']));
  t.same(b.busIn[0], ['g', 'ok']);
  t.ok(b.tr.stats().dropsMalformed >= 3);
});

t.test('oversized frames: refused on send, dropped and counted on receive, link kept', async (t) => {
  const max = 1024;
  const a = await agent(t, 'a', { maxMessageBytes: max });
  const b = await agent(t, 'b', { maxMessageBytes: max });
  t.doesNotThrow(() => {
    a.tr.publish('g', Buffer.alloc(max + 1));
    a.tr.sendDirect(b.direct, Buffer.alloc(max + 1));
  });
  a.tr.sendDirect(b.direct, Buffer.alloc(max));
  await until('exact-max frame', () => b.directIn.length === 1);
  t.equal(a.tr.stats().dropsSend, 2);

  // A foreign PUB that ignores our limit (or a peer configured with a larger one).
  const pub = new zmq.Publisher({ linger: 0, sendTimeout: 0 });
  t.teardown(() => pub.close());
  await pub.bind(`tcp://${HOST}:0`);
  const foreign = pub.lastEndpoint ?? '';
  b.tr.subscribe('g');
  b.tr.connectBus(foreign);
  await until('link', () => b.busIn.length > 0, () => void pub.send(['g', 'before']));
  await sleep(50);
  const dropsBefore = b.tr.stats().dropsMalformed;
  b.busIn.length = 0;
  await pub.send(['g', Buffer.alloc(2 * max)]);
  await pub.send(['g', 'after']);
  await until('the frame after the oversized one', () => b.busIn.length > 0);
  t.same(b.busIn, [['g', 'after']], 'same link, no re-dial: the oversized frame was dropped by us');
  t.equal(b.tr.stats().dropsMalformed, dropsBefore + 1);

  // Over libzmq's guard the link is cut for good (libzmq 4.3.5 never re-dials it);
  // disconnectBus + connectBus restores it.
  await pub.send(['g', Buffer.alloc(wireFrameLimit(max) + 1)]);
  b.busIn.length = 0;
  for (let i = 0; i < 10; i++) {
    await pub.send(['g', 'lost']);
    await sleep(30);
  }
  t.same(b.busIn, [], 'nothing arrives on a cut link');
  b.tr.disconnectBus(foreign);
  b.tr.connectBus(foreign);
  await until('delivery after re-dial', () => b.busIn.length > 0, () => void pub.send(['g', 'back']));
  t.same(b.busIn[0], ['g', 'back']);
});

t.test('sending to an endpoint nobody listens on neither throws nor blocks', async (t) => {
  const hwm = 100;
  const a = await agent(t, 'a', { sendHighWaterMark: hwm });
  const nowhere = `tcp://${HOST}:${await closedPort()}`;
  const n = 2000;
  const start = performance.now();
  t.doesNotThrow(() => {
    for (let i = 0; i < n; i++) a.tr.sendDirect(nowhere, bytes(`m${i}`));
  });
  const elapsed = performance.now() - start;
  t.ok(elapsed < 1000, `${n} sends took ${elapsed.toFixed(1)} ms`);
  await nextTurn();
  const s = a.tr.stats();
  t.equal(s.directOut + s.dropsSend, n, 'every send is accounted for');
  t.ok(s.directOut <= hwm, `queued ${s.directOut} (HWM ${hwm}) while connecting`);
  t.ok(s.dropsSend >= n - hwm, `dropped ${s.dropsSend}`);
  t.equal(s.directLinks, 1);
  a.tr.forgetDirect(nowhere);
  t.equal(a.tr.stats().directLinks, 0);

  t.doesNotThrow(() => a.tr.sendDirect('not an endpoint', bytes('x')));
  t.equal(a.tr.stats().dropsSend, s.dropsSend + 1);
  t.equal(a.tr.stats().directLinks, 0);
});

t.test('idle direct links are closed and reopened on demand', async (t) => {
  const a = await agent(t, 'a', { directIdleMs: 100 });
  const b = await agent(t, 'b');
  a.tr.sendDirect(b.direct, bytes('1'));
  await until('first', () => b.directIn.length === 1);
  t.equal(a.tr.stats().directLinks, 1);
  await until('idle link closed', () => a.tr.stats().directLinks === 0);
  a.tr.sendDirect(b.direct, bytes('2'));
  await until('second', () => b.directIn.length === 2);
  t.same(b.directIn, ['1', '2']);
});

t.test('2,000 back-to-back publishes and direct sends neither throw "busy" nor block', async (t) => {
  // HWM above the burst: then nothing may be dropped however slow libzmq's I/O thread is.
  const a = await agent(t, 'a', { sendHighWaterMark: 5000 });
  const b = await agent(t, 'b');
  b.tr.subscribe('flood');
  b.tr.connectBus(a.bus);
  await until('link', () => b.busIn.length > 0, () => a.tr.publish('flood', bytes('warm-up')));
  a.tr.sendDirect(b.direct, bytes('warm-up'));
  await until('direct link', () => b.directIn.length > 0);
  await sleep(50); // let straggling warm-up publishes land
  b.busIn.length = 0;
  b.directIn.length = 0;
  const before = a.tr.stats();
  const n = 2000;
  t.doesNotThrow(() => {
    for (let i = 0; i < n; i++) a.tr.publish('flood', bytes(`m${i}`));
    for (let i = 0; i < n; i++) a.tr.sendDirect(b.direct, bytes(`d${i}`));
  });
  await nextTurn();
  const after = a.tr.stats();
  t.equal(after.busOut - before.busOut, n);
  t.equal(after.directOut - before.directOut, n);
  t.equal(after.dropsSend, before.dropsSend);
  await until('all bus messages', () => b.busIn.length >= n);
  await until('all direct messages', () => b.directIn.length >= n);
  t.same(b.busIn.map(([, m]) => m), Array.from({ length: n }, (_, i) => `m${i}`), 'all, in order');
  t.same(b.directIn, Array.from({ length: n }, (_, i) => `d${i}`), 'all, in order');
});

t.test('a burst beyond the HWM to a live peer drops the excess, counted, in one piece', async (t) => {
  const hwm = 100;
  const a = await agent(t, 'a', { sendHighWaterMark: hwm });
  const b = await agent(t, 'b');
  a.tr.sendDirect(b.direct, bytes('warm-up'));
  await until('direct link', () => b.directIn.length > 0);
  b.directIn.length = 0;
  const n = 2000;
  for (let i = 0; i < n; i++) a.tr.sendDirect(b.direct, bytes(`d${i}`));
  await nextTurn();
  const s = a.tr.stats();
  t.equal(s.directOut - 1 + s.dropsSend, n, 'every send is accounted for');
  t.ok(s.dropsSend > 0, `${s.dropsSend} of ${n} dropped`);
  await until('the queued ones', () => b.directIn.length >= s.directOut - 1);
  await sleep(100);
  t.equal(b.directIn.length, s.directOut - 1, 'exactly the accepted ones arrive');
  t.equal(b.directIn[0], 'd0', 'the head of the burst is kept, the tail dropped');
});

t.test('a throwing handler does not stop the receive loops', async (t) => {
  const a = await agent(t, 'a');
  const b = await agent(t, 'b');
  let calls = 0;
  b.tr.onDirect(() => {
    calls++;
    throw new Error('handler bug');
  });
  a.tr.sendDirect(b.direct, bytes('1'));
  a.tr.sendDirect(b.direct, bytes('2'));
  await until('both delivered', () => calls === 2);
  t.equal(b.tr.stats().directIn, 2);
});

t.test('start fails cleanly when the port is taken', async (t) => {
  const a = await agent(t, 'a');
  const port = Number(a.bus.split(':').at(-1));
  const clash = new Transport({ listenHost: HOST, identity: 'clash', busPort: port });
  await t.rejects(clash.start(), { name: 'TransportError', message: new RegExp(`cannot bind tcp://127.0.0.1:${port}`) });
  await clash.close();
  t.throws(() => new Transport({ listenHost: HOST, identity: '' }), TransportError);
  t.throws(() => new Transport({ listenHost: HOST, identity: 'x', busPort: 70000 }), TransportError);
  t.throws(() => new Transport({ listenHost: HOST, identity: 'x', sendHighWaterMark: -1 }), TransportError);
  // libzmq would reject it inside a socket constructor, leaking a half-made socket that
  // keeps the process from exiting (this file would then time out): refused before that.
  t.throws(() => new Transport({ listenHost: HOST, identity: 'x', heartbeat: { intervalMs: 300, timeoutMs: 10_000_000 } }), {
    name: 'TransportError',
    message: /heartbeat.timeoutMs must be at most/,
  });
});

t.test('close is idempotent, ends the loops, and later sends are counted drops', async (t) => {
  const a = await agent(t, 'a');
  const b = await agent(t, 'b');
  a.tr.subscribe('g');
  a.tr.connectBus(a.bus);
  a.tr.sendDirect(b.direct, bytes('x'));
  const first = a.tr.close();
  t.equal(a.tr.close(), first, 'same promise');
  await first;
  await a.tr.close();
  const drops = a.tr.stats().dropsSend;
  t.doesNotThrow(() => {
    a.tr.publish('g', bytes('late'));
    a.tr.sendDirect(b.direct, bytes('late'));
    a.tr.connectBus(b.bus);
    a.tr.disconnectBus(a.bus);
    a.tr.subscribe('h');
    a.tr.unsubscribe('g');
    a.tr.forgetDirect(b.direct);
  });
  t.equal(a.tr.stats().dropsSend, drops + 2);
  t.equal(a.tr.stats().directLinks, 0);
  await t.rejects(a.tr.start(), TransportError);
  // A transport closed before it was ever started holds nothing either.
  await new Transport({ listenHost: HOST, identity: 'never' }).close();
});

t.test('a goodbye published or sent just before close still leaves (linger)', async (t) => {
  const a = await agent(t, 'a');
  const b = await agent(t, 'b');
  b.tr.subscribe('g');
  b.tr.connectBus(a.bus);
  await until('link', () => b.busIn.length > 0, () => a.tr.publish('g', bytes('hello')));
  a.tr.sendDirect(b.direct, bytes('hello'));
  await until('direct link', () => b.directIn.length > 0);
  a.tr.publish('g', bytes('bye'));
  a.tr.sendDirect(b.direct, bytes('bye'));
  await a.tr.close();
  await until('goodbyes', () => b.busIn.some(([, m]) => m === 'bye') && b.directIn.includes('bye'));
  t.pass('both arrived');
});

t.test('a process whose transports are closed exits by itself, promptly', async (t) => {
  // zeromq.js's pending receives keep the event loop alive without showing up in
  // process.getActiveResourcesInfo(), so the only honest check is a real exit. The child
  // leaves a bus link, a direct link and a DEALER with messages queued for a dead port.
  const transportModule = new URL('../../agent/transport/transport.ts', import.meta.url).href;
  const nowhere = `tcp://${HOST}:${await closedPort()}`;
  const script = `
    const { Transport } = await import(${JSON.stringify(transportModule)});
    const a = new Transport({ listenHost: '127.0.0.1', identity: 'a' });
    const b = new Transport({ listenHost: '127.0.0.1', identity: 'b' });
    const ea = await a.start(), eb = await b.start();
    let got = 0;
    b.onDirect(() => got++);
    b.subscribe('g');
    b.connectBus(ea.bus);
    a.sendDirect(eb.direct, new Uint8Array([1]));
    for (let i = 0; i < 10; i++) a.sendDirect(${JSON.stringify(nowhere)}, new Uint8Array([2]));
    while (got === 0) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([a.close(), b.close()]);
    console.log('closed');
  `;
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(killer);
  const elapsed = performance.now() - started;
  t.equal(signal, null, 'not killed: it exited by itself');
  t.equal(code, 0);
  t.match(out, /closed/);
  t.ok(elapsed < 5000, `child ran and exited in ${elapsed.toFixed(0)} ms`);
});
