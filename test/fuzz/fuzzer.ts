/**
 * Feeds a running group of `cohort agent` processes random, truncated and mutated frames on
 * one agent's bus and direct channel, with security off or on, and reports what the agent
 * made of them (drops per reason), whether it kept its group and leader, and its RSS.
 *
 * Corpus: envelopes captured from the group's real bus (a SUB, admitted in secure mode),
 * plus the golden envelopes. Mutations: random bytes, truncation, bit flips, byte
 * insertions/deletions, boundary bytes, splices, wrong frame counts. In secure mode the
 * fuzzer holds an allow-listed key ("fuzz"), so its frames get past the handshake and reach
 * the tag check, the identity check and the decoder; a share of direct frames carries a
 * valid tag so that mutated envelopes reach the decoder too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { DirectAuth } from '../../agent/security/direct-auth.js';
import { decodeEnvelope, encodeEnvelope } from '../../proto/codec.js';
import { GOLDEN_ENVELOPES } from '../golden/envelopes.js';
import { AgentCluster, freePort, type AgentStatus, type TeardownHost } from '../integration/agent-cluster.js';
import { secureFleet } from '../integration/secure-fleet.js';
import { Rng } from '../sim/random.js';

/** `int(n)`: 0..n-1 (n >= 1), over the simulator's seeded generator. */
class Random {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed, 'fuzz');
  }
  int(n: number): number {
    return n <= 1 ? 0 : this.rng.int(0, n - 1);
  }
}

const G = 'G.a';
const HOST = '127.0.0.1';

export interface FuzzOptions {
  secure: boolean;
  frames: number;
  seed?: number;
  /** Frames per second offered (paced; default 20 000). */
  rate?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  mode: 'plaintext' | 'curve';
  frames: { bus: number; direct: number };
  corpus: number;
  seconds: number;
  alive: boolean;
  before: { leader: string; term: number };
  /** Common leader of all three after the run (null if they did not agree within 15 s). */
  after: { leader: string; term: number } | null;
  /** The fuzzed agent's own view after the run: its member is still in the group, with a leader. */
  targetAfter: { leader: string | null; term: number; members: number } | null;
  rssBefore: number | null;
  rssAfter: number | null;
  drops: Record<string, number>;
}

function mutate(r: Random, corpus: Buffer[]): Buffer {
  const pick = () => corpus[r.int(corpus.length)]!;
  switch (r.int(8)) {
    case 0: {
      const b = Buffer.alloc(r.int(300));
      for (let i = 0; i < b.length; i++) b[i] = r.int(256);
      return b;
    }
    case 1: {
      const f = pick();
      return f.subarray(0, r.int(f.length + 1));
    }
    case 2: {
      const f = Buffer.from(pick());
      for (let k = 1 + r.int(4); k > 0 && f.length > 0; k--) f[r.int(f.length)]! ^= 1 << r.int(8);
      return f;
    }
    case 3: {
      const f = pick();
      const at = r.int(f.length + 1);
      const ins = Buffer.alloc(1 + r.int(8));
      for (let i = 0; i < ins.length; i++) ins[i] = r.int(256);
      return Buffer.concat([f.subarray(0, at), ins, f.subarray(at)]);
    }
    case 4: {
      const f = pick();
      const at = r.int(f.length + 1);
      return Buffer.concat([f.subarray(0, at), f.subarray(Math.min(f.length, at + 1 + r.int(8)))]);
    }
    case 5: {
      const f = Buffer.from(pick());
      const boundary = [0x00, 0x7f, 0x80, 0xff];
      for (let k = 1 + r.int(3); k > 0 && f.length > 0; k--) f[r.int(f.length)] = boundary[r.int(4)]!;
      return f;
    }
    case 6: {
      const a = pick();
      const b = pick();
      return Buffer.concat([a.subarray(0, r.int(a.length + 1)), b.subarray(r.int(b.length + 1))]);
    }
    default:
      return Buffer.from(pick()); // an unmodified capture, replayed
  }
}

