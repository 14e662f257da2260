/**
 * The npm package: a name of its own (`cohort` on the registry is an unrelated package), the
 * `cohort` command, and a `files` list that ships the compiled agent and the deploy files but
 * no tests, CI, benchmarks, tools or TypeScript sources (checked with `npm pack --dry-run`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../../tools/bundle.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string>; files: string[]; scripts: Record<string, string> };

t.test('name and command', async (t) => {
  t.equal(pkg.name, 'cohort-agent', 'published as cohort-agent');
  t.same(Object.keys(pkg.bin), ['cohort'], 'the command stays `cohort`');
  t.equal(pkg.bin.cohort, 'dist/agent/cli.js', 'from the compiled CLI');
  t.match(pkg.scripts.bundle ?? '', /tools\/bundle\.ts/, 'npm run bundle');
  t.match(pkg.scripts['test:arm'] ?? '', /test\/arm/, 'npm run test:arm');
});

t.test('npm pack ships the agent and the deploy files, not the development tree', async (t) => {
  // --ignore-scripts: `prepare` would rebuild dist/ while other tests may be reading it.
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
  t.equal(r.status, 0, `npm pack --dry-run exits 0${r.status === 0 ? '' : `: ${r.stderr}`}`);
  const files = (JSON.parse(r.stdout) as Array<{ name: string; files: Array<{ path: string }> }>)[0]!;
  t.equal(files.name, 'cohort-agent', 'the tarball is cohort-agent');
  const paths = files.files.map((f) => f.path);
  const forbidden = paths.filter((p) => /^(test|\.ci|bench|tools|node_modules|bundles|scratch|\.tap)\//.test(p) || (/\.ts$/.test(p) && !/\.d\.ts$/.test(p)) || /^tsconfig/.test(p));
  t.same(forbidden, [], 'no tests, CI, benchmarks, tools, dependencies or TypeScript sources');
  for (const p of ['package.json', 'README.md', 'Dockerfile.arm64', 'deploy/cohort.service', 'deploy/install.sh', 'proto/cohort.proto']) t.ok(paths.includes(p), `ships ${p}`);
  if (existsSync(join(REPO_ROOT, 'dist/agent/cli.js'))) {
    t.ok(paths.includes('dist/agent/cli.js'), 'ships the compiled CLI (dist/agent/cli.js)');
    t.ok(paths.includes('dist/agent/api/index.js'), 'ships the API entry (dist/agent/api/index.js)');
    t.notOk(paths.some((p) => p.startsWith('dist/test/') || p.startsWith('dist/bench/')), 'no compiled tests or benchmarks');
  } else t.comment('dist/ is not built here (npm ci builds it): the compiled files were not checked');
});
