/**
 * An idle agent loads only what it uses: started from flags (no config file), with static
 * peers, and never scraped, it does not load the YAML parser, prom-client, the mDNS stack,
 * systeminformation or MessagePack (together ~12 MiB of RSS, BENCHMARKS.md); the first
 * scrape of /metrics loads prom-client and answers. Which packages a process loads is read
 * with a module load hook (every ES module and the CommonJS packages entered from one).
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { freePorts } from '../../agent/free-port.js';
import { CLI, REPO_ROOT } from '../support/repo.js';

const HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
import { createRequire } from 'node:module';
register('data:text/javascript,' + encodeURIComponent("export async function load(url, ctx, next) { if (url.includes('/node_modules/')) process.stderr.write('LOADED ' + url + '\\\\n'); return next(url, ctx); }"));
// CommonJS packages required from CommonJS (createRequire) do not pass the hook: list them at exit.
process.on('exit', () => { for (const k of Object.keys(createRequire(import.meta.url).cache)) if (k.includes('/node_modules/')) process.stderr.write('LOADED ' + k + '\\n'); });
`)}`;

const LAZY = ['yaml', 'prom-client', 'bonjour-service', 'multicast-dns', 'systeminformation', '@msgpack/msgpack'];
const packagesIn = (out: string) => new Set([...out.matchAll(/^LOADED .*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]!).filter((p) => !['tsx', '@tapjs', 'tap', 'esbuild', 'get-tsconfig'].some((x) => p.startsWith(x))));

async function runAgent(t: Pick<typeof import('tap').default, 'ok' | 'equal' | 'match' | 'teardown'>, scrape: boolean): Promise<Set<string>> {
  const [bus, http] = await freePorts(2);
  const p = spawn(process.execPath, ['--import', HOOK, '--import', 'tsx', CLI, 'agent', '--node', 'lazy1', '--group', 'G.a', '--min-size', '1', '--bus-port', String(bus), '--peers', `127.0.0.1:${bus}`, '--http', `127.0.0.1:${http}`, '--timers', 'lan', '--no-state', '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_PRETTY_LOGS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => { if (p.exitCode === null) p.kill('SIGKILL'); });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = `http://127.0.0.1:${http}`;
  const t0 = performance.now();
  let status: { groups: Array<{ leader: string | null }> } | null = null;
  while (performance.now() - t0 < 30_000 && p.exitCode === null) {
    status = await fetch(`${url}/status`).then((r) => r.json() as Promise<typeof status>, () => null);
    if (status?.groups[0]?.leader) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(status?.groups[0]?.leader, 'the agent runs and leads its group');
  await new Promise((r) => setTimeout(r, 1500)); // a few samples, heartbeats, a board read
  if (scrape) {
    const res = await fetch(`${url}/metrics`);
    t.equal(res.status, 200, '/metrics answers');
    t.match(await res.text(), /cohort_group_is_leader\{[^}]*\} 1/, 'with the metrics');
  }
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  return packagesIn(err);
}

t.test('an idle agent started from flags does not load what it does not use', async (t) => {
  const loaded = await runAgent(t, false);
  t.ok(loaded.has('zeromq') && loaded.has('pino'), `the hook sees packages (${[...loaded].join(', ')})`);
  t.same(LAZY.filter((p) => loaded.has(p)), [], 'none of the lazily loaded packages');
});

t.test('the first /metrics scrape loads prom-client', async (t) => {
  const loaded = await runAgent(t, true);
  t.ok(loaded.has('prom-client'), 'prom-client loaded on the scrape');
});
