/**
 * `cohort agent` start-up failures, as a fleet engineer meets them: each is one line on
 * stderr naming the flag or field, the value and what to do, and an exit code by class
 * (2 usage/config, 3 environment, 4 runtime; README "Exit codes"). No stack traces.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO_ROOT } from './agent-cluster.js';
import { runNode } from '../support/run.js';

interface Run {
  code: number | null;
  stderr: string;
  stdout: string;
}

/** Run the CLI; a process still running after `ms` is killed (code null: it started). */
async function cohort(args: string[], ms = 20_000): Promise<Run> {
  const r = await runNode(['--import', 'tsx', CLI, ...args], { cwd: REPO_ROOT, timeoutMs: ms });
  return { ...r, stderr: r.stderr.trim() };
}

/** The agent's own lines on stderr, without Node's process warnings (zeromq's socket-option notices). */
function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l && !/^\(node:\d+\) Warning:|^\(Use `node --trace-warnings/.test(l));
}

const base = ['agent', '--node', 'n1', '--group', 'Sensors.north', '--no-state', '--discovery', 'static', '--log-level', 'warn'];

/** One case: run the CLI, check code, one line, pattern, no stack. A subtest's cases run side by side. */
async function expectFailure(t: Test, args: string[], code: number, pattern: RegExp, what: string): Promise<void> {
  const r = await cohort(args);
  const lines = ownLines(r.stderr);
  t.equal(r.code, code, `${what}: exit ${code}`);
  t.equal(lines.length, 1, `${what}: one line (${JSON.stringify(lines)})`);
  t.match(lines[0] ?? '', pattern, `${what}: ${lines[0]}`);
  t.notMatch(r.stderr + r.stdout, /\n\s+at /, `${what}: no stack trace`);
}

function holdPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : 0 });
    });
  });
}

t.test('configuration and usage errors exit 2, naming the flag and the value', async (t) => {
  const cases: Array<Promise<void>> = [];
  cases.push(expectFailure(t, [...base, '--http', '127.0.0.1:99999'], 2, /^cohort agent: --http "127\.0\.0\.1:99999" has a bad port "99999" \(0\.\.65535\)/, '--http port out of range'));
  cases.push(expectFailure(t, [...base, '--peers', 'garbage'], 2, /^cohort agent: --peers entry "garbage" has no ":PORT": list the other agents' bus endpoints as HOST:PORT/, '--peers garbage'));
  cases.push(expectFailure(t, [...base, '--listen', '0.0.0.0'], 2, /^cohort agent: --listen 0\.0\.0\.0 binds every interface, so peers need an address to dial: set --advertise/, '--listen 0.0.0.0 alone'));
  cases.push(expectFailure(t, ['agent', '--node', 'n1', '--group', 'Sensors.1x', '--no-state'], 2, /--group "Sensors\.1x" must be a group name .*each part must start with a letter or _.*: the instance "1x" starts with "1"/, 'group Sensors.1x'));
  cases.push(expectFailure(t, [...base, '--bogus'], 2, /^error: unknown option '--bogus'/, 'unknown flag'));
  const dir = mkdtempSync(join(tmpdir(), 'cohort-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'node: n1\ngroups: [Sensors.north]\nhttp: localhost\n');
  cases.push(expectFailure(t, ['agent', '-c', cfg, '--no-state'], 2, /^cohort agent: http "localhost" has no ":PORT"/, 'config file field named as in the file'));
  await Promise.all(cases);
});

t.test('environment errors exit 3: ports in use, addresses, state directories, module files', async (t) => {
  const held = await holdPort();
  t.teardown(() => held.server.close());
  const p = String(held.port);
  const cases: Array<Promise<void>> = [];
  cases.push(expectFailure(t, [...base, '--bus-port', p], 3, new RegExp(`^cohort agent: --bus-port ${p}: the port is already in use .*pick another port, or 0`), 'bus port in use'));
  cases.push(expectFailure(t, [...base, '--direct-port', p], 3, new RegExp(`^cohort agent: --direct-port ${p}: the port is already in use`), 'direct port in use'));
  cases.push(expectFailure(t, [...base, '--http', `127.0.0.1:${p}`], 3, new RegExp(`^cohort agent: --http 127\\.0\\.0\\.1:${p}: the port is already in use`), 'http port in use'));
  cases.push(expectFailure(t, [...base, '--listen', '10.255.254.253'], 3, /^cohort agent: --listen 10\.255\.254\.253: cannot bind: this machine has no such address/, 'an address this machine lacks'));

  const dir = mkdtempSync(join(tmpdir(), 'cohort-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const stateArgs = base.filter((a) => a !== '--no-state');
  cases.push(expectFailure(t, [...stateArgs, '--state-dir', file], 3, /^cohort agent: --state-dir .*a-file is not a directory: point it at a directory, or use --no-state$/, 'state dir is a file'));
  // Root writes anywhere a mode allows nobody to: use a directory the kernel refuses (sysfs).
  const readOnly = process.getuid?.() === 0 ? '/sys/cohort-not-writable' : '/proc/cohort-not-writable';
  cases.push(expectFailure(t, [...stateArgs, '--state-dir', readOnly], 3, /^cohort agent: --state-dir \/(sys|proc)\/cohort-not-writable is not a writable directory \(E[A-Z]+\): fix its permissions/, 'state dir not writable'));
  cases.push(expectFailure(t, [...base, '--component', join(dir, 'missing.mjs')], 3, /^cohort agent: --component: component component1: module .*missing\.mjs does not exist/, 'component module missing'));
  await Promise.all(cases);
});

t.test('a broken component module: load and export errors exit 2, a throwing constructor exits 4', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'syntax.mjs'), 'export default class { constructor( {\n');
  writeFileSync(join(dir, 'named.mjs'), 'export class Sensor {}\n');
  writeFileSync(join(dir, 'throws.mjs'), "export default class { constructor() { throw new Error('no sensor on the bus'); } }\n");
  const cases: Array<Promise<void>> = [];
  cases.push(expectFailure(t, [...base, '--component', join(dir, 'syntax.mjs')], 2, /^cohort agent: --component: component component1: module .*syntax\.mjs failed to load: SyntaxError/, 'syntax error'));
  cases.push(expectFailure(t, [...base, '--component', join(dir, 'named.mjs')], 2, /has no exported class "default" \(it exports "Sensor"\); set the component's export field/, 'wrong export'));
  cases.push(expectFailure(t, [...base, '--component', join(dir, 'throws.mjs')], 4, /^cohort agent: --component: component component1: its constructor threw: no sensor on the bus$/, 'constructor throws'));
  await Promise.all(cases);
});

t.test('a failure after start (an uncaught error) exits 4 with one line, the stack in the log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'later.mjs'), "export default class { onActivate() { setTimeout(() => { throw new Error('sensor bus gone'); }, 200); } }\n");
  const r = await cohort([...base, '--component', join(dir, 'later.mjs')]);
  t.equal(r.code, 4, 'exit 4 (runtime)');
  t.same(ownLines(r.stderr), ['cohort agent: agent failed: sensor bus gone (the stack is in the log)']);
  t.match(r.stdout, /"level":60.*"stack":"Error: sensor bus gone/, 'the stack is in the log, at fatal');
});

t.test('the stack of a start-up failure is in the debug log only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'throws.mjs'), "export default class { constructor() { throw new Error('boom'); } }\n");
  const args = [...base.filter((a) => a !== 'warn' && a !== '--log-level'), '--component', join(dir, 'throws.mjs')];
  const quiet = await cohort(args);
  t.notMatch(quiet.stdout, /"stack"/, 'no stack at the default level');
  const debug = await cohort([...args, '--log-level', 'debug']);
  t.equal(debug.code, 4);
  t.match(debug.stdout, /"msg":"start-up failed"/, 'debug log has the failure');
  t.match(debug.stdout, /"stack":"ComponentError/, 'with its stack');
});

t.test('cohort check validates without starting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'sensor.mjs'), 'export default class Sensor { constructor(ctx) { this.ctx = ctx; } }\n');
  writeFileSync(join(dir, 'good.yaml'), `node: n1\nstateDir: ${join(dir, 'state')}\ngroups: [Sensors.north]\ncomponents:\n  - { name: sensor, module: ./sensor.mjs, groups: [Sensors.north] }\n`);
  const good = await cohort(['check', '-c', join(dir, 'good.yaml')]);
  t.equal(good.code, 0, good.stderr);
  t.match(good.stdout, /^ok: .*good\.yaml is a valid configuration for node n1/);
  t.match(good.stdout, /groups: +Sensors\.north \(agent\), Sensors\.north \(sensor\)/);
  t.notOk(existsSync(join(dir, 'state')), 'check created no state directory');

  writeFileSync(join(dir, 'bad.yaml'), 'node: n1\ngroups: [Sensors.north]\ncomponents:\n  - { name: sensor, module: ./sensor.mjs, export: Sensor, groups: [Sensors.north] }\n');
  const bad = await cohort(['check', '-c', join(dir, 'bad.yaml'), '--no-state']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^cohort check: components\[0\]: component sensor: .*has no exported class "Sensor" \(it exports "default"\)/);

  const held = await holdPort();
  t.teardown(() => held.server.close());
  const busy = await cohort(['check', '-c', join(dir, 'good.yaml'), '--bus-port', String(held.port)]);
  t.equal(busy.code, 3);
  t.match(busy.stderr, new RegExp(`^cohort check: --bus-port ${held.port}: the port is already in use`));
});

t.test('--version and --help', async (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  const v = await cohort(['--version']);
  t.equal(v.code, 0);
  t.equal(v.stdout.trim(), `${pkg.name} ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})`, 'version read from package.json');
  const help = await cohort(['agent', '--help']);
  t.equal(help.code, 0);
  for (const d of ['(default: 127.0.0.1)', '(default: 2)', '(default: riaps)', '(default: abstain)', '(default: info)', '(default: off)']) t.ok(help.stdout.replace(/\s+/g, ' ').includes(d), `help shows ${d}`);
});
