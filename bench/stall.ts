/**
 * The stall case, fixed timers against adaptive ones: 3 agents with `lan`
 * timers, each component blocking its loop 700 ms every 3 s while its member leads.
 * Usage: npm run bench:stall -- [--minutes 3]
 * Prints leader changes per minute after the first minute, for each.
 */
import { parseArgs } from 'node:util';
import { changesPerMinute, runStall } from '../test/integration/stall-scenario.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '3' } } });
const durationMs = Number(values.minutes) * 60_000;
const rows = [];
for (const adapt of [false, true]) {
  const run = await runStall({ adapt, durationMs });
  rows.push({
    timers: adapt ? 'adaptive (default)' : 'fixed (adapt: false)',
    'changes, first minute': run.changes.filter((c) => c < 60_000).length,
    'changes after': run.changes.filter((c) => c >= 60_000).length,
    'per minute after the first': changesPerMinute(run).toFixed(2),
    'final scales': run.scales.join(' '),
  });
}
console.table(rows);
