/**
 * Flood (RIAPS bug B19): a raw publisher that every agent has as a static peer floods valid
 * group data claiming to be a member. Per-peer receive limits drop the excess before it
 * reaches the member, so heartbeats keep the group and leader, /status stays responsive,
 * and no backlog is still being delivered after the flood ends. Bounds are loose (the
 * machine is shared); the figures are printed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import * as zmq from 'zeromq';
import { PROTOCOL_VERSION, type Envelope } from '../../agent/core/messages.js';
import { encodeObject } from '../../agent/api/objects.js';
import { encodeEnvelope } from '../../proto/codec.js';
import { freePort, startCluster } from './agent-cluster.js';

const G = 'G.a';
const HOST = '127.0.0.1';

t.test('a flood of valid group data neither starves heartbeats nor leaves a backlog', async (t) => {
  const pubPort = await freePort();
  const pub = new zmq.Publisher({ linger: 0, sendTimeout: 0, sendHighWaterMark: 100_000 });
  t.teardown(() => pub.close());
  await pub.bind(`tcp://${HOST}:${pubPort}`);
  const c = await startCluster(t, 3, { extraPeers: [`${HOST}:${pubPort}`] });
  const formed = await c.waitForCommonLeader(G, { members: 3, timeoutMs: 20_000 });
  const victim = [0, 1, 2].find((i) => c.memberId(i) !== formed.leader)!;
  // Not a running member's id: frames claiming one would be a node-id clash for its agent
  // (which every agent receives here), a different defence than the one measured.
  const claimed = 'n9/agent';
  const env: Envelope = { version: PROTOCOL_VERSION, group: G, from: claimed, incarnation: 1, term: formed.term, to: '', body: { type: 'data', channel: 'group', payload: encodeObject({ flood: 'x'.repeat(64) }), sentAt: Date.now() } };
  const frame = Buffer.from(encodeEnvelope(env));

  const before = await c.status(victim);
  const latencies: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t0 = performance.now();
      await c.status(victim).catch(() => {});
      latencies.push(performance.now() - t0);
      await sleep(20);
    }
  })();
  let sent = 0;
  const floodMs = 4000;
  const start = performance.now();
  while (performance.now() - start < floodMs) {
    for (let k = 0; k < 500; k++) {
      try {
        pub.send([G, frame]).catch(() => {});
        sent++;
      } catch {
        // EAGAIN: the high-water mark; keep going
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  const rate = Math.round(sent / (floodMs / 1000));
  const atEnd = await c.status(victim);
  // The backlog: messages still arriving after the flood stopped.
  let last = atEnd.transport.busIn;
  let drainedMs = 0;
  for (let k = 0; k < 50; k++) {
    await sleep(200);
    const s = await c.status(victim);
    if (s.transport.busIn - last < 100) break;
    last = s.transport.busIn;
    drainedMs += 200;
  }
  polling = false;
  await poller;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
  const after = await c.waitForCommonLeader(G, { members: 3, timeoutMs: 10_000 });
  const s = await c.status(victim);
  t.comment(`flood: ${sent} frames in ${floodMs} ms (${rate}/s offered); victim received ${s.transport.busIn - before.transport.busIn}, dropped over the limit ${s.drops.floodData - before.drops.floodData} data + ${s.drops.floodControl - before.drops.floodControl} control; backlog drained ${drainedMs} ms after the flood; /status p99 ${p99.toFixed(0)} ms over ${latencies.length} polls`);
  t.equal(after.leader, formed.leader, 'the leader is unchanged');
  t.equal(after.term, formed.term, 'no election');
  t.ok(s.drops.floodData > before.drops.floodData, 'excess data counted as drops.floodData');
  t.equal(s.drops.floodControl, 0, 'no control frame was dropped');
  t.ok(drainedMs <= 3000, `no long backlog (drained within ${drainedMs} ms; RIAPS-like behaviour took 7 s)`);
});

t.test('floodLimits from the config file are the limits in force (status shows them; a lower burst drops more)', async (t) => {
  const pubPort = await freePort();
  const pub = new zmq.Publisher({ linger: 0, sendTimeout: 0, sendHighWaterMark: 100_000 });
  t.teardown(() => pub.close());
  await pub.bind(`tcp://${HOST}:${pubPort}`);
  const strict = { dataPerSecond: 20, dataBurst: 50 };
  const c = await startCluster(t, [{ config: { floodLimits: strict } }, {}], { extraPeers: [`${HOST}:${pubPort}`] });
  const formed = await c.waitForCommonLeader(G, { members: 2, timeoutMs: 20_000 });
  const [s0, s1] = await Promise.all([c.status(0), c.status(1)]);
  t.same(s0.floodLimits, { dataPerSecond: 20, dataBurst: 50, controlPerSecond: 1000, controlBurst: 2000 }, 'the configured limits, over the defaults');
  t.same(s1.floodLimits, { dataPerSecond: 500, dataBurst: 1000, controlPerSecond: 1000, controlBurst: 2000 }, 'the defaults');
  const env: Envelope = { version: PROTOCOL_VERSION, group: G, from: 'n9/agent', incarnation: 1, term: formed.term, to: '', body: { type: 'data', channel: 'group', payload: encodeObject({ n: 1 }), sentAt: Date.now() } };
  const frame = Buffer.from(encodeEnvelope(env));
  // 300 frames at once: within the default burst (1000), far over the strict one (50).
  for (let k = 0; k < 300; k++) pub.send([G, frame]).catch(() => {});
  let a = s0;
  let b = s1;
  for (let k = 0; k < 50 && a.transport.busIn - s0.transport.busIn + a.drops.floodData < 300; k++) {
    await sleep(100);
    [a, b] = await Promise.all([c.status(0), c.status(1)]);
  }
  const dropped0 = a.drops.floodData - s0.drops.floodData;
  t.ok(dropped0 >= 200, `the strict agent dropped most of the burst (${dropped0} of 300)`);
  t.equal(b.drops.floodData - s1.drops.floodData, 0, 'the default agent dropped none of it');
});
