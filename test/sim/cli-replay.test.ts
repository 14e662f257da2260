/** `npm run sim -- --seed 42` replays one schedule with its full trace (no --verbose needed). */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts');
const sim = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

t.test('--seed prints every trace record; --brief only the summary', async (t) => {
  const full = sim('--seed', '42');
  t.equal(full.status, 0, full.stderr);
  const lines = full.stdout.trim().split('\n');
  t.match(lines[0], /plan ## seed 42: /, 'starts with the plan');
  t.ok(lines.filter((l) => / -> /.test(l)).length > 50, `every message sent is traced (${lines.length} lines)`);
  t.equal(lines.at(-1), 'seeds=1 violations=0');
  const brief = sim('--seed', '42', '--brief');
  t.equal(brief.status, 0);
  t.ok(brief.stdout.trim().split('\n').length <= 5, 'brief: the plan and the result');
});
