/**
 * agent/free-port.ts: ports for local clusters come from below the kernel's ephemeral
 * range (where no other socket's bind(0) or outgoing connection can take them between
 * the check and the agent's bind), are free when handed out, and are never handed out
 * twice, even to concurrent callers.
 */
import t from 'tap';
import { createServer } from 'node:net';
import { ephemeralPortRange, freePort, freePorts } from '../../agent/free-port.js';

const bind = (port: number) =>
  new Promise<() => Promise<void>>((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => res(() => new Promise((r) => s.close(() => r()))));
  });

t.test('ports are below the ephemeral range and bindable', async (t) => {
  const [lo, hi] = ephemeralPortRange();
  t.ok(lo > 0 && hi >= lo, `range ${lo}-${hi}`);
  const ports = await Promise.all(Array.from({ length: 30 }, () => freePort()));
  t.equal(new Set(ports).size, ports.length, 'concurrent callers get distinct ports');
  for (const p of ports) t.ok(p >= 10_000 && p < lo, `${p} below the ephemeral range (${lo})`);
  const close = await bind(ports[0]!);
  await close();
});

t.test('a port someone holds is not handed out', async (t) => {
  // Hold many ports below the range; none of them may come back.
  const held = await freePorts(50);
  const closers = await Promise.all(held.map(bind));
  t.teardown(() => Promise.all(closers.map((c) => c())));
  const more = await freePorts(50);
  t.same(more.filter((p) => held.includes(p)), [], 'no held port handed out again');
  for (const p of more) {
    const close = await bind(p);
    await close();
  }
});
