/**
 * An agent that starts and joins a group writes nothing to stderr but its own log lines:
 * it used to print a dozen Node warnings ("Socket option will not take effect until next
 * connect/bind") because the transport re-set ZMTP options on bound and connected sockets
 * when the group's timers arrived.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { CLI, REPO_ROOT } from '../support/repo.js';

t.test('cohort agent joining a group prints no Node warnings', async (t) => {
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'agent', '--node', 'quiet1', '--group', 'G.a', '--no-state', '--log-level', 'info'], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_PRETTY_LOGS: '1' },
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const started = performance.now();
  // Until it logged that the transport follows the group's timers (the moment the warnings came).
  while (!out.includes('transport heartbeat changed') && performance.now() - started < 30_000 && p.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500));
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  t.ok(out.includes('transport heartbeat changed'), 'the transport took the group timers');
  const warnings = out.split('\n').filter((l) => /Warning:/.test(l));
  t.same(warnings, [], 'no Node warnings');
});
