/**
 * The device-image bundles, end to end (`npm run test:arm`; part of `npm test`):
 *
 * 1. `npm run bundle -- --arch x64,arm64,armv7` writes one tarball per architecture this
 *    machine can build and run, and prints their paths;
 * 2. each bundle's install.sh installs into an empty root directory (timed), and again as an
 *    upgrade that keeps the config and the state;
 * 3. a group of agents started from the INSTALLED trees — three x64, one arm64 and one armv7,
 *    the ARM ones under qemu user-mode emulation — forms, votes, agrees on an action that
 *    fires on every member, and follows a leader failover after SIGKILL.
 *
 * Startup, failover, RSS and CPU of each agent are printed as comments and written to
 * test/arm/results/last-run.json. The emulated figures are qemu's, on a shared 2-core x64
 * machine: far slower than a board's own CPU for startup and CPU, and RSS includes qemu's
 * code cache. Architectures whose tools are missing are skipped with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { BundleArch } from '../../tools/bundle.js';
import { REPO_ROOT } from '../../tools/bundle.js';
import { startCluster, waitFor, type AgentCluster, type LoggedEvent } from '../integration/agent-cluster.js';
import { cpuSeconds, runProblem, runner } from './emulation.js';

// Bounded: ~3 min with the Node packages cached, more on a cold cache (downloads, the armv7 addon build).
t.setTimeout(900_000);

const ALL: BundleArch[] = ['x64', 'arm64', 'armv7'];
const arches = ALL.filter((a) => runProblem(a) === null);
// A skipped test per architecture that cannot be built and run here, with the reason (the tool
// and the apt package that brings it): tap's summary lists it, so a run without the tools says so.
for (const a of ALL) {
  const problem = runProblem(a);
  if (problem) t.test(`${a} bundle: built, installed and run in the group`, { skip: `${a}: ${problem}` }, () => {});
}
const G = 'Boards.bench';
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** What an installed agent gets on top of this process's environment (the runner's hooks are dropped by runner().launch). */
const BOARD_ENV = { NODE_ENV: 'production' };

