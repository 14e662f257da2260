/**
 * MdnsDiscovery on loopback, without root: instances in this process (and one child that is
 * SIGKILLed) find each other over 127.0.0.1 with multicast TTL 0. Never use default options
 * here: they send on the machine's real NIC.
 *
 * Other test files may run mDNS on loopback at the same time, so every node id carries a
 * per-run prefix and only those are looked at. When run as root with tcpdump installed, the
 * real NIC is watched during the whole file and must carry no `_cohort` packet.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { networkInterfaces } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createSocket } from 'node:dgram';
import { Bonjour } from 'bonjour-service';
import t from 'tap';
import type { PeerAdvert } from '../../discovery/discovery.js';
import { MdnsDiscovery } from '../../discovery/mdns.js';

const PREFIX = `mt${process.pid}`;
const DEADLINE_MS = 5000;
const KEY = 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7';
let nextPort = 20000 + (process.pid % 20000);
const port = () => nextPort++;

type Ev = ['up' | 'down', PeerAdvert];

interface Node {
  d: MdnsDiscovery;
  node: string;
  self: PeerAdvert;
  events: Ev[];
  /** Peers currently up, by node id (ours only). */
  up: Map<string, PeerAdvert>;
}

const tap = t;

async function startNode(name: string, opts: { bus?: number; withKey?: boolean } = {}): Promise<Node> {
  const d = new MdnsDiscovery({ loopback: true, requeryMs: 500 });
  const node = `${PREFIX}-${name}`;
  const bus = opts.bus ?? port();
  const self: PeerAdvert = { node, bus: `tcp://127.0.0.1:${bus}`, direct: `tcp://127.0.0.1:${port()}`, protocol: 1 };
  if (opts.withKey) self.publicKey = KEY;
  const n: Node = { d, node, self, events: [], up: new Map() };
  d.on('up', (p) => {
    if (!p.node.startsWith(PREFIX)) return;
    n.events.push(['up', p]);
    n.up.set(p.node, p);
  });
  d.on('down', (p) => {
    if (!p.node.startsWith(PREFIX)) return;
    n.events.push(['down', p]);
    if (n.up.get(p.node)?.bus === p.bus) n.up.delete(p.node);
  });
  tap.teardown(() => d.stop());
  await d.start(self);
  return n;
}

async function until(what: string, done: () => boolean, deadlineMs = DEADLINE_MS): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
  return performance.now() - start;
}

const ms = (x: number) => `${x.toFixed(0)} ms`;

// ------------------------------------------------------------------ the real NIC stays silent

/** The interface of the default route, if any. */
function realNic(): string | null {
  const r = spawnSync('ip', ['-o', 'route', 'show', 'default'], { encoding: 'utf8' });
  const m = /\bdev (\S+)/.exec(r.stdout ?? '');
  if (m?.[1]) return m[1];
  return Object.entries(networkInterfaces()).find(([, l]) => (l ?? []).some((i) => !i.internal && i.family === 'IPv4'))?.[0] ?? null;
}

let sniffer: { proc: ChildProcess; nic: string; out: string[]; listening: boolean; stderr: string } | null = null;
const nic = realNic();
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
/** Why the real NIC cannot be watched here (the test then skips, printing this), or null. */
const cannotSniff =
  process.getuid?.() !== 0 ? 'needs root to capture on the real NIC'
  : !hasTcpdump ? 'tcpdump is not installed (apt-get install tcpdump; .ci/run installs it)'
  : nic === null ? 'no real NIC (no default route and no non-internal IPv4 interface)'
  : null;
