/**
 * Free loopback TCP ports for clusters started on one machine (`cohort demo`, the
 * benchmarks, the integration tests), picked BELOW the kernel's ephemeral range.
 *
 * Why not `listen(0)`: the kernel hands out ports from its ephemeral range to every
 * `bind(0)` and to the source port of every outgoing connection. A port learnt from
 * `listen(0)` and released is back in that pool, so between the check and the agent's
 * own bind another socket (a ZeroMQ link of a sibling agent, a test, a CI job) can take
 * it, and the agent fails with "port is already in use". The kernel never picks a port
 * below the range by itself, so one checked free there stays free until someone binds
 * it on purpose, and again when an agent is restarted on it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's ephemeral port range (Linux: /proc/sys/net/ipv4/ip_local_port_range; else IANA's). */
export function ephemeralPortRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

/** Lowest port picked: above the well-known and most registered service ports. */
const MIN_PORT = 10_000;
/** Ports this process has handed out already (so two callers never get the same one). */
const handedOut = new Set<number>();

/**
 * A free TCP port on `host`, at random below the ephemeral range and checked by binding
 * it. Falls back to an ephemeral port (bind 0) only when there is no room below the range.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [lo] = ephemeralPortRange();
  if (lo - MIN_PORT >= 2000) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = MIN_PORT + Math.floor(Math.random() * (lo - MIN_PORT));
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      if (await canBind(port, host)) return port;
    }
  }
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no free port'))));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(await freePort(host));
  return [...out];
}