const work = mkdtempSync(join(tmpdir(), 'cohort-arm-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

interface Installed {
  arch: BundleArch;
  tarball: string;
  bytes: number;
  root: string;
  home: string;
  installSeconds: number;
}
const installed = new Map<BundleArch, Installed>();
const figures: Record<string, unknown> = { when: new Date().toISOString(), host: `${process.platform} ${process.arch}, ${process.version}`, note: 'ARM figures are under qemu user-mode emulation on a shared 2-core x64 machine, not on a board' };

t.test('npm run bundle writes a tarball per architecture and prints its path', { skip: arches.length === 0 ? 'nothing can run here' : false }, async (t) => {
  const out = join(work, 'bundles');
  const t0 = performance.now();
  const r = spawnSync('npm', ['run', '--silent', 'bundle', '--', '--arch', arches.join(','), '--out', out], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 600_000 });
  figures.bundleBuildSeconds = Math.round((performance.now() - t0) / 100) / 10;
  t.equal(r.status, 0, `npm run bundle exits 0${r.status === 0 ? '' : `:\n${r.stderr.slice(-3000)}`}`);
  const printed = r.stdout.trim().split('\n').filter(Boolean);
  t.same(printed, arches.map((a) => join(out, `cohort-agent-${version}-linux-${a}.tar.gz`)), 'stdout: the path of each tarball written, one per line');
  const sizes: Record<string, number> = {};
  for (const a of arches) {
    const tarball = join(out, `cohort-agent-${version}-linux-${a}.tar.gz`);
    if (!existsSync(tarball)) continue;
    const bytes = lstatSync(tarball).size;
    sizes[a] = Math.round(bytes / 1e5) / 10;
    const extracted = join(work, `extract-${a}`);
    mkdirSync(extracted);
    execFileSync('tar', ['-xzf', tarball, '-C', extracted]);
    installed.set(a, { arch: a, tarball, bytes, root: '', home: '', installSeconds: 0 });
    const top = readdirSync(extracted);
    t.same(top, [`cohort-agent-${version}-linux-${a}`], `${a}: one top directory`);
    const b = join(extracted, top[0]!);
    for (const f of ['install.sh', 'opt/cohort/bin/cohort', 'opt/cohort/node/bin/node', 'opt/cohort/app/dist/agent/cli.js', 'opt/cohort/app/package.json', 'opt/cohort/BUNDLE', 'opt/cohort/README.md', 'etc/cohort/cohort.yaml', 'etc/systemd/system/cohort.service', 'usr/lib/sysusers.d/cohort.conf']) {
      t.ok(existsSync(join(b, f)), `${a}: bundle has ${f}`);
    }
    const facts = Object.fromEntries(readFileSync(join(b, 'opt/cohort/BUNDLE'), 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    t.equal(facts.arch, a, `${a}: BUNDLE says its arch`);
    const file = execFileSync('file', ['-b', join(b, 'opt/cohort/node/bin/node')], { encoding: 'utf8' });
    t.match(file, { x64: /x86-64/, arm64: /ARM aarch64/, armv7: /32-bit.*ARM/ }[a], `${a}: node is an ${a} executable (${file.split(',')[0]})`);
    // Only this architecture's zeromq addon, and the loader's manifest lists exactly it.
    const build = join(b, 'opt/cohort/app/node_modules/zeromq/build');
    const manifest = JSON.parse(readFileSync(join(build, 'manifest.json'), 'utf8')) as Record<string, string>;
    const procArch = { x64: 'x64', arm64: 'arm64', armv7: 'arm' }[a];
    t.ok(Object.keys(manifest).length > 0 && Object.keys(manifest).every((k) => (JSON.parse(k) as { arch: string }).arch === procArch), `${a}: the zeromq manifest lists ${procArch} addons only`);
    t.same(readdirSync(join(build, 'linux')), [procArch], `${a}: no other architecture's addon shipped`);
    for (const rel of Object.values(manifest)) {
      const addon = execFileSync('file', ['-b', join(build, rel)], { encoding: 'utf8' });
      t.match(addon, { x64: /x86-64/, arm64: /ARM aarch64/, armv7: /32-bit.*ARM/ }[a], `${a}: ${rel} is an ${a} shared object`);
    }
    t.notOk(existsSync(join(b, 'opt/cohort/app/node_modules/tap')), `${a}: no dev dependencies`);
    t.notOk(existsSync(join(b, 'opt/cohort/app/dist/test')), `${a}: no tests`);
  }
  figures.bundleMB = sizes;
  t.comment(`BUNDLE sizes (MB, gzip tarball): ${Object.entries(sizes).map(([a, mb]) => `${a} ${mb}`).join(', ')}; build of all ${figures.bundleBuildSeconds} s`);
});

t.test('install.sh installs into an empty root, and upgrades keeping config and state', async (t) => {
  if (installed.size === 0) { t.plan(0, 'no bundle was built'); return; }
  const times: Record<string, number> = {};
  for (const b of installed.values()) {
    const src = join(work, `extract-${b.arch}`, `cohort-agent-${version}-linux-${b.arch}`);
    const root = join(work, `root-${b.arch}`);
    mkdirSync(root);
    const t0 = performance.now();
    const out = execFileSync(join(src, 'install.sh'), ['--root', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    b.installSeconds = (performance.now() - t0) / 1000;
    times[b.arch] = Math.round(b.installSeconds * 100) / 100;
    b.root = root;
    b.home = join(root, 'opt/cohort');
    t.match(out, new RegExp(`installed cohort-agent ${version} \\(${b.arch}\\) into ${root}`), `${b.arch}: install.sh says what it installed`);
    t.equal(readlinkSync(join(root, 'usr/local/bin/cohort')), '/opt/cohort/bin/cohort', `${b.arch}: /usr/local/bin/cohort -> /opt/cohort/bin/cohort`);
    t.equal(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/cohort.service')), '/etc/systemd/system/cohort.service', `${b.arch}: the unit is enabled`);
    for (const f of ['etc/cohort/cohort.yaml', 'etc/cohort/cohort.yaml.example', 'etc/systemd/system/cohort.service', 'usr/lib/sysusers.d/cohort.conf', 'opt/cohort/node/bin/node']) t.ok(existsSync(join(root, f)), `${b.arch}: installed ${f}`);
    t.equal(lstatSync(join(root, 'var/lib/cohort')).mode & 0o777, 0o700, `${b.arch}: /var/lib/cohort exists, mode 0700`);
    t.same(readdirSync(join(root, 'opt')).sort(), ['cohort'], `${b.arch}: no temporary trees left in /opt`);

    // Upgrade: the operator's config and the agent's state survive; the program is replaced.
    writeFileSync(join(root, 'etc/cohort/cohort.yaml'), 'node: edited-by-hand\n');
    writeFileSync(join(root, 'var/lib/cohort/keep.json'), '{}');
    writeFileSync(join(root, 'opt/cohort/stale-file'), 'from the old version');
    const again = execFileSync(join(src, 'install.sh'), ['--root', root, '--no-enable'], { encoding: 'utf8' });
    t.match(again, /kept \/etc\/cohort\/cohort.yaml/, `${b.arch}: upgrade says it kept the config`);
    t.equal(readFileSync(join(root, 'etc/cohort/cohort.yaml'), 'utf8'), 'node: edited-by-hand\n', `${b.arch}: config kept`);
    t.ok(existsSync(join(root, 'var/lib/cohort/keep.json')), `${b.arch}: state kept`);
    t.notOk(existsSync(join(root, 'opt/cohort/stale-file')), `${b.arch}: the old program tree is gone`);
  }
  figures.installSeconds = times;
  t.comment(`INSTALL into an empty root (s): ${Object.entries(times).map(([a, s]) => `${a} ${s}`).join(', ')}`);

  const any = [...installed.values()][0]!;
  const src = join(work, `extract-${any.arch}`, `cohort-agent-${version}-linux-${any.arch}`, 'install.sh');
  const bad = spawnSync(src, ['--frobnicate'], { encoding: 'utf8' });
  t.equal(bad.status, 2, 'an unknown option is refused with exit 2');
  t.match(bad.stderr, /unknown option --frobnicate/, 'and named');
  const missing = spawnSync(src, ['--root', join(work, 'no-such-dir')], { encoding: 'utf8' });
  t.equal(missing.status, 1, 'a missing root is refused');
  t.match(missing.stderr, /is not a directory/, 'and said so');
  // Uninstall keeps the operator's config and the votes; --purge removes them too.
  const scratch = join(work, 'root-uninstall');
  mkdirSync(scratch);
  execFileSync(src, ['--root', scratch]);
  const un = execFileSync(src, ['--uninstall', '--root', scratch], { encoding: 'utf8' });
  t.match(un, /kept \/etc\/cohort and \/var\/lib\/cohort/, 'uninstall says what it kept');
  for (const f of ['opt/cohort', 'usr/local/bin/cohort', 'etc/systemd/system/cohort.service', 'etc/systemd/system/multi-user.target.wants/cohort.service', 'usr/lib/sysusers.d/cohort.conf']) t.notOk(existsSync(join(scratch, f)) || isLink(join(scratch, f)), `uninstall removed /${f}`);
  t.ok(existsSync(join(scratch, 'etc/cohort/cohort.yaml')) && existsSync(join(scratch, 'var/lib/cohort')), 'uninstall kept config and state');
  execFileSync(src, ['--uninstall', '--purge', '--root', scratch]);
  t.notOk(existsSync(join(scratch, 'etc/cohort')) || existsSync(join(scratch, 'var/lib/cohort')), '--purge removed config and state');

  // Onto this (x64) machine, an ARM bundle is refused before anything is written.
  const arm = [...installed.values()].find((b) => b.arch !== 'x64');
  if (arm && process.getuid?.() === 0) {
    const live = spawnSync(join(work, `extract-${arm.arch}`, `cohort-agent-${version}-linux-${arm.arch}`, 'install.sh'), [], { encoding: 'utf8' });
    t.equal(live.status, 1, `an ${arm.arch} bundle is refused on this x86_64 machine`);
    t.match(live.stderr, new RegExp(`this is a x86_64 machine, the bundle is for ${arm.arch}`), 'and says why');
    t.notOk(existsSync('/opt/cohort/BUNDLE') && readFileSync('/opt/cohort/BUNDLE', 'utf8').includes(`arch=${arm.arch}`), 'nothing was installed');
  }
});

t.test("the installed x64 bundle's command runs from its root", async (t) => {
  // The ARM bundles' commands run in the group test below (an emulated CLI start costs 15-30 s here).
  const x64 = installed.get('x64');
  if (!x64?.home) { t.plan(0, 'no installed x64 bundle'); return; }
  const cliStart: Record<string, number> = {};
  for (const b of [x64]) {
    const { command, args } = runner(b.arch).launch(b.home);
    const t0 = performance.now();
    const env = { ...process.env, ...BOARD_ENV };
    const r = spawnSync(command, [...args, '--help'], { encoding: 'utf8', timeout: 120_000, env });
    cliStart[b.arch] = Math.round(performance.now() - t0);
    t.equal(r.status, 0, `${b.arch}: cohort --help exits 0${r.status === 0 ? '' : `: ${r.stderr}`}`);
    t.match(r.stdout, /Usage: cohort/, `${b.arch}: prints the usage`);
    if (/--version/.test(r.stdout)) {
      const v = spawnSync(command, [...args, '--version'], { encoding: 'utf8', timeout: 120_000, env });
      t.match(v.stdout, new RegExp(`cohort-agent ${version.replace(/\./g, '\\.')}`), `${b.arch}: --version names the package and version (${v.stdout.trim()})`);
    }
    const st = spawnSync(command, [...args, 'status', '--http', '127.0.0.1:9'], { encoding: 'utf8', timeout: 120_000, env });
    t.equal(st.status, 1, `${b.arch}: cohort status without an agent exits 1`);
    t.match(st.stderr, /cannot reach an agent at 127\.0\.0\.1:9/, `${b.arch}: and says why`);
  }
  figures.cliHelpMs = cliStart;
  t.comment(`CLI start (cohort --help, ms): ${Object.entries(cliStart).map(([a, ms]) => `${a} ${ms}`).join(', ')}`);
});

interface AgentFigures {
  node: string;
  arch: BundleArch;
  emulated: boolean;
  startupMs: number;
  rssMB?: number;
  idleCpuPercent?: number;
  failoverMs?: number;
  actionErrorMs?: number;
}

t.test('x64 and emulated ARM agents from the installed bundles form a group, vote, act and fail over', async (t) => {
  const x64 = installed.get('x64');
  const armBundles = [...installed.values()].filter((b) => b.arch !== 'x64');
  if (!x64 || !x64.home) { t.plan(0, 'no installed x64 bundle'); return; }
  if (armBundles.length === 0) t.comment('no ARM bundle could run here: the group is x64 only');
  // At least four members, three of them x64, so that the survivors still make minSize 3
  // whichever one leads and dies (with no ARM bundle, three x64 agents alone could not elect again).
  const x64Count = Math.max(3, 4 - armBundles.length);
  const members: Array<{ arch: BundleArch; home: string }> = [
    ...Array.from({ length: x64Count }, () => ({ arch: 'x64' as const, home: x64.home })),
    ...armBundles.map((b) => ({ arch: b.arch, home: b.home })),
  ];
  const specs = members.map((m, i) => ({
    node: `${m.arch}-${i + 1}`,
    groups: [G],
    minSize: 3,
    // RIAPS timers (1 s heartbeat, 3 s peer timeout): an emulated agent is 4-20x slower.
    timers: 'riaps',
    autoVote: 'yes' as const,
    launch: runner(m.arch).launch(m.home),
    deferStart: true,
    env: BOARD_ENV,
  }));
  const c = await startCluster(t, specs, { readyTimeoutMs: 180_000 });
  const per: AgentFigures[] = members.map((m, i) => ({ node: c.agent(i).node, arch: m.arch, emulated: runner(m.arch).emulated, startupMs: 0 }));
  // All at once, as a bench of boards powered up together; each start is timed on its own.
  await Promise.all(
    members.map(async (_, i) => {
      const t0 = performance.now();
      await c.start(i);
      per[i]!.startupMs = Math.round(performance.now() - t0);
    }),
  );
  const all = c.live();
  const formed = await c.waitForCommonLeader(G, { members: members.length, timeoutMs: 120_000 });
  t.pass(`group formed: ${formed.leader} leads term ${formed.term} with ${members.length} members`);
  for (const s of formed.statuses) t.equal(s.groups.find((g) => g.group === G)?.members.length, members.length, `${s.node}: sees all ${members.length} members`);

  // A vote asked by an ARM agent when there is one (else by a follower): everyone votes yes.
  const asker = all.find((i) => members[i]!.arch !== 'x64' && c.memberId(i) !== formed.leader) ?? all.find((i) => c.memberId(i) !== formed.leader)!;
  const vote = await c.postOk<{ ballotId: string }>(asker, `/groups/${G}/vote`, { topic: 'bench check', kind: 'consensus', timeoutMs: 20_000 });
  const results = await onAll(c, 'voteResult', vote.ballotId, 60_000, all);
  for (const [i, e] of results) t.equal(e.outcome, 'yes', `${c.agent(i).node}: consensus vote passed`);
  t.equal((results.get(asker)!.tally as { yes: number }).yes, members.length, `all ${members.length} members voted yes (the ARM ones too)`);

  // An action at an agreed instant, with room for the emulated members to answer in time.
  const act = await c.postOk<{ ballotId: string; when: number }>(asker, `/groups/${G}/action`, { action: 'blink', inMs: 8000, timeoutMs: 6000 });
  const fired = await onAll(c, 'action', act.ballotId, act.when - Date.now() + 30_000, all);
  for (const [i, e] of fired) {
    t.equal(e.when, act.when, `${c.agent(i).node}: fired for the agreed instant`);
    per[i]!.actionErrorMs = Math.round((e.errorMs as number) * 100) / 100;
  }

  // Steady-state cost of each agent: RSS and CPU over an idle stretch of the formed group.
  const idleMs = 8000;
  const cpu0 = all.map((i) => cpuSeconds(c.agent(i).proc!.pid!));
  await new Promise((r) => setTimeout(r, idleMs));
  for (const i of all) {
    const before = cpu0[i];
    const after = cpuSeconds(c.agent(i).proc!.pid!);
    if (before != null && after != null) per[i]!.idleCpuPercent = Math.round(((after - before) / (idleMs / 1000)) * 1000) / 10;
    const rss = c.rss(i);
    if (rss != null) per[i]!.rssMB = Math.round(rss / 1e5) / 10;
  }

  // Failover: SIGKILL the leader; each survivor is timed until it names a new leader.
  const leaderIdx = c.indexOf(formed.leader);
  const survivors = all.filter((i) => i !== leaderIdx);
  const seq = new Map(await Promise.all(survivors.map(async (i) => [i, await c.lastSeq(i)] as const)));
  const t0 = performance.now();
  await c.kill(leaderIdx, 'SIGKILL');
  await Promise.all(
    survivors.map(async (i) => {
      await waitFor(
        async () => {
          const g = (await c.status(i)).groups.find((x) => x.group === G);
          return g && g.leader && g.leader !== formed.leader && g.term > formed.term;
        },
        90_000,
        `a new leader on ${c.agent(i).node}`,
        { intervalMs: 50 },
      );
      per[i]!.failoverMs = Math.round(performance.now() - t0);
    }),
  );
  const after = await c.waitForCommonLeader(G, { among: survivors, exclude: [formed.leader], termAbove: formed.term, members: survivors.length, timeoutMs: 90_000 });
  t.pass(`after ${formed.leader} was killed, ${after.leader} leads term ${after.term}, agreed by every survivor`);
  for (const i of survivors) {
    const evs = await c.events(i, seq.get(i));
    t.ok(evs.some((e: LoggedEvent) => e.type === 'leaderElected'), `${c.agent(i).node}: saw the new leader elected`);
  }
  for (const i of all) if (i !== leaderIdx) t.same(c.loggedErrors(i), [], `${c.agent(i).node} logged no errors`);

  figures.killedLeader = formed.leader;
  figures.agents = per;
  const row = (f: AgentFigures) =>
    `${f.node.padEnd(9)} ${(f.emulated ? `${f.arch} (qemu)` : f.arch).padEnd(13)} startup ${String(f.startupMs).padStart(6)} ms  failover ${f.failoverMs === undefined ? '  (the killed leader)' : `${String(f.failoverMs).padStart(6)} ms`}  rss ${f.rssMB ?? '?'} MB  idle cpu ${f.idleCpuPercent ?? '?'} %  action error ${f.actionErrorMs ?? '?'} ms`;
  t.comment(`AGENTS (ARM rows are under qemu user-mode emulation on a shared x64 host, not board figures)\n${per.map(row).join('\n')}`);
});

t.test('figures are written for the record', async (t) => {
  const dir = join(REPO_ROOT, 'test/arm/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'last-run.json'), `${JSON.stringify(figures, null, 2)}\n`);
  t.pass(`wrote ${join(dir, 'last-run.json')}`);
});

/** Wait until every agent in `among` logged an event of `type` for `ballotId` (emulated agents: polled every 200 ms). */
function onAll(c: AgentCluster, type: string, ballotId: string, timeoutMs: number, among: number[]): Promise<Map<number, LoggedEvent>> {
  return c.onAll(type, ballotId, timeoutMs, among, 200);
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
