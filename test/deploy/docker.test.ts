/**
 * Dockerfile.arm64 without a container engine (none can run images on this machine): the
 * file is linted (hadolint too when it is on PATH), and its own build and start steps are
 * performed outside a container (test/deploy/dockerfile.ts): both stages' RUN/COPY/ENV/
 * WORKDIR/USER lines, then ENTRYPOINT+CMD as the image's USER with a config in its config
 * volume, as `docker run -v ...:/etc/cohort` would. The started agent must pass the
 * image's HEALTHCHECK, lead a group with two agents from the source tree, and on the
 * image's STOPSIGNAL hand leadership over and exit 0.
 *
 * The steps run on this machine's x64 Node, not in the arm64 base image: what is checked is
 * the file's steps, not the base image (test/arm runs the arm64 build itself, emulated).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../../tools/bundle.js';
import { freePorts, startCluster, waitFor } from '../integration/agent-cluster.js';
import { executeDockerfile, healthcheck, lintDockerfile, parseDockerfile, startImage } from './dockerfile.js';

t.setTimeout(600_000);

const DOCKERFILE = join(REPO_ROOT, 'Dockerfile.arm64');
const text = readFileSync(DOCKERFILE, 'utf8');

t.test('Dockerfile.arm64 passes the lint', async (t) => {
  t.same(lintDockerfile(text), [], 'no lint problems');
  const ins = parseDockerfile(text);
  const from = ins.filter((i) => i.keyword === 'FROM');
  t.equal(from.length, 2, 'two stages: build and runtime');
  t.match(text, /^ARG NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim$/m, 'the base image is pinned to a full Node 20 version');
  t.ok(ins.some((i) => i.keyword === 'VOLUME' && /\/etc\/cohort/.test(i.args) && /\/etc\/cohort\/keys/.test(i.args) && /\/var\/lib\/cohort/.test(i.args)), 'config, keys and state are volumes');
  t.match(text, /--network host/, 'host networking is documented in the file');
});

t.test('the lint catches what it is for', async (t) => {
  const good = text;
  const cases: Array<[string, string, string]> = [
    ['DL3007', good.replace(/^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:latest'), 'a latest base'],
    ['pin', good.replace(/^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:20-slim'), 'a floating major tag'],
    ['DL3002', good.replace(/^USER .*$/m, 'USER root'), 'USER root'],
    ['numeric-user', good.replace(/^USER .*$/m, 'USER node'), 'a named user'],
    ['DL3025', good.replace(/^CMD .*$/m, 'CMD cohort agent'), 'a shell-form CMD'],
    ['DL3020', good.replace(/^COPY \. \.$/m, 'ADD . .'), 'ADD'],
    ['healthcheck', good.replace(/^HEALTHCHECK .*$/m, ''), 'no HEALTHCHECK'],
    ['npm-ci', good.replace('npm ci --no-audit', 'npm install --no-audit'), 'npm install'],
    ['prod-deps', good.replace(' && npm prune --omit=dev --no-audit --no-fund', ''), 'dev dependencies left in'],
    ['DL3022', good.replace('--from=build /src/dist', '--from=builder /src/dist'), 'COPY --from an unknown stage'],
    ['parse', `${good}\nFROBNICATE now\n`, 'an unknown instruction'],
  ];
  for (const [rule, df, what] of cases) {
    t.ok(lintDockerfile(df).some((p) => p.rule === rule), `${what} is reported (${rule})`);
  }
});

t.test('hadolint, when installed, agrees', async (t) => {
  const which = spawnSync('sh', ['-c', 'command -v hadolint'], { encoding: 'utf8' });
  if (which.status !== 0) {
    t.plan(0, 'hadolint is not installed (not packaged in Debian 12; its npm wrapper downloads a binary from outside the registry)');
    return;
  }
  const r = spawnSync('hadolint', [DOCKERFILE], { encoding: 'utf8' });
  t.equal(r.status, 0, `hadolint: ${r.stdout}${r.stderr}`);
});

t.test("the image's build and start steps, performed outside a container", async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'cohort-docker-'));
  chmodSync(work, 0o755); // the image's USER (uid 1000) must reach its files
  const procs: ChildProcess[] = [];
  t.teardown(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });
  const [bus, direct, http] = await freePorts(3);
  const t0 = performance.now();
  const image = executeDockerfile({ dockerfile: DOCKERFILE, context: REPO_ROOT, workRoot: work, runEnv: { COHORT_HTTP: `127.0.0.1:${http}` } });
  t.comment(`DOCKER steps (both stages) took ${((performance.now() - t0) / 1000).toFixed(1)} s outside a container`);
  const root = image.root;
  for (const f of ['opt/cohort/bin/cohort', 'opt/cohort/app/dist/agent/cli.js', 'opt/cohort/app/node_modules/zeromq/package.json', 'etc/cohort/cohort.yaml']) t.ok(existsSync(join(root, f)), `the image has /${f}`);
  t.notOk(existsSync(join(root, 'opt/cohort/app/node_modules/typescript')), 'no dev dependencies in the runtime stage');
  t.notOk(existsSync(join(root, 'opt/cohort/app/test')), 'no tests in the image');
  t.same(image.user, { uid: 1000, gid: 1000 }, 'runs as uid 1000');
  t.same(readdirSync(join(root, 'opt/cohort/app/node_modules/zeromq/build/linux')), [process.arch], `only this platform's zeromq addon (${process.arch} here, arm64 in the image)`);

  // The two peers from the source tree (ports first, so the image's config can list them).
  const c = await startCluster(t, [{ deferStart: true }, { deferStart: true }], { defaults: { groups: ['Dock.a'], minSize: 2, timers: 'lan' }, extraPeers: [`127.0.0.1:${bus}`] });
  const peers = [`127.0.0.1:${bus}`, ...c.agents.map((a) => `127.0.0.1:${a.busPort}`)];
  // What an operator mounts over /etc/cohort (the state path is the relocated state volume).
  writeFileSync(
    join(root, 'etc/cohort/cohort.yaml'),
    JSON.stringify({ node: 'dock-1', listen: '127.0.0.1', busPort: bus, directPort: direct, http: `127.0.0.1:${http}`, stateDir: join(root, 'var/lib/cohort'), peers, timers: { preset: 'lan' }, groups: [{ name: 'Dock.a', minSize: 1 }], logLevel: 'warn' }),
  );
  t.not(healthcheck(image).status, 0, 'HEALTHCHECK fails while no agent runs');

  const output: string[] = [];
  const agent = startImage(image);
  procs.push(agent);
  agent.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
  agent.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => agent.once('exit', (code, signal) => res({ code, signal })));
  const status = async () => (await (await fetch(`http://127.0.0.1:${http}/status`, { signal: AbortSignal.timeout(2000) })).json()) as { groups: Array<{ group: string; role: string; leader: string | null }> };
  await waitFor(async () => (await status()).groups[0]?.role === 'leader', 60_000, `the image's agent to lead alone (output: ${output.join('').slice(-1500)})`);
  t.equal(healthcheck(image).status, 0, 'HEALTHCHECK passes: the agent answers');
  t.ok(existsSync(join(root, 'var/lib/cohort/dock-1')), 'state is kept in the state volume');

  await Promise.all([c.start(0), c.start(1)]);
  const led = await c.waitForCommonLeader('Dock.a', { members: 3, timeoutMs: 30_000 });
  t.equal(led.leader, 'dock-1/agent', 'the two source-tree agents follow the image agent');

  const seq = await Promise.all([c.lastSeq(0), c.lastSeq(1)]);
  const s0 = performance.now();
  agent.kill(image.stopSignal);
  const end = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
  t.same(end, { code: 0, signal: null }, `on ${image.stopSignal} the agent exits 0 (output: ${output.join('').slice(-800)})`);
  const after = await c.waitForCommonLeader('Dock.a', { exclude: ['dock-1/agent'], members: 2, timeoutMs: 15_000 });
  const handoverMs = Math.round(performance.now() - s0);
  t.pass(`${after.leader} leads after the image agent stopped (${handoverMs} ms after the signal)`);
  for (const i of [0, 1]) {
    const evs = await c.events(i, seq[i]);
    t.ok(evs.some((e) => e.type === 'memberLeft' && e.subject === 'dock-1/agent' && e.reason === 'left'), `${c.agent(i).node}: dock-1 left (not timed out)`);
  }
  // A handover, not an election after a silent leader: well under the peer timeout (1200 ms, lan).
  t.ok(handoverMs < 5000, `new leader ${handoverMs} ms after SIGTERM`);
});
