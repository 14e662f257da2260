/**
 * The README's code cannot drift from the code: this test takes the blocks out of
 * README.md and runs them.
 *  - The API example (`## The API`, the first ```ts block) runs as board-7 against two
 *    `cohort agent` processes playing board-5 and board-6. Only what cannot exist on one
 *    machine is replaced, and each replacement must find its text (so a changed example
 *    fails here rather than silently running something else): the package name by the
 *    source entry, the 10.0.0.x boards by 127.0.0.1 with one bus port each, 0.0.0.0 by
 *    127.0.0.1, /var/lib/cohort by a temporary directory.
 *  - The configuration examples (`### Configuration file`, its ```yaml blocks) are
 *    validated as written (every field, in-process), then with `cohort check` next to the
 *    component example (`### Hosted components`, its ```js block, saved as the module the
 *    config names), with only the machine-specific values overridden by flags.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../agent/config.js';
import { CLI, REPO_ROOT, freePorts, startCluster } from './agent-cluster.js';
import { runNode, type NodeRun } from '../support/run.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const PKG = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string };

/** The code blocks of language `lang` in the section that starts with `heading` (up to the next heading of its level or higher). */
function blocks(heading: string, lang: string): string[] {
  const lines = README.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README has no section ${JSON.stringify(heading)}`);
  const level = /^#+/.exec(heading)![0].length;
  const out: string[] = [];
  let fence: string[] | null = null;
  let fenceLang = '';
  for (const line of lines.slice(start + 1)) {
    if (fence === null && /^#+ /.test(line) && /^#+/.exec(line)![0].length <= level) break;
    if (line.startsWith('```')) {
      if (fence === null) {
        fence = [];
        fenceLang = line.slice(3).trim();
      } else {
        if (fenceLang === lang) out.push(`${fence.join('\n')}\n`);
        fence = null;
      }
    } else fence?.push(line);
  }
  return out;
}

function replaceExactly(text: string, from: string | RegExp, to: string, t: Tap): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  t.ok(found, `the example still contains ${String(from)}`);
  return typeof from === 'string' ? text.split(from).join(to) : text.replace(new RegExp(from.source, from.flags.includes('g') ? from.flags : `${from.flags}g`), to);
}
type Tap = Pick<typeof t, 'ok'>;

function run(cmd: string[], cwd: string, timeoutMs: number): Promise<NodeRun> {
  return runNode(cmd, { cwd, timeoutMs });
}

t.test('the API example runs against a small local group', async (t) => {
  const [example] = blocks('## The API', 'ts');
  t.ok(example, 'the README has an API example');
  const dir = mkdtempSync(join(tmpdir(), 'cohort-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [p7] = await freePorts(1);
  // board-5 and board-6: real agents that vote yes, with the example's group and timers.
  const c = await startCluster(t, [
    { node: 'board-5', groups: ['Sensors.north'], timers: 'riaps', autoVote: 'yes' },
    { node: 'board-6', groups: ['Sensors.north'], timers: 'riaps', autoVote: 'yes' },
  ], { extraPeers: [`127.0.0.1:${p7}`] });
  const peerOf = (i: number) => `127.0.0.1:${c.agent(i).busPort}`;
  let code = example!;
  code = replaceExactly(code, `from '${PKG.name}'`, `from '${join(REPO_ROOT, 'agent/api/index.ts')}'`, t);
  code = replaceExactly(code, "'10.0.0.5:7001'", `'${peerOf(0)}'`, t);
  code = replaceExactly(code, "'10.0.0.6:7001'", `'${peerOf(1)}'`, t);
  code = replaceExactly(code, "'10.0.0.7:7001'", `'127.0.0.1:${p7}'`, t);
  code = replaceExactly(code, "busPort: 7001", `busPort: ${p7}`, t);
  code = replaceExactly(code, "'0.0.0.0'", "'127.0.0.1'", t);
  code = replaceExactly(code, "'10.0.0.7'", "'127.0.0.1'", t);
  code = replaceExactly(code, "'/var/lib/cohort'", JSON.stringify(join(dir, 'state')), t);
  t.notMatch(code, /10\.0\.0\.|0\.0\.0\.0|\/var\/lib/, 'nothing off this machine is left');
  writeFileSync(join(dir, 'example.mts'), code);
  const r = await run(['--import', 'tsx', join(dir, 'example.mts')], REPO_ROOT, 90_000);
  t.equal(r.code, 0, `the example exits 0\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  t.match(r.stdout, /^leader board-\d\/agent term \d+$/m, 'it saw the leader');
  t.match(r.stdout, /^message board-7\/sensor \{ reading: 21\.5 \}/m, 'its group message came back');
  t.match(r.stdout, /^vote board-7\/sensor#\d+\.1 yes /m, 'the majority vote passed');
  t.match(r.stdout, /^action open-valve late by \d+\.\d\d ms$/m, 'the action fired');
  const fired = await c.waitForEvent(0, (e) => e.type === 'action' && e.action === 'open-valve', 10_000);
  t.ok(fired, 'and fired on board-5 too');
});

t.test('the configuration examples validate, with the component example as their module', async (t) => {
  const yamls = blocks('### Configuration file', 'yaml');
  t.equal(yamls.length, 2, 'two configuration examples');
  const [component] = blocks('### Hosted components', 'js');
  t.ok(component, 'a component example');
  const dir = mkdtempSync(join(tmpdir(), 'cohort-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const iface = Object.entries(networkInterfaces()).find(([, addrs]) => addrs?.some((a) => a.family === 'IPv4'))?.[0] ?? 'lo';
  for (const [i, yaml] of yamls.entries()) {
    const file = join(dir, `example-${i + 1}.yaml`);
    writeFileSync(file, yaml!);
    const doc = parseYaml(yaml!) as { components?: Array<{ module: string }> };
    for (const c of doc.components ?? []) writeFileSync(join(dir, c.module), component!);
    // As written: every field, every value (nothing of the machine is touched).
    t.doesNotThrow(() => loadConfig(file), `example ${i + 1} is valid as written`);
    // Through the CLI, with this machine's state dir, ports and interface.
    const args = ['--import', 'tsx', CLI, 'check', '-c', file, '--state-dir', join(dir, 'state'), '--bus-port', '0', '--direct-port', '0'];
    if (/^http:/m.test(yaml!)) args.push('--http', '127.0.0.1:0');
    if (/^interface:/m.test(yaml!)) args.push('--interface', iface);
    const r = await run(args, REPO_ROOT, 30_000);
    t.equal(r.code, 0, `cohort check accepts example ${i + 1}: ${r.stderr}`);
    t.match(r.stdout, /^ok: /, r.stdout);
  }
});
