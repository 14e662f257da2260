/**
 * Broadcast throughput and latency: 3 processes, one sending to the group, against raw
 * zeromq.js PUB/SUB in the same topology (every process a PUB and a SUB connected to all
 * three PUBs), interleaved in one run. Usage:
 *   npx tsx bench/broadcast.ts [--reps 5] [--ms 1500] [--sizes 100,4096]
 * Throughput: the slowest receiver's delivered messages per second while the sender
 * floods (PUB drops what a receiver cannot take). Latency: one-way, send to delivery,
 * one message every 2 ms (CLOCK_MONOTONIC is shared by the processes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildMsg, Mode, ParentMsg } from './lib/broadcast-worker.js';
import { freePort, median, quantile } from './lib/stats.js';

const WORKER = fileURLToPath(new URL('./lib/broadcast-worker.ts', import.meta.url));

class Worker {
  private readonly waiters: Array<{ ev: ChildMsg['ev']; resolve: (m: ChildMsg) => void; reject: (e: Error) => void }> = [];
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: ChildMsg) => {
      if (m.ev === 'error') {
        for (const w of this.waiters.splice(0)) w.reject(new Error(m.message));
        return;
      }
      const i = this.waiters.findIndex((w) => w.ev === m.ev);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    });
    proc.on('exit', (code) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`worker exited (${code})`));
    });
  }
  send(m: ParentMsg): void {
    this.proc.send(m);
  }
  expect<E extends ChildMsg['ev']>(ev: E, timeoutMs = 60_000): Promise<Extract<ChildMsg, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), timeoutMs);
      this.waiters.push({ ev, resolve: (m) => { clearTimeout(t); resolve(m as Extract<ChildMsg, { ev: E }>); }, reject: (e) => { clearTimeout(t); reject(e); } });
    });
  }
}

export class BroadcastSet {
  private constructor(readonly mode: Mode, readonly workers: Worker[]) {}

  static async start(mode: Mode, n = 3, execArgv: string[] = ['--import', 'tsx']): Promise<BroadcastSet> {
    process.env['NODE_NO_WARNINGS'] ??= '1';
    const ports = await Promise.all(Array.from({ length: n }, freePort));
    const workers = ports.map(() => new Worker(fork(WORKER, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
    const set = new BroadcastSet(mode, workers);
    killOnExit.add(set);
    await Promise.all(workers.map((w, index) => { const r = w.expect('ready'); w.send({ cmd: 'setup', mode, index, ports }); return r; }));
    return set;
  }

  /** One measurement; worker 0 sends. Returns msgs/s at the slowest receiver, or latencies (µs) at all receivers. */
  async run(kind: 'tput' | 'lat', size: number, ms: number): Promise<{ rate: number; latUs: number[]; senderCpuUsPerMsg: number; receiverCpuUsPerMsg: number }> {
    const sent = this.workers[0]!.expect('sent', ms + 30_000);
    for (const [i, w] of this.workers.entries()) w.send({ cmd: 'run', kind, size, ms, sender: i === 0 });
    const s = await sent;
    await new Promise((r) => setTimeout(r, 200)); // let queues drain
    const reports = await Promise.all(this.workers.slice(1).map((w) => { const r = w.expect('report'); w.send({ cmd: 'report' }); return r; }));
    const rates = reports.map((r) => (r.count > 1 ? (r.count - 1) / ((r.lastNs - r.firstNs) / 1e9) : 0));
    // CPU per message: the sender's per message handed over; a receiver's per message delivered.
    const senderCpuUsPerMsg = s.cpuUs / Math.max(1, Math.min(s.sent, ...reports.map((r) => r.count)));
    const receiverCpuUsPerMsg = Math.max(...reports.map((r) => r.cpuUs / Math.max(1, r.count)));
    return { rate: Math.min(...rates), latUs: reports.flatMap((r) => r.latUs), senderCpuUsPerMsg, receiverCpuUsPerMsg };
  }

  /**
   * One ballot requested by worker `requester` (every member votes yes at once). Returns
   * µs from the request to the result at each member, and for actions the firing instants'
   * spread across members (µs) and each member's firing error (ms).
   */
  async ballot(what: { vote: 'majority' | 'consensus' } | { actionDelayMs: number }, requester = 0, waitMs = 300): Promise<{ resultUs: number[]; spreadUs: number | null; errorMs: number[] }> {
    const w = this.workers[requester]!;
    const req = w.expect('requested');
    w.send('vote' in what ? { cmd: 'vote', kind: what.vote } : { cmd: 'action', delayMs: what.actionDelayMs });
    const { ballotId, t0Ns } = await req;
    await new Promise((r) => setTimeout(r, waitMs + ('actionDelayMs' in what ? what.actionDelayMs : 0)));
    const reps = await Promise.all(this.workers.map((x) => { const r = x.expect('ballotReport'); x.send({ cmd: 'ballotReport', ballotId }); return r; }));
    const resultUs = reps.map((r) => (r.resultNs === null ? NaN : (r.resultNs - t0Ns) / 1000));
    const fired = reps.map((r) => r.firedNs).filter((x): x is number => x !== null);
    const spreadUs = fired.length === reps.length ? (Math.max(...fired) - Math.min(...fired)) / 1000 : null;
    return { resultUs, spreadUs, errorMs: reps.map((r) => r.errorMs).filter((x): x is number => x !== null) };
  }

  async stop(): Promise<void> {
    killOnExit.delete(this);
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.proc.exitCode !== null) return resolve();
      const t = setTimeout(() => { w.proc.kill('SIGKILL'); }, 3000);
      w.proc.once('exit', () => { clearTimeout(t); resolve(); });
      w.send({ cmd: 'exit' });
    })));
  }
}