/** A harness: a 3-agent group, a fuzzing PUB every agent dials, a DEALER on agent 0's direct port. */
export async function runFuzz(t: TeardownHost, o: FuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => {});
  const r = new Random(o.seed ?? 1);
  const rate = o.rate ?? 20_000;
  const fleet = o.secure ? secureFleet(t, ['n1', 'n2', 'n3', 'fuzz']) : null;
  const allow = fleet?.allowDir(['n1', 'n2', 'n3', 'fuzz']);
  const pubPort = await freePort();
  const fuzzKeys = fleet?.keys('fuzz');
  const pub = new zmq.Publisher({ linger: 0, sendTimeout: 0, sendHighWaterMark: 10_000, ...(fuzzKeys && { curveServer: true, curveSecretKey: fuzzKeys.secretKey, curvePublicKey: fuzzKeys.publicKey }) });
  t.teardown(() => pub.close());
  await pub.bind(`tcp://${HOST}:${pubPort}`);
  const specs = ['n1', 'n2', 'n3'].map((n) => ({ ...(fleet && allow ? fleet.spec(n, allow) : { node: n }), autoVote: 'yes' as const }));
  const c = await AgentCluster.create(specs, { namedPeers: o.secure, extraPeers: [`${o.secure ? 'fuzz@' : ''}${HOST}:${pubPort}`] });
  t.teardown(() => c.close());
  const formed = await c.waitForCommonLeader(G, { members: 3, timeoutMs: 30_000 });
  log(`formed: leader ${formed.leader}, term ${formed.term}`);

  // Capture a corpus from the real bus of every agent (admitted in secure mode), with votes and data going on.
  const corpus: Buffer[] = Object.values(GOLDEN_ENVELOPES).map((e) => Buffer.from(encodeEnvelope({ ...e, group: G })));
  const target = 0;
  const subs = [0, 1, 2].map((i) => {
    const sub = new zmq.Subscriber({ linger: 0, ...(fleet && fuzzKeys && { curveServerKey: fleet.keys(c.agent(i).node).publicKey, curvePublicKey: fuzzKeys.publicKey, curveSecretKey: fuzzKeys.secretKey }) });
    sub.subscribe(G);
    sub.connect(`tcp://${HOST}:${c.agent(i).busPort}`);
    void (async () => {
      try {
        for await (const [, frame] of sub) {
          if (!frame || corpus.length >= 2000) continue;
          // Plaintext: captured frames claim running members, and anything claiming an
          // agent's own member id is a node-id clash that stops that member by design
          // (README "Node ids"), the defence secure mode replaces. So they are replayed as
          // from a member that is not running (same bytes otherwise, re-encoded).
          const d = decodeEnvelope(frame);
          if (!o.secure && d.ok) corpus.push(Buffer.from(encodeEnvelope({ ...d.envelope, from: `ghost-${d.envelope.from}` })));
          else corpus.push(Buffer.from(frame));
        }
      } catch {
        // closed
      }
    })();
    return sub;
  });
  await c.post(0, `/groups/${G}/vote`, { topic: 'corpus' });
  await c.post(0, `/groups/${G}/action`, { action: 'corpus', inMs: 500 });
  await c.post(1, `/groups/${G}/send`, { object: { corpus: [1, 2, 3] } });
  await sleep(1500);
  subs.forEach((s) => s.close());
  log(`corpus: ${corpus.length} envelopes (${corpus.length - Object.keys(GOLDEN_ENVELOPES).length} captured)`);

  const serverKey = fleet?.keys(c.agent(target).node).publicKey;
  const dealer = new zmq.Dealer({ linger: 0, sendTimeout: 0, sendHighWaterMark: 10_000, ...(fleet && fuzzKeys && serverKey && { curveServerKey: serverKey, curvePublicKey: fuzzKeys.publicKey, curveSecretKey: fuzzKeys.secretKey }) });
  dealer.connect(`tcp://${HOST}:${c.agent(target).directPort}`);
  t.teardown(() => dealer.close());
  const auth = fuzzKeys ? new DirectAuth('fuzz', fuzzKeys.secretKey, () => []) : null;

  const before = await c.status(target);
  const rssBefore = c.rss(target);
  const frames = { bus: 0, direct: 0 };
  const started = performance.now();
  const batch = 200;
  for (let n = 0; n < o.frames; ) {
    for (let k = 0; k < batch && n < o.frames; k++, n++) {
      const f = mutate(r, corpus);
      try {
        if (r.int(2) === 0) {
          const shape = r.int(20);
          const msg = shape === 0 ? [G] : shape === 1 ? [G, f, f] : shape === 2 ? [mutate(r, corpus), f] : [G, f];
          pub.send(msg).catch(() => {});
          frames.bus++;
        } else {
          let msg: Buffer[];
          if (auth && serverKey) {
            const shape = r.int(10);
            // Mostly validly tagged (to reach the decoder), some forged tags, wrong names, wrong frame counts.
            msg = shape < 6 ? [Buffer.from('fuzz'), auth.tag(serverKey, f), f] : shape < 8 ? [Buffer.from('n2'), auth.tag(serverKey, f), f] : shape === 8 ? [f] : [Buffer.from('fuzz'), f.subarray(0, 16), f];
          } else msg = r.int(20) === 0 ? [f, f] : [f];
          dealer.send(msg).catch(() => {});
          frames.direct++;
        }
      } catch {
        // EAGAIN (high-water mark): the frame is not counted as sent
        if (n > 0) n--;
        await sleep(5);
      }
    }
    const due = ((n / rate) * 1000) - (performance.now() - started);
    await (due > 0 ? sleep(due) : new Promise((res) => setImmediate(res)));
    if (n % 100_000 < batch) log(`${n} frames, rss ${Math.round((c.rss(target) ?? 0) / 1e6)} MB, live ${c.live().join(',')}`);
  }
  const seconds = (performance.now() - started) / 1000;
  await sleep(3000); // let the agent drain, and the group settle
  const alive = c.live().length === 3;
  for (const i of [0, 1, 2]) if (!c.agent(i).alive) log(`agent ${c.agent(i).node} died:\n${c.output(i, 40)}`);
  let after: FuzzReport['after'] = null;
  try {
    const a = await c.waitForCommonLeader(G, { members: 3, timeoutMs: 15_000 });
    after = { leader: a.leader, term: a.term };
  } catch (err) {
    log(`no common leader after fuzzing: ${(err as Error).message}`);
  }
  const s: AgentStatus = await c.status(target);
  const tg = s.groups.find((g) => g.group === G);
  const targetAfter = tg ? { leader: tg.leader, term: tg.term, members: tg.members.length } : null;
  const drops: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.drops)) drops[k] = v - ((before.drops as unknown as Record<string, number>)[k] ?? 0);
  const tr = s.transport as unknown as Record<string, number>;
  const trb = before.transport as unknown as Record<string, number>;
  for (const k of ['dropsMalformed', 'dropsAuth', 'busFiltered']) drops[`transport.${k}`] = (tr[k] ?? 0) - (trb[k] ?? 0);
  drops['transport.busIn'] = tr.busIn! - trb.busIn!;
  drops['transport.directIn'] = tr.directIn! - trb.directIn!;
  if (s.security?.mode === 'curve' && before.security?.mode === 'curve') drops['zap.refused'] = s.security.zap.refused - before.security.zap.refused;
  return {
    mode: o.secure ? 'curve' : 'plaintext',
    frames,
    corpus: corpus.length,
    seconds,
    alive,
    before: { leader: formed.leader, term: formed.term },
    after,
    targetAfter,
    rssBefore,
    rssAfter: c.rss(target),
    drops,
  };
}
