/**
 * No silent downgrade, and allow-list changes without a restart:
 * - `cohort agent` with keys that are missing, malformed, readable by others, or for
 *   another node prints one error line and exits with status 3, never running in plaintext;
 *   `cohort check` finds the same problems without starting;
 * - removing a peer's certificate from the allow-list of a running agent cuts that peer
 *   off (its links, and the connections it had already made), and restoring it lets it back.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import { Agent } from '../../agent/runtime/agent.js';
import { StaticDiscovery } from '../../discovery/static.js';
import { AllowList } from '../../agent/security/allow-list.js';
import { EXIT_SECURITY } from '../../agent/security/keys.js';
import { PeerSecurity } from '../../agent/security/peer-security.js';
import { CLI, freePorts } from './agent-cluster.js';
import { secureFleet } from './secure-fleet.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

t.test('unusable keys: one error line, exit status 3, never plaintext', async (t) => {
  const fleet = secureFleet(t, ['a', 'b']);
  const allow = fleet.allowDir(['b']);
  const run = (keys: string, extra: string[] = []) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'agent', '--node', 'a', '-g', 'G.a', '--no-state', '--keys', keys, '--allow', allow, '--log-level', 'error', ...extra], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stderr: r.stderr.trim() };
  };
  const missing = run(join(fleet.dir, 'nowhere'));
  t.equal(missing.status, EXIT_SECURITY, 'missing keys: exit 3');
  t.match(missing.stderr, /^cohort agent: --keys .*nowhere does not exist$/, `one line: ${missing.stderr}`);
  const secret = join(fleet.dir, 'a', 'a.key_secret');
  chmodSync(secret, 0o644);
  const open = run(join(fleet.dir, 'a'));
  t.equal(open.status, EXIT_SECURITY, 'secret readable by others: exit 3');
  t.match(open.stderr, /mode 0644: others can read it/);
  chmodSync(secret, 0o600);
  t.match(run(join(fleet.dir, 'b')).stderr, /is for node "b", but this agent is node "a"/, 'another node\'s key');
  const bad = join(fleet.dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'a.key_secret'), 'curve\n    secret-key = "x"\n', { mode: 0o600 });
  const malformed = run(bad);
  t.equal(malformed.status, EXIT_SECURITY, 'malformed: exit 3');
  t.match(malformed.stderr, /is malformed/);
  const unnamed = run(join(fleet.dir, 'a'), ['--peers', '127.0.0.1:7001']);
  t.equal(unnamed.status, 2, 'static peers without names in secure mode: a config error');
  t.match(unnamed.stderr, /name each static peer as NAME@host:port/);
});

t.test('cohort check loads the keys and the allow-list as the agent would', async (t) => {
  const fleet = secureFleet(t, ['a', 'b']);
  const allow = fleet.allowDir(['b']);
  const check = (keys: string, allowDir = allow) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'check', '--node', 'a', '-g', 'G.a', '--no-state', '--keys', keys, '--allow', allowDir], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
  };
  const good = check(join(fleet.dir, 'a'));
  t.equal(good.status, 0, `good keys: ${good.stderr}`);
  t.match(good.stdout, /security: {3}CURVE, keys .*a\.key_secret \(public key \S{40}\), 1 allowed peer: b/);
  const missing = check(join(fleet.dir, 'nowhere'));
  t.equal(missing.status, EXIT_SECURITY, 'missing keys: the agent\'s exit status');
  t.match(missing.stderr, /^cohort check: --keys .*nowhere does not exist$/, `one line: ${missing.stderr}`);
  t.match(check(join(fleet.dir, 'b')).stderr, /is for node "b", but this agent is node "a"/, 'another node\'s key');
  const broken = fleet.allowDir([], 'allow-broken');
  writeFileSync(join(broken, 'x.key'), 'not a certificate\n');
  const badAllow = check(join(fleet.dir, 'a'), broken);
  t.equal(badAllow.status, EXIT_SECURITY, 'a broken allow-list certificate');
  t.match(badAllow.stderr, /^cohort check: allow-list certificate .*x\.key: /, badAllow.stderr);
});

t.test('removing a certificate cuts the peer off at once; restoring it lets it back', async (t) => {
  const fleet = secureFleet(t, ['a', 'b', 'c']);
  const ports = await freePorts(3);
  const peers = ['a', 'b', 'c'].map((n, i) => `${n}@127.0.0.1:${ports[i]}`);
  const allowOf = { a: fleet.allowDir(['b', 'c'], 'allow-a'), b: fleet.allowDir(['a', 'c'], 'allow-b'), c: fleet.allowDir(['a', 'b'], 'allow-c') };
  const agents = (['a', 'b', 'c'] as const).map((n, i) => {
    const keys = fleet.keys(n);
    const security = new PeerSecurity(keys, new AllowList(allowOf[n], keys, quiet), quiet);
    const agent = new Agent({ node: n, busPort: ports[i], discovery: new StaticDiscovery(peers), security });
    t.teardown(() => agent.stop());
    return agent;
  });
  await Promise.all(agents.map((a) => a.start()));
  const groups = agents.map((a) => a.join('agent', 'G', 'a', { minSize: 2, timers: TIMER_PRESETS.lan }));
  const waitSizes = async (sizes: number[], what: string) => {
    const start = performance.now();
    while (!groups.every((g, i) => g.size() === sizes[i])) {
      if (performance.now() - start > 15_000) throw new Error(`timed out: ${what} (sizes ${groups.map((g) => g.size())})`);
      await sleep(50);
    }
    return performance.now() - start;
  };
  await waitSizes([3, 3, 3], 'three members');
  // c is removed from a's and b's allow-lists (the way an operator would: delete the file).
  const t0 = performance.now();
  for (const n of ['a', 'b'] as const) renameSync(join(allowOf[n], 'c.key'), join(allowOf[n], 'c.key.removed'));
  const cut = await waitSizes([2, 2, 1], 'c cut off');
  t.pass(`c dropped by a and b, and alone itself, ${Math.round(performance.now() - t0)} ms after its certificate went (${Math.round(cut)} ms of waiting)`);
  const st = agents[0]!.status();
  if (st.security?.mode === 'curve') t.notOk(st.security.peers.some((p) => p.name === 'c' && p.admitted), 'a no longer admits c');
  for (const n of ['a', 'b'] as const) renameSync(join(allowOf[n], 'c.key.removed'), join(allowOf[n], 'c.key'));
  await waitSizes([3, 3, 3], 'c back');
  t.pass('c back in after its certificate was restored');
});
