/**
 * One process of the broadcast benchmark (forked by bench/broadcast.ts with an IPC
 * channel). It hosts either a Cohort agent with one member of `Bench.bcast`, or the
 * raw baseline: one zeromq.js PUB bound on the same port and one SUB connected to
 * every process's PUB, its own included, which is the topology a Cohort agent builds.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as zmq from 'zeromq';
import { Agent } from '../../agent/runtime/agent.js';
import { StaticDiscovery } from '../../discovery/static.js';
import type { Group } from '../../agent/api/group.js';

export type Mode = 'zmq' | 'cohort';
export type ParentMsg =
  | { cmd: 'setup'; mode: Mode; index: number; ports: number[] }
  | { cmd: 'run'; kind: 'tput' | 'lat'; size: number; ms: number; sender: boolean; intervalUs?: number }
  | { cmd: 'report' }
  | { cmd: 'vote'; kind: 'majority' | 'consensus' }
  | { cmd: 'action'; delayMs: number }
  | { cmd: 'ballotReport'; ballotId: string }
  | { cmd: 'exit' };
export type ChildMsg =
  | { ev: 'ready' }
  | { ev: 'sent'; sent: number; cpuUs: number }
  | { ev: 'report'; count: number; firstNs: number; lastNs: number; latUs: number[]; cpuUs: number }
  | { ev: 'requested'; ballotId: string; t0Ns: number }
  | { ev: 'ballotReport'; resultNs: number | null; firedNs: number | null; errorMs: number | null }
  | { ev: 'error'; message: string };

const TOPIC = 'Bench.bcast';
const BENCH_FLOOD_LIMITS = { dataPerSecond: 1e9, dataBurst: 1e9, controlPerSecond: 1e9, controlBurst: 1e9 };
const send = (m: ChildMsg) => process.send!(m);

let mode: Mode;
let index = 0;
let pub: zmq.Publisher | null = null;
let sub: zmq.Subscriber | null = null;
let agent: Agent | null = null;
let group: Group | null = null;
let count = 0;
let firstNs = 0n;
let lastNs = 0n;
let measuring = false;
let latUs: number[] = [];
let wantLatency = false;
const ballots = new Map<string, { resultNs: number | null; firedNs: number | null; errorMs: number | null }>();
let cpuStart = process.cpuUsage();
const cpuSince = (): number => { const c = process.cpuUsage(cpuStart); return c.user + c.system; };

function onPayload(payload: Uint8Array): void {
  if (!measuring) return;
  const now = process.hrtime.bigint();
  if (count === 0) firstNs = now;
  lastNs = now;
  count++;
  if (wantLatency && payload.byteLength >= 9 && payload[0] === 0xfe) {
    const sentAt = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).readBigUInt64LE(1);
    latUs.push(Number(now - sentAt) / 1000);
  }
}

async function setup(m: Extract<ParentMsg, { cmd: 'setup' }>): Promise<void> {
  mode = m.mode;
  index = m.index;
  if (mode === 'zmq') {
    pub = new zmq.Publisher({ sendTimeout: 0, linger: 0 });
    await pub.bind(`tcp://127.0.0.1:${m.ports[index]}`);
    sub = new zmq.Subscriber({ linger: 0 });
    sub.subscribe(TOPIC);
    for (const p of m.ports) sub.connect(`tcp://127.0.0.1:${p}`);
    void (async () => {
      for await (const [topic, frame] of sub!) {
        // The same per-message work a transport must do at the least: check the topic.
        if (topic!.toString() !== TOPIC) continue;
        onPayload(frame!);
      }
    })();
    // PUB/SUB has no handshake that says "subscribed": give the subscriptions time to arrive.
    await new Promise((r) => setTimeout(r, 300));
  } else {
    const peers = m.ports.map((p) => `127.0.0.1:${p}`);
    // The per-peer flood limits (agent/security/flood-guard.ts; 500 data frames/s by default)
    // are a policy cap, not the hot path's cost: lifted here, as a chatty application would,
    // so that the benchmark measures what the agent can carry (the guard's check still runs).
    agent = new Agent({ node: `bb${index}`, busPort: m.ports[index], discovery: new StaticDiscovery(peers), probeMs: 0, floodLimits: BENCH_FLOOD_LIMITS });
    await agent.start();
    group = agent.join('bench', 'Bench', 'bcast', { minSize: 2 });
    group.on('message', (msg) => onPayload(msg.payload));
    // Every member votes yes at once; result and firing instants are recorded per ballot.
    group.on('voteRequest', (e) => { if (e.canVote) group!.vote(e.ballotId, true); });
    group.on('actionVoteRequest', (e) => { if (e.canVote) group!.vote(e.ballotId, true); });
    group.on('voteResult', (e) => { ballots.set(e.ballotId, { ...(ballots.get(e.ballotId) ?? { firedNs: null, errorMs: null }), resultNs: Number(process.hrtime.bigint()) }); });
    group.on('action', (e) => { ballots.set(e.ballotId, { ...(ballots.get(e.ballotId) ?? { resultNs: null }), firedNs: Number(process.hrtime.bigint()), errorMs: e.errorMs }); });
    const n = m.ports.length;
    const t0 = Date.now();
    while (!(group.hasLeader() && group.members().length === n)) {
      if (Date.now() - t0 > 30_000) throw new Error('group did not form');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  send({ ev: 'ready' });
}

function publish(payload: Uint8Array): void {
  if (mode === 'zmq') pub!.send([TOPIC, payload]).catch(() => {});
  else group!.send(payload);
}

/** BENCH_PROFILE_DIR=dir: a CPU profile of each measured run (not of start-up) per process. */
const profileDir = process.env['BENCH_PROFILE_DIR'];
let session: Session | null = null;
async function profileStart(): Promise<void> {
  if (!profileDir) return;
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
async function profileStop(): Promise<void> {
  if (!session) return;
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(`${profileDir}/${mode}-${index}-${Date.now()}.cpuprofile`, JSON.stringify(profile));
  session.disconnect();
  session = null;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

async function run(m: Extract<ParentMsg, { cmd: 'run' }>): Promise<void> {
  count = 0;
  latUs = [];
  measuring = true;
  wantLatency = m.kind === 'lat';
  await profileStart();
  cpuStart = process.cpuUsage();
  if (!m.sender) return;
  let sent = 0;
  const end = performance.now() + m.ms;
  if (m.kind === 'tput') {
    const payload = new Uint8Array(m.size);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff; // arbitrary bytes, not MessagePack
    payload[0] = 0xc1; // a byte MessagePack never uses
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) publish(payload);
      sent += 64;
      await turn();
    }
  } else {
    // One message at a time, well below saturation: the time a lone message takes.
    const gap = (m.intervalUs ?? 2000) / 1000;
    while (performance.now() < end) {
      const payload = Buffer.alloc(m.size, 0x33);
      payload[0] = 0xfe;
      payload.writeBigUInt64LE(process.hrtime.bigint(), 1);
      publish(payload);
      sent++;
      await new Promise((r) => setTimeout(r, gap));
    }
  }
  await profileStop();
  send({ ev: 'sent', sent, cpuUs: cpuSince() });
}

