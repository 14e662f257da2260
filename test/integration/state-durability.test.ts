/**
 * A real `cohort agent` process refuses to start on damaged or lost state: it exits
 * 3 (environment) with one line naming the file (never a silent reset), and a bad
 * --state-dir is a one-line environment error.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seal } from '../../agent/runtime/hard-state-store.js';
import { CLI, REPO_ROOT } from './agent-cluster.js';

function agent(...args: string[]) {
  // Static discovery with no peers: the agent needs nothing but loopback; a good start is cut by the timeout.
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'agent', '--node', 'n1', '--group', 'G.a', '--discovery', 'static', '--log-level', 'warn', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NO_PRETTY_LOGS: '1' },
  });
  return { code: r.status, stderr: r.stderr.trim() };
}

t.test('damaged, lost and unusable state stop the agent with one clear line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-durability-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'n1', 'G.a+agent.json');
  mkdirSync(join(dir, 'n1'));

  writeFileSync(file, '{"format":1,"node":"n1","gr');
  const truncated = agent('--state-dir', dir);
  t.equal(truncated.code, 3, 'exits 3 (environment: a damaged file)');
  t.equal(truncated.stderr.split('\n').length, 1, `one line: ${truncated.stderr}`);
  t.match(truncated.stderr, `cohort agent: state file ${file}: is not valid JSON`);
  t.match(truncated.stderr, /--reset-state/);

  rmSync(file);
  writeFileSync(join(dir, 'n1', 'members.json'), seal({ format: 1, node: 'n1', members: [{ group: 'G.a', component: 'agent' }] }));
  const lost = agent('--state-dir', dir);
  t.equal(lost.code, 3);
  t.match(lost.stderr, new RegExp(`^cohort agent: state file ${file.replace(/[.+]/g, '\\$&')}: state for n1/agent in group G.a was recorded but its file is gone`));

  writeFileSync(join(dir, 'plain-file'), '');
  const notDir = agent('--state-dir', join(dir, 'plain-file'));
  t.equal(notDir.code, 3, 'an environment error');
  t.equal(notDir.stderr, `cohort agent: --state-dir ${join(dir, 'plain-file')} is not a directory: point it at a directory, or use --no-state`);
});