const killOnExit = new Set<BroadcastSet>();
process.once('exit', () => { for (const s of killOnExit) for (const w of s.workers) w.proc.kill('SIGKILL'); });

export interface BroadcastResult {
  size: number;
  zmqRate: number;
  cohortRate: number;
  rateRatio: number;
  zmqLatUs: { p50: number; p99: number };
  cohortLatUs: { p50: number; p99: number };
  latRatio: number;
  reps: number;
  samples: { zmqRate: number[]; cohortRate: number[]; zmqLatP50: number[]; cohortLatP50: number[] };
}

/** Interleaved: every repetition runs raw then Cohort (order alternating), for each size. */
export async function broadcastBench(opts: { sizes: number[]; reps: number; ms: number; latMs: number; log?: (s: string) => void }): Promise<BroadcastResult[]> {
  const log = opts.log ?? (() => {});
  const zmqSet = await BroadcastSet.start('zmq');
  const cohortSet = await BroadcastSet.start('cohort');
  try {
    const out: BroadcastResult[] = [];
    for (const size of opts.sizes) {
      const s = { zmqRate: [] as number[], cohortRate: [] as number[], zmqLat: [] as number[], cohortLat: [] as number[], zmqLatP50: [] as number[], cohortLatP50: [] as number[] };
      for (let rep = 0; rep < opts.reps; rep++) {
        const order = rep % 2 === 0 ? [zmqSet, cohortSet] : [cohortSet, zmqSet];
        for (const set of order) {
          const t = await set.run('tput', size, opts.ms);
          const l = await set.run('lat', size, opts.latMs);
          const key = set.mode === 'zmq' ? 'zmq' : 'cohort';
          s[`${key}Rate`].push(t.rate);
          s[`${key}Lat`].push(...l.latUs);
          s[`${key}LatP50`].push(median(l.latUs));
          log(`  ${size} B rep ${rep + 1} ${set.mode}: ${Math.round(t.rate)} msg/s, latency p50 ${Math.round(median(l.latUs))} µs`);
        }
      }
      const zr = median(s.zmqRate);
      const cr = median(s.cohortRate);
      const zl = median(s.zmqLatP50);
      const cl = median(s.cohortLatP50);
      out.push({
        size, reps: opts.reps, zmqRate: zr, cohortRate: cr, rateRatio: cr / zr,
        zmqLatUs: { p50: zl, p99: quantile(s.zmqLat, 0.99) }, cohortLatUs: { p50: cl, p99: quantile(s.cohortLat, 0.99) }, latRatio: cl / zl,
        samples: { zmqRate: s.zmqRate, cohortRate: s.cohortRate, zmqLatP50: s.zmqLatP50, cohortLatP50: s.cohortLatP50 },
      });
    }
    return out;
  } finally {
    await Promise.all([zmqSet.stop(), cohortSet.stop()]);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, ms: { type: 'string', default: '1500' }, sizes: { type: 'string', default: '100,4096' } } });
  const results = await broadcastBench({ sizes: values.sizes!.split(',').map(Number), reps: Number(values.reps), ms: Number(values.ms), latMs: 600, log: (s) => console.log(s) });
  for (const r of results) {
    console.log(`${r.size} B: cohort ${Math.round(r.cohortRate)} msg/s vs raw ${Math.round(r.zmqRate)} (×${r.rateRatio.toFixed(2)}); latency p50 ${Math.round(r.cohortLatUs.p50)} µs vs ${Math.round(r.zmqLatUs.p50)} µs (×${r.latRatio.toFixed(2)})`);
  }
}
