/**
 * Reads the clock's quality from whichever daemon runs: chrony, then linuxptp, then
 * systemd-timesyncd. Every tool runs as a child process with a timeout (execFile, never
 * a synchronous spawn), so a hung daemon costs a timer, not the event loop. A tool that
 * is missing, times out, or finds no daemon passes to the next; when none answers the
 * clock is reported unsynchronised, saying what was tried.
 */
import { execFile } from 'node:child_process';
import { parseChronyTracking } from './chrony.js';
import { parsePmc } from './ptp.js';
import { UNSYNCHRONISED, type ClockQuality } from './quality.js';
import { parseTimedatectl } from './timesyncd.js';

export interface ToolResult {
  /** Exit status (null when it did not run to the end). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** 'missing': not installed (ENOENT); 'timeout': killed after the timeout. */
  failure?: 'missing' | 'timeout' | 'error';
}

export type ToolRunner = (cmd: string, args: string[], timeoutMs: number) => Promise<ToolResult>;

export const execTool: ToolRunner = (cmd, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
      if (e.code === 'ENOENT') return resolve({ code: null, stdout: '', stderr: '', failure: 'missing' });
      if (e.killed) return resolve({ code: null, stdout, stderr, failure: 'timeout' });
      resolve({ code: typeof e.code === 'number' ? e.code : null, stdout, stderr });
    });
  });

export interface ProbeOptions {
  run?: ToolRunner;
  /** Per tool, ms. Default 1000. */
  timeoutMs?: number;
}

type Attempt = { tool: string; outcome: string };

/** One reading of the clock's quality. Never throws. */
export async function probeClock(opts: ProbeOptions = {}): Promise<ClockQuality> {
  const run = opts.run ?? execTool;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const tried: Attempt[] = [];
  const note = (tool: string, r: ToolResult, fallback: string): void => {
    tried.push({ tool, outcome: r.failure === 'missing' ? 'not installed' : r.failure === 'timeout' ? `no answer in ${timeoutMs} ms` : fallback });
  };

  const chrony = await run('chronyc', ['-c', 'tracking'], timeoutMs);
  if (chrony.code === 0 && chrony.stdout.includes(',')) {
    try {
      return parseChronyTracking(chrony.stdout);
    } catch (err) {
      tried.push({ tool: 'chronyc', outcome: (err as Error).message });
    }
  } else note('chronyc', chrony, `chronyd not running (${(chrony.stdout + chrony.stderr).trim().split('\n')[0] || `exit ${chrony.code}`})`);

  const pmc = await run('pmc', ['-u', '-b', '0', 'GET TIME_STATUS_NP', 'GET CURRENT_DATA_SET', 'GET PORT_DATA_SET', 'GET TIME_PROPERTIES_DATA_SET'], timeoutMs);
  if (!pmc.failure && /RESPONSE MANAGEMENT/.test(pmc.stdout)) {
    try {
      return parsePmc(pmc.stdout);
    } catch (err) {
      tried.push({ tool: 'pmc', outcome: (err as Error).message });
    }
  } else note('pmc', pmc, 'ptp4l not running (no answer)');

  const show = await run('timedatectl', ['show'], timeoutMs);
  if (show.code === 0 && show.stdout.includes('NTPSynchronized=')) {
    const sync = await run('timedatectl', ['show-timesync'], timeoutMs);
    try {
      return parseTimedatectl(show.stdout, sync.code === 0 ? sync.stdout : null);
    } catch (err) {
      tried.push({ tool: 'timedatectl', outcome: (err as Error).message });
    }
  } else note('timedatectl', show, `no timedated (${(show.stderr || show.stdout).trim().split('\n')[0] || `exit ${show.code}`})`);

  return { ...UNSYNCHRONISED, detail: `unsynchronised: ${tried.map((a) => `${a.tool}: ${a.outcome}`).join('; ')}` };
}
