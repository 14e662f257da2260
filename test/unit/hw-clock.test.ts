/**
 * Clock-quality parsers on the recorded (and, where a daemon would have had to step
 * this machine's clock, constructed) outputs in hw/clock/fixtures/ (see its README),
 * and the probe's fall-through: daemon not running, tool missing, timeout.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseChronyTracking } from '../../hw/clock/chrony.js';
import { parsePmc } from '../../hw/clock/ptp.js';
import { parseTimedatectl, parseTimespanMs } from '../../hw/clock/timesyncd.js';
import { probeClock, type ToolResult, type ToolRunner } from '../../hw/clock/probe.js';
import { ClockParseError } from '../../hw/clock/quality.js';

const fx = (name: string): string => readFileSync(new URL(`../../hw/clock/fixtures/${name}`, import.meta.url), 'utf8');

t.test('chrony: synchronised, local reference, unsynchronised, leap pending', async (t) => {
  const s = parseChronyTracking(fx('chrony-synchronised.csv'));
  t.equal(s.source, 'chrony');
  t.equal(s.synchronised, true);
  // |-0.000000850| + 0.000000695 + 0.000006126 / 2 s = 0.004608 ms
  t.ok(s.errorMs !== null && Math.abs(s.errorMs - 0.004608) < 1e-6, `error bound from offset, dispersion and delay: ${s.errorMs}`);
  t.equal(s.leapPending, null);
  t.match(s.detail, /stratum 9 via 127\.0\.0\.1/);
  const local = parseChronyTracking(fx('chrony-local-reference.csv'));
  t.equal(local.synchronised, true);
  t.match(local.detail, /local reference/);
  const u = parseChronyTracking(fx('chrony-unsynchronised.csv'));
  t.same([u.synchronised, u.errorMs], [false, null], 'unsynchronised: no bound at all');
  t.equal(parseChronyTracking(fx('chrony-leap-pending.csv')).leapPending, 'insert');
  t.throws(() => parseChronyTracking(fx('chrony-daemon-not-running.txt')), ClockParseError, 'the daemon-not-running text is not tracking data');
  t.throws(() => parseChronyTracking('a,b,c,d,e,f,g,h,i,j,k,l,m,Normal'), ClockParseError, 'non-numeric fields are refused');
});

t.test('ptp (pmc): synchronised, uncalibrated, grandmaster, leap pending, no ptp4l', async (t) => {
  const s = parsePmc(fx('pmc-synchronised.txt'));
  t.same([s.source, s.synchronised], ['ptp', true]);
  t.ok(s.errorMs !== null && Math.abs(s.errorMs - (38 + 2388) / 1e6) < 1e-9, `offset + path delay: ${s.errorMs}`);
  const u = parsePmc(fx('pmc-uncalibrated.txt'));
  t.same([u.synchronised, u.errorMs], [false, null]);
  t.match(u.detail, /UNCALIBRATED/);
  const gm = parsePmc(fx('pmc-grandmaster.txt'));
  t.equal(gm.synchronised, false, 'an untraceable grandmaster is no reference');
  t.match(gm.detail, /grandmaster/);
  t.equal(parsePmc(fx('pmc-leap-pending.txt')).leapPending, 'insert');
  const none = parsePmc(fx('pmc-daemon-not-running.txt'));
  t.same([none.synchronised, none.detail], [false, 'ptp: no answer from ptp4l (not running)']);
  t.throws(() => parsePmc('garbage'), ClockParseError);
});

t.test('timesyncd (timedatectl): synchronised, unsynchronised, leap pending', async (t) => {
  const s = parseTimedatectl(fx('timedatectl-show-synchronised.txt'), fx('timedatectl-timesync-synchronised.txt'));
  t.same([s.source, s.synchronised, s.leapPending], ['timesyncd', true, null]);
  t.ok(s.errorMs !== null && Math.abs(s.errorMs - (1.235 + 12.42 / 2)) < 1e-9, `dispersion + delay/2: ${s.errorMs}`);
  t.match(s.detail, /0\.debian\.pool\.ntp\.org, stratum 2/);
  const u = parseTimedatectl(fx('timedatectl-show-unsynchronised.txt'), fx('timedatectl-timesync-synchronised.txt'));
  t.same([u.synchronised, u.errorMs], [false, null]);
  t.equal(parseTimedatectl(fx('timedatectl-show-synchronised.txt'), fx('timedatectl-timesync-leap-pending.txt')).leapPending, 'insert');
  t.equal(parseTimedatectl(fx('timedatectl-show-synchronised.txt'), null).errorMs, null, 'no show-timesync: synchronised without a bound');
  t.throws(() => parseTimedatectl(fx('timedatectl-no-systemd.txt'), null), ClockParseError);
  t.same([parseTimespanMs('244us'), parseTimespanMs('1.5ms'), parseTimespanMs('1min 3s'), parseTimespanMs('0'), parseTimespanMs('soon')], [0.244, 1.5, 63_000, 0, null]);
});

/** A runner answering from a table: tool name → result (absent → missing). */
function runner(table: Record<string, ToolResult | (() => Promise<ToolResult>)>): ToolRunner & { calls: string[] } {
  const calls: string[] = [];
  const fn = (async (cmd: string, args: string[]) => {
    const key = `${cmd} ${args[0] ?? ''}`.trim();
    calls.push(key);
    const r = table[key] ?? table[cmd];
    if (r === undefined) return { code: null, stdout: '', stderr: '', failure: 'missing' } as ToolResult;
    return typeof r === 'function' ? r() : r;
  }) as unknown as ToolRunner & { calls: string[] };
  fn.calls = calls;
  return fn;
}
const ok = (stdout: string): ToolResult => ({ code: 0, stdout, stderr: '' });

