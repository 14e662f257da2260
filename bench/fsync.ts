/**
 * What a durable vote costs. (a) Raw: N saves through the FileHardStateStore
 * (temp file, fsync, rename, fsync of the directory) against the memory store.
 * (b) An election: a group of 3 pure cores in this process, messages delivered
 * synchronously, persisting through each store; the time from the tick that
 * starts a campaign to a leader, file and memory trials interleaved.
 * Usage: npm run bench:fsync -- [--saves 1000] [--elections 40] [--dir DIR]
 * (DIR: where the file store writes; default a temporary directory under os.tmpdir().
 * Put it on the disk you care about: tmpfs makes fsync free.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GroupMember } from '../agent/core/member.js';
import type { Instant } from '../agent/core/events.js';
import type { Envelope } from '../agent/core/messages.js';
import { TIMER_PRESETS } from '../agent/core/timers.js';
import { FileHardStateStore, MemoryHardStateStore, type HardStateStore } from '../agent/runtime/hard-state-store.js';

const { values } = parseArgs({ options: { saves: { type: 'string', default: '1000' }, elections: { type: 'string', default: '40' }, dir: { type: 'string' } } });
const saves = Number(values.saves);
const elections = Number(values.elections);
const base = mkdtempSync(join(values.dir ?? tmpdir(), 'cohort-bench-fsync-'));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(2));
let storeSeq = 0;
const fileStore = (node: string) => new FileHardStateStore({ dir: join(base, `run-${++storeSeq}`), node });

// ------------------------------------------------------------------ (a) raw saves

function rawSaves(store: HardStateStore): number[] {
  store.claim('Bench.raw', 'agent');
  const out: number[] = [];
  for (let i = 0; i < saves; i++) {
    const t0 = performance.now();
    store.save('Bench.raw', 'agent', { term: i + 1, votedFor: 'n2/agent' });
    out.push(performance.now() - t0);
  }
  return out;
}

// ------------------------------------------------------------------ (b) elections

/** Seeded randomness, so file and memory trial i see the same election timeouts. */
function lcg(seed: number) {
  let s = seed >>> 0 || 1;
  return { next: () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) };
}

/** One election among 3 fresh cores; returns ms from the campaign's first tick to a leader, and the persists done. */
function election(kind: 'file' | 'memory', seed: number): { ms: number; persists: number } {
  const ids = ['b1/agent', 'b2/agent', 'b3/agent'];
  const stores = new Map<string, HardStateStore>(ids.map((id) => [id, kind === 'file' ? fileStore(id.split('/')[0]!) : new MemoryHardStateStore()]));
  let mono = 0;
  const at = (): Instant => ({ mono, wall: 1_700_000_000_000 + mono });
  const members = ids.map((id, i) => {
    const stored = stores.get(id)!.claim('Bench.elect', 'agent');
    return new GroupMember({ group: 'Bench.elect', id, incarnation: stored.incarnation, minSize: 2, timers: TIMER_PRESETS.lan, random: lcg(seed * 7 + i), hardState: stored.hardState });
  });
  const queue: Envelope[] = [];
  let persists = 0;
  let sawVoteRequest = false;
  // Persist, then speak: a member's outputs in order, each persist written before the sends after it.
  const drain = (m: GroupMember) => {
    for (const out of m.takeOutputs()) {
      if (out.type === 'persist') {
        stores.get(m.id)!.save('Bench.elect', 'agent', out.state);
        persists++;
      } else if (out.type === 'send') {
        if (out.envelope.body.type === 'voteRequest') sawVoteRequest = true;
        queue.push(out.envelope);
      }
    }
  };
  const deliverAll = () => {
    while (queue.length) {
      const env = queue.shift()!;
      for (const m of members) {
        if (env.to !== '' && env.to !== m.id) continue;
        m.receive(env, at());
        drain(m);
      }
    }
  };
  for (const m of members) {
    m.start(at());
    drain(m);
  }
  deliverAll();
  let campaignAt: number | null = null;
  let persistsAtCampaign = 0;
  for (let step = 0; step < 10_000; step++) {
    const next = members.reduce((a, m) => (m.nextDeadline() < a.nextDeadline() ? m : a));
    mono = Math.max(mono, next.nextDeadline());
    const t0 = performance.now();
    const before = persists;
    sawVoteRequest = false;
    next.tick(at());
    drain(next);
    if (sawVoteRequest && campaignAt === null) {
      campaignAt = t0;
      persistsAtCampaign = before;
    }
    deliverAll();
    if (campaignAt !== null && members.some((m) => m.isLeader())) return { ms: performance.now() - campaignAt, persists: persists - persistsAtCampaign };
  }
  throw new Error('no leader after 10,000 steps');
}

// ------------------------------------------------------------------ run

const rawFile: number[] = [];
const rawMem: number[] = [];
for (let round = 0; round < 2; round++) {
  // Interleaved halves, so a disk that warms up or a neighbour that wakes up hits both.
  rawFile.push(...rawSaves(fileStore('raw')));
  rawMem.push(...rawSaves(new MemoryHardStateStore()));
}
const elFile: number[] = [];
const elMem: number[] = [];
let persistsPerElection = 0;
for (let i = 0; i < elections; i++) {
  const f = election('file', i);
  const m = election('memory', i);
  elFile.push(f.ms);
  elMem.push(m.ms);
  persistsPerElection = Math.max(persistsPerElection, f.persists);
}
rmSync(base, { recursive: true, force: true });

const row = (cells: string[]) => `| ${cells.join(' | ')} |\n`;
let out = `fsync cost, file store in ${values.dir ?? tmpdir()} (node ${process.version}, ${process.platform})\n\n`;
out += row(['measure', 'file p50 ms', 'file p99 ms', 'memory p50 ms', 'memory p99 ms', 'ratio p50']);
out += row(['---', '---', '---', '---', '---', '---']);
out += row([`save (n=${rawFile.length})`, ms(pct(rawFile, 50)), ms(pct(rawFile, 99)), ms(pct(rawMem, 50)), ms(pct(rawMem, 99)), `${(pct(rawFile, 50) / pct(rawMem, 50)).toFixed(0)}×`]);
out += row([`campaign → leader, 3 cores (n=${elections})`, ms(pct(elFile, 50)), ms(pct(elFile, 99)), ms(pct(elMem, 50)), ms(pct(elMem, 99)), `${(pct(elFile, 50) / pct(elMem, 50)).toFixed(1)}×`]);
out += `\nup to ${persistsPerElection} persists per election (term bumps and votes on all three members), each written before the messages that depend on it.\n`;
out += 'With real sockets the election also waits for the network and the timers; the file column is the floor a durable vote adds.\n';
process.stdout.write(out);
