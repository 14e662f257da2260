/**
 * What CURVE costs on broadcast throughput: a Transport publishing group frames to a
 * Transport subscribed to it, plaintext and CURVE (the secure mode's sockets: a CURVE PUB
 * server behind the ZAP handler, one CURVE SUB per peer), interleaved round by round in one
 * run so that machine load hits both alike. Reported: messages per second received, per
 * round and as medians, and the CURVE / plaintext ratio.
 *
 * Usage: npm run bench:curve -- [--rounds 6] [--ms 1000] [--bytes 200]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { Transport, type TransportCurve } from '../agent/transport/transport.js';
import { zapHandler } from '../agent/security/zap.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, ms: { type: 'string', default: '1000' }, bytes: { type: 'string', default: '200' } } });
const rounds = Number(values.rounds);
const windowMs = Number(values.ms);
const frame = new Uint8Array(Number(values.bytes)).fill(0x61);
const TOPIC = 'Bench.curve';

function curveOf(keys: { publicKey: string; secretKey: string }, domain: string): TransportCurve {
  return { ...keys, zapDomain: domain, direct: { name: 'bench', tag: () => new Uint8Array(16), verify: () => null } };
}

async function round(secure: boolean): Promise<number> {
  const a = zmq.curveKeyPair();
  const b = zmq.curveKeyPair();
  const domain = `bench-${secure}-${Math.random().toString(36).slice(2)}`;
  if (secure) await zapHandler.register(domain, (key) => (key === a.publicKey || key === b.publicKey ? { admit: true, user: 'peer' } : { admit: false, reason: 'unknown' }));
  const opts = { listenHost: '127.0.0.1', sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 };
  const sender = new Transport({ ...opts, identity: 'sender', ...(secure && { curve: curveOf(a, domain) }) });
  const receiver = new Transport({ ...opts, identity: 'receiver', ...(secure && { curve: curveOf(b, domain) }) });
  try {
    const { bus } = await sender.start();
    await receiver.start();
    let received = 0;
    receiver.onBus(() => {
      received++;
    });
    receiver.subscribe(TOPIC);
    receiver.connectBus(bus, secure ? { name: 'sender', serverKey: a.publicKey } : undefined);
    // Wait until the link carries messages (handshake and subscription done).
    for (let i = 0; i < 200 && received === 0; i++) {
      sender.publish(TOPIC, frame);
      await sleep(10);
    }
    await sleep(100);
    received = 0;
    const start = performance.now();
    while (performance.now() - start < windowMs) {
      for (let k = 0; k < 500; k++) sender.publish(TOPIC, frame);
      await new Promise((r) => setImmediate(r));
    }
    const elapsed = performance.now() - start;
    await sleep(200); // what was in flight at the end of the window still counts
    return (received / (elapsed + 200)) * 1000;
  } finally {
    await sender.close();
    await receiver.close();
    if (secure) zapHandler.unregister(domain);
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const plain: number[] = [];
const curve: number[] = [];
for (let i = 0; i < rounds; i++) {
  // Alternate which goes first, so a trend in load does not favour one.
  for (const secure of i % 2 === 0 ? [false, true] : [true, false]) {
    const rate = await round(secure);
    (secure ? curve : plain).push(rate);
    console.log(`round ${i + 1} ${secure ? 'curve    ' : 'plaintext'} ${Math.round(rate)} msg/s`);
  }
}
const p = median(plain);
const c = median(curve);
console.log(`\nbroadcast of ${frame.length}-byte frames, ${rounds} rounds of ${windowMs} ms each`);
console.log(`plaintext median ${Math.round(p)} msg/s, CURVE median ${Math.round(c)} msg/s`);
console.log(`CURVE / plaintext = ${(c / p).toFixed(2)}`);
process.exit(0);