if (!cannotSniff && nic) {
  const proc = spawn('tcpdump', ['-n', '-l', '-i', nic, 'udp port 5353'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  proc.stdout.setEncoding('utf8').on('data', (s: string) => out.push(...s.split('\n').filter(Boolean)));
  const sn = { proc, nic, out, listening: false, stderr: '' };
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (sn.stderr += s));
  sniffer = sn;
  await until('tcpdump to listen', () => sn.stderr.includes('listening on') || proc.exitCode !== null).catch(() => undefined);
  sn.listening = sn.stderr.includes('listening on') && proc.exitCode === null;
}

// ------------------------------------------------------------------ tests

let a: Node;
let b: Node;
let c: Node;

t.test('three instances on loopback discover each other', async (t) => {
  const t0 = performance.now();
  [a, b, c] = await Promise.all([startNode('a', { withKey: true }), startNode('b'), startNode('c')]);
  const started = performance.now() - t0;
  const all = [a, b, c];
  const mesh = await until('full mesh', () => all.every((n) => all.every((o) => o === n || n.up.has(o.node))));
  t.comment(`mDNS discovery on loopback: 3 instances started in ${ms(started)}, full mesh ${ms(mesh)} after start() returned`);
  for (const n of all) {
    t.notOk(n.up.has(n.node), `${n.node} does not report itself`);
    for (const o of all) {
      if (o === n) continue;
      t.same(n.up.get(o.node), o.self, `${n.node} sees ${o.node} with its advertised endpoints on 127.0.0.1`);
    }
    t.equal(n.d.stats.errors, 0);
    t.equal(n.d.stats.warnings, 0);
  }
  t.equal(b.up.get(a.node)?.publicKey, KEY, 'the key travels in TXT pk');
  t.same(a.events.map(([e]) => e), ['up', 'up'], 'one up per peer, no duplicates from re-answers');
  // Re-queries (every ~0.5 s here) re-answer unchanged adverts: no events.
  await sleep(1200);
  t.same(a.events.map(([e]) => e), ['up', 'up'], 'repeated answers give no events');
  t.ok(a.d.stats.queries >= 2, `re-queried (${a.d.stats.queries} queries)`);
});

t.test('malformed and hostile answers are ignored and counted; nothing throws', async (t) => {
  // A rogue responder on loopback (multicast TTL 0, like loopback mode).
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const rogue = new Bonjour({ interface: '127.0.0.1', bind: '0.0.0.0', socket } as never, () => undefined);
  const mdns = (rogue as unknown as { server: { mdns: NodeJS.EventEmitter & { respond(res: object, cb: () => void): void } } }).server.mdns;
  await new Promise<void>((resolve) => mdns.once('ready', () => (socket.setMulticastTTL(0), resolve())));
  t.teardown(() => new Promise<void>((r) => rogue.destroy(() => r())));
  const before = { ...a.d.stats };
  const events = a.events.length;
  const upBefore = new Map(a.up);

  // A service whose TXT does not match its name and has no bus port.
  rogue.publish({ name: `${PREFIX}-rogue`, type: 'cohort', port: 9, host: `${PREFIX}-rogue.local`, probe: false, txt: { node: 'someone-else', bus: 'nine' }, disableIPv6: true });
  await until('the malformed answer to be counted', () => a.d.stats.malformed > before.malformed);

  // Hand-made answers: odd TXT keys, binary TXT, SRV/TXT disagreeing, a PTR with nothing
  // behind it, a goodbye for a service nobody knows.
  const ptr = (inst: string, ttl = 120) => ({ name: '_cohort._tcp.local', type: 'PTR', ttl, data: `${inst}._cohort._tcp.local` });
  const srv = (inst: string, port: number) => ({ name: `${inst}._cohort._tcp.local`, type: 'SRV', ttl: 120, data: { port, target: `${inst}.local` } });
  const txt = (inst: string, data: Array<string | Buffer>) => ({ name: `${inst}._cohort._tcp.local`, type: 'TXT', ttl: 120, data });
  const send = (answers: object[]) => new Promise<void>((r) => mdns.respond({ answers }, () => r()));
  const h = (i: number) => `${PREFIX}-h${i}`;
  await send([ptr(h(1)), srv(h(1), 7001), txt(h(1), ['__proto__=x', 'constructor=y', `node=${h(1)}`, 'bus=abc'])]);
  await send([ptr(h(2)), srv(h(2), 7002), txt(h(2), [Buffer.from([0xff, 0xfe, 0x00, 0x3d, 0x3d]), `node=${h(2)}`])]);
  await send([ptr(h(3)), srv(h(3), 7003), txt(h(3), [`node=${h(3)}`, 'bus=7999'])]);
  await send([ptr(h(4))]);
  await send([ptr(h(5), 0)]);
  await send([ptr(h(6)), srv(h(6), 7006)]); // no TXT at all
  await new Promise<void>((r) => socket.send(Buffer.from('not a DNS packet'), 5353, '224.0.0.251', () => r()));
  await until('the hand-made answers to be counted', () => a.d.stats.malformed >= before.malformed + 5);
  await sleep(100);
  t.equal(a.events.length, events, 'no event');
  t.same(a.up, upBefore, 'the peers known are unchanged');
  t.equal(a.d.stats.errors, before.errors, 'nothing thrown');
  t.equal(a.d.stats.warnings, before.warnings, 'garbage is not mistaken for a socket problem');
  t.comment(`a: ${JSON.stringify(a.d.stats)}`);
  await new Promise<void>((r) => rogue.unpublishAll(() => r()));
});

t.test('stop() says goodbye: the others report down at once', async (t) => {
  const t0 = performance.now();
  await b.d.stop();
  const gone = await until('goodbye', () => !a.up.has(b.node) && !c.up.has(b.node));
  t.comment(`goodbye seen ${ms(gone)} after stop() returned (stop took ${ms(performance.now() - t0 - gone)})`);
  t.same(a.events.at(-1), ['down', b.self]);
  t.same(c.events.at(-1), ['down', b.self]);
  await b.d.stop(); // idempotent

  // Back on new ports: up again with the new endpoints.
  const t1 = performance.now();
  b = await startNode('b');
  const back = await until('b back', () => a.up.get(b.node)?.bus === b.self.bus && c.up.get(b.node)?.bus === b.self.bus && b.up.size === 2);
  t.comment(`restarted instance rediscovered in ${ms(back)} (start ${ms(performance.now() - t1 - back)})`);
  t.same(a.events.at(-1), ['up', b.self]);
});

t.test('a killed agent sends no goodbye; its restart on new ports gives down then up', async (t) => {
  const node = `${PREFIX}-k`;
  const oldBus = port();
  const mdnsUrl = new URL('../../discovery/mdns.ts', import.meta.url).href;
  const code = `
    import { MdnsDiscovery } from ${JSON.stringify(mdnsUrl)};
    const d = new MdnsDiscovery({ loopback: true, requeryMs: 500 });
    await d.start({ node: ${JSON.stringify(node)}, bus: 'tcp://127.0.0.1:${oldBus}', protocol: 1 });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  // The child needs a second or so to load tsx.
  await until('child up', () => a.up.get(node)?.bus === `tcp://127.0.0.1:${oldBus}` && c.up.has(node), 15_000);
  const oldAdvert = a.up.get(node)!;
  child.kill('SIGKILL');
  await once(child, 'exit');
  await sleep(700); // re-queries go unanswered: nothing expires it, heartbeats would
  t.same(a.up.get(node), oldAdvert, 'still up after SIGKILL: no goodbye, no expiry');

  const mark = a.events.length;
  const t0 = performance.now();
  const k = await startNode('k');
  const took = await until('restart seen', () => a.up.get(node)?.bus === k.self.bus);
  t.comment(`restart of a killed agent on new ports seen in ${ms(took)} after start() returned (${ms(performance.now() - t0)} in all)`);
  t.same(a.events.slice(mark), [['down', oldAdvert], ['up', k.self]], 'down for the old advert, then up for the new one');
  t.same(c.up.get(node), k.self);
});

t.test('a listener that throws is caught and counted', async (t) => {
  const x = new MdnsDiscovery({ loopback: true, requeryMs: 500 });
  t.teardown(() => x.stop());
  const seen: string[] = [];
  x.on('up', () => {
    throw new Error('listener bug');
  });
  x.on('up', (p) => void (p.node.startsWith(PREFIX) && seen.push(p.node)));
  await x.start({ node: `${PREFIX}-x`, bus: `tcp://127.0.0.1:${port()}` });
  await until('x to see the others', () => seen.length >= 3);
  t.ok(x.stats.errors >= 3, `counted (${x.stats.errors})`);
  await x.stop();
});

t.test('stopped instances report nothing and can be stopped again', async (t) => {
  const n = await startNode('z');
  await n.d.stop();
  const count = n.events.length;
  await sleep(600);
  t.equal(n.events.length, count);
  await n.d.stop();
  await t.rejects(
    (async () => {
      const d = new MdnsDiscovery({ loopback: true });
      await d.start({ node: `${PREFIX}-y`, bus: 'tcp://127.0.0.1:1' });
      try {
        await d.start({ node: `${PREFIX}-y`, bus: 'tcp://127.0.0.1:1' });
      } finally {
        await d.stop();
      }
    })(),
    /already started/,
  );
});

t.test('nothing went out of the real NIC', { skip: cannotSniff ?? false }, async (t) => {
  if (!sniffer) return void t.fail('no sniffer although it could run');
  // A capture that never started proves nothing: that is a failure, not a pass.
  t.ok(sniffer.listening, `tcpdump listened on ${sniffer.nic} for the whole file (${sniffer.stderr.trim().split('\n').at(-1) ?? ''})`);
  await Promise.all([a, b, c].map((n) => n.d.stop()));
  await sleep(300);
  sniffer.proc.kill('SIGTERM');
  await once(sniffer.proc, 'exit');
  const ours = sniffer.out.filter((l) => l.includes('_cohort') || l.includes(PREFIX));
  t.comment(`tcpdump -i ${sniffer.nic} udp port 5353 during the whole file: ${sniffer.out.length} packet(s), ${ours.length} cohort`);
  t.same(ours, [], 'no cohort mDNS packet on the real NIC');
});
