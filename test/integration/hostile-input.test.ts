/**
 * No input on any socket may end an agent, and no input may flood its log.
 * Three real `cohort agent` processes (timer preset `lan`); a raw ZeroMQ DEALER
 * writes hostile frames straight to their direct (ROUTER) ports, and a raw PUB that
 * every agent has as a static peer writes them onto the group bus.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import protobuf from 'protobufjs/light.js';
import t from 'tap';
import * as zmq from 'zeromq';
import { PROTOCOL_VERSION } from '../../agent/core/messages.js';
import { COHORT_SCHEMA } from '../../proto/schema.js';
import { freePort, startCluster, waitFor } from './agent-cluster.js';

const G = 'G.a';
const HOST = '127.0.0.1';
const EnvelopeType = protobuf.Root.fromJSON(COHORT_SCHEMA).lookupType('cohort.Envelope');
const TERM_MAX = 2 ** 53 - 1;

/** Written with the protobufjs schema directly: encodeEnvelope refuses such values (or will). */
function wire(fields: Record<string, unknown>): Buffer {
  return Buffer.from(EnvelopeType.encode(EnvelopeType.fromObject({ version: PROTOCOL_VERSION, group: G, incarnation: 1, ...fields })).finish());
}

/** A HeartbeatAck with the largest safe term: whoever adopts it cannot encode term + 1. */
const poisonAck = (to: string, from = 'evil/agent') => wire({ from, to, term: TERM_MAX, heartbeatAck: { configTerm: 0, configVersion: 0, accepted: true } });
/** Field 2 (group) claiming 127 bytes with at most 63 left: protobufjs always refuses it. */
const garbage = () => Buffer.concat([Buffer.from([0x12, 0x7f]), randomBytes(Math.floor(Math.random() * 64))]);
const BIG = Buffer.alloc(2 * 1024 * 1024, 0x41); // over maxMessageBytes (1 MiB), under libzmq's guard (4 MiB)

function hostileFrames(to: string): Buffer[][] {
  return [
    [poisonAck(to)],
    [poisonAck('')],
    [wire({ from: 'evil/agent', to, term: TERM_MAX, incarnation: TERM_MAX, voteReply: { preVote: false, electionTerm: TERM_MAX, granted: true } })],
    [wire({ from: 'evil/agent', to: '', term: TERM_MAX, memberHeartbeat: { endpoint: 'tcp://127.0.0.1:1', leader: '', sentAt: 0, minSize: 2, timers: { heartbeat: 200, electionMin: 500, electionMax: 800, peerTimeout: 1200, consensusTimeout: 1000 } } })],
    [garbage()],
    [Buffer.alloc(0)],
    [BIG],
    [Buffer.from('two'), Buffer.from('frames')],
  ];
}

t.test('hostile frames on every direct port and the bus end no agent; the group keeps one leader', async (t) => {
  const pubPort = await freePort();
  const pub = new zmq.Publisher({ linger: 0, sendTimeout: 0 });
  t.teardown(() => pub.close());
  await pub.bind(`tcp://${HOST}:${pubPort}`);
  const c = await startCluster(t, 3, { defaults: { autoVote: 'yes' }, extraPeers: [`${HOST}:${pubPort}`] });
  const formed = await c.waitForCommonLeader(G, { members: 3, timeoutMs: 15_000 });
  t.comment(`formed: leader ${formed.leader}, term ${formed.term}`);

  const dealers = c.agents.map((a) => {
    const d = new zmq.Dealer({ linger: 0, sendTimeout: 1000 });
    d.connect(`tcp://${HOST}:${a.directPort}`);
    return d;
  });
  t.teardown(() => dealers.forEach((d) => d.close()));

  // ~3 s of hostile traffic (the old agents all died within ~3 s of the first poison ack).
  let sent = 0;
  const until = performance.now() + 3000;
  while (performance.now() < until) {
    for (const [i, d] of dealers.entries()) {
      for (const msg of hostileFrames(c.memberId(i))) {
        await d.send(msg).catch(() => {});
        sent++;
      }
    }
    for (const msg of hostileFrames('')) {
      await pub.send([G, ...msg]).catch(() => {});
      sent++;
    }
    await pub.send([G]).catch(() => {}); // a bus message without a frame
    await sleep(20);
  }
  t.comment(`sent ${sent} hostile messages`);

  await sleep(10_000);
  t.same(c.live(), [0, 1, 2], 'all three agents are still running');
  for (const i of [0, 1, 2]) if (!c.agent(i).alive) t.comment(c.output(i));
  const after = await c.waitForCommonLeader(G, { members: 3, timeoutMs: 10_000 });
  t.comment(`after: leader ${after.leader}, term ${after.term}`);
  t.ok(after.term < 2 ** 48, `the poison term was not adopted (term ${after.term})`);
  for (const s of after.statuses) {
    const g = s.groups.find((x) => x.group === G)!;
    t.notOk(g.members.includes('evil/agent'), `${s.node}: the forger is not a member`);
    t.ok(s.drops.decode > 0, `${s.node}: undecodable frames counted (${s.drops.decode})`);
    t.ok(s.transport.dropsMalformed > 0, `${s.node}: oversized / multi-frame messages counted (${s.transport.dropsMalformed})`);
  }
});

t.test('50,000 bad frames: exact counts, a few dozen log lines, status still served', async (t) => {
  const c = await startCluster(t, 2, { defaults: { autoVote: 'yes' } });
  await c.waitForCommonLeader(G, { members: 2, timeoutMs: 15_000 });
  let dropLines = 0;
  let lines = 0;
  c.onLine(0, (line) => {
    lines++;
    if (/drop|decode/i.test(line)) dropLines++;
  });
  const before = await c.status(0);
  const rssBefore = c.rss(0);
  const d = new zmq.Dealer({ linger: 0 });
  t.teardown(() => d.close());
  d.connect(`tcp://${HOST}:${c.agent(0).directPort}`);
  const N = 50_000;
  const started = performance.now();
  for (let k = 0; k < N; k++) await d.send(garbage());
  const sendMs = Math.round(performance.now() - started);
  const s = await waitFor(
    async () => {
      const st = await c.status(0);
      return st.drops.decode - before.drops.decode + (st.transport.dropsMalformed - before.transport.dropsMalformed) >= N ? st : null;
    },
    30_000,
    'every bad frame to be counted',
  );
  const rssAfter = c.rss(0);
  t.comment(`sent ${N} in ${sendMs} ms; log lines ${lines} (drop lines ${dropLines}); RSS ${rssBefore} -> ${rssAfter}`);
  t.equal(s.drops.decode - before.drops.decode, N, 'drops.decode counts every frame');
  t.ok(s.transport.directIn - before.transport.directIn >= N, 'the transport delivered every frame (group traffic comes on top)');
  t.ok(dropLines <= 30, `at most a few dozen drop lines (${dropLines})`);
  const metrics = (await c.getReply(0, '/metrics')).body;
  const m = /^cohort_decode_drops_total\{[^}]*\} (\d+)/m.exec(metrics);
  t.ok(m && Number(m[1]) >= N, `metrics count the drops (${m?.[1]})`);
  t.ok(c.agent(0).alive, 'still running');
  t.equal((await c.status(0)).node, c.agent(0).node, 'still serves status');
  await c.waitForCommonLeader(G, { members: 2, timeoutMs: 10_000 });
});
