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
  | { cmd: 'exit' };
export type ChildMsg =
  | { ev: 'ready' }
  | { ev: 'sent'; sent: number; cpuUs: number }
  | { ev: 'report'; count: number; firstNs: number; lastNs: number; latUs: number[]; cpuUs: number }
  | { ev: 'error'; message: string };

const TOPIC = 'Bench.bcast';
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
    agent = new Agent({ node: `bb${index}`, busPort: m.ports[index], discovery: new StaticDiscovery(peers), probeMs: 0 });
    await agent.start();
    group = agent.join('bench', 'Bench', 'bcast', { minSize: 2 });
    group.on('message', (msg) => onPayload(msg.payload));
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
    else if (m.cmd === 'report') {
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