process.on('message', (m: ParentMsg) => {
  const go = async () => {
    if (m.cmd === 'setup') await setup(m);
    else if (m.cmd === 'run') await run(m);
    else if (m.cmd === 'vote' || m.cmd === 'action') {
      // Wait for a leader (a restart of the group may be under way).
      for (let i = 0; i < 500 && !group!.hasLeader(); i++) await new Promise((r) => setTimeout(r, 10));
      const t0Ns = Number(process.hrtime.bigint());
      const ballotId = m.cmd === 'vote'
        ? group!.requestVote(new Uint8Array([0xc1, 1]), { kind: m.kind })
        : group!.requestActionVote(new Uint8Array([0xc1, 2]), Date.now() + m.delayMs, { timeoutMs: Math.max(50, m.delayMs - 100) });
      send({ ev: 'requested', ballotId, t0Ns });
    } else if (m.cmd === 'ballotReport') {
      const b = ballots.get(m.ballotId);
      send({ ev: 'ballotReport', resultNs: b?.resultNs ?? null, firedNs: b?.firedNs ?? null, errorMs: b?.errorMs ?? null });
    } else if (m.cmd === 'report') {
      measuring = false;
      await profileStop();
      send({ ev: 'report', count, firstNs: Number(firstNs), lastNs: Number(lastNs), latUs, cpuUs: cpuSince() });
    } else if (m.cmd === 'exit') {
      await agent?.stop();
      pub?.close();
      sub?.close();
      process.exit(0);
    }
  };
  go().catch((err) => {
    send({ ev: 'error', message: String((err as Error)?.stack ?? err) });
  });
});
