/**
 * `cohort demo` as a new user runs it (small and fast here: 3 agents, lan timers): every
 * step passes, steps are numbered once each, and formation time is one figure.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { CLI, REPO_ROOT } from './agent-cluster.js';

t.test('the demo narrates numbered steps and one formation time', async (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'demo', '-n', '3', '--timers', 'lan', '--quiet'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `demo exits 0\n${r.stdout}\n${r.stderr}`);
  const steps = r.stdout.split('\n').flatMap((l) => /^(\d+)\. /.exec(l)?.[1] ?? []);
  t.same(steps, ['1', '2', '3', '4', '5', '6'], 'steps 1..6, each once');
  const figures = [...r.stdout.matchAll(/(\d+) ms after the agents were started/g)].map((m) => m[1]);
  t.equal(figures.length, 2, 'formation time in step 1 and the summary');
  t.equal(figures[0], figures[1], 'the same figure both times');
  t.match(r.stdout, /Summary: all steps passed/);
});
