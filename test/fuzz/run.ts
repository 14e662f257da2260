/**
 * `npm run fuzz -- --frames N [--seed S] [--rate R] [--mode plaintext|curve|both]`: the long
 * fuzz run (default 10^6 frames per mode). Prints frames, drops per reason, RSS before and
 * after, and whether the group kept its leader; exits 1 if an agent died or the group did
 * not recover a leader.
 */
import { parseArgs } from 'node:util';
import { runFuzz, type FuzzReport } from './fuzzer.js';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '1000000' }, seed: { type: 'string', default: '1' }, rate: { type: 'string', default: '20000' }, mode: { type: 'string', default: 'both' } } });
const teardowns: (() => unknown)[] = [];
const host = { teardown: (fn: () => unknown) => void teardowns.push(fn) };
const modes = values.mode === 'both' ? [false, true] : [values.mode === 'curve'];
let ok = true;
try {
  for (const secure of modes) {
    const r: FuzzReport = await runFuzz(host, { secure, frames: Number(values.frames), seed: Number(values.seed), rate: Number(values.rate), log: (l) => console.log(`[${secure ? 'curve' : 'plaintext'}] ${l}`) });
    console.log(JSON.stringify(r, null, 2));
    ok &&= r.alive && r.targetAfter?.leader != null && (!secure || (r.after?.leader === r.before.leader && r.after?.term === r.before.term));
    for (const fn of teardowns.splice(0).reverse()) await fn();
  }
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
process.exit(ok ? 0 : 1);