t.test('probe: chrony first; each daemon not running or tool missing falls through; none → unsynchronised', async (t) => {
  t.equal((await probeClock({ run: runner({ chronyc: ok(fx('chrony-synchronised.csv')) }) })).source, 'chrony');
  const notRunning = runner({
    chronyc: { code: 1, stdout: fx('chrony-daemon-not-running.txt'), stderr: '' },
    pmc: ok(fx('pmc-daemon-not-running.txt')),
    'timedatectl show': ok(fx('timedatectl-show-synchronised.txt')),
    'timedatectl show-timesync': ok(fx('timedatectl-timesync-synchronised.txt')),
  });
  const q = await probeClock({ run: notRunning });
  t.equal(q.source, 'timesyncd', 'chronyd and ptp4l not running: timesyncd answers');
  t.same(notRunning.calls, ['chronyc -c', 'pmc -u', 'timedatectl show', 'timedatectl show-timesync']);
  t.equal((await probeClock({ run: runner({ pmc: ok(fx('pmc-synchronised.txt')) }) })).source, 'ptp', 'chronyc missing: ptp4l answers');
  const none = await probeClock({ run: runner({ timedatectl: { code: 1, stdout: '', stderr: fx('timedatectl-no-systemd.txt') } }) });
  t.same([none.source, none.synchronised, none.errorMs], ['none', false, null]);
  t.match(none.detail, /chronyc: not installed; pmc: not installed; timedatectl: no timedated \(System has not been booted with systemd/);
});

t.test('probe: a tool that hangs is abandoned after the timeout (real child process)', async (t) => {
  const { execTool } = await import('../../hw/clock/probe.js');
  const t0 = Date.now();
  const r = await execTool('sleep', ['5'], 150);
  t.equal(r.failure, 'timeout');
  t.ok(Date.now() - t0 < 3000, 'returned long before the tool would have');
  t.equal((await execTool('no-such-tool-cohort', [], 500)).failure, 'missing');
});

t.test('probe on this machine: answers without throwing', async (t) => {
  const q = await probeClock({ timeoutMs: 2000 });
  t.ok(['chrony', 'ptp', 'timesyncd', 'none'].includes(q.source), `${q.source}: ${q.detail}`);
});
