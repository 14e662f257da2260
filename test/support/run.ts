/** Run a Node process to its end and collect what it printed (tests of the CLI and the README). */
import { spawn } from 'node:child_process';

export interface NodeRun {
  /** Exit code; null when it was killed (e.g. still running at the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node ...args` in `cwd`, with plain (not pretty) logs. With `timeoutMs`, a process still
 * running then is killed with SIGKILL and resolves with code null: for an agent, "it started".
 */
export function runNode(args: string[], opts: { cwd: string; timeoutMs?: number }): Promise<NodeRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: opts.cwd, env: { ...process.env, NO_PRETTY_LOGS: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
