/**
 * How this machine runs the bundles' Node.js builds: natively for x64, under qemu user-mode
 * emulation for arm64 and armv7. Each arch says why it cannot run here (a missing tool,
 * with the apt package that brings it), so the tests skip with that reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { armv7BuildProblem } from '../../tools/armv7-addon.js';
import type { BundleArch } from '../../tools/bundle.js';

export interface Runner {
  arch: BundleArch;
  /** Whether the process is emulated (its times and RSS are qemu's, not a board's). */
  emulated: boolean;
  /** The command and leading arguments that run an installed bundle's `cohort` (append its arguments). */
  launch(home: string): { command: string; args: string[] };
}

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const APT_ARM64 = 'qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross';
const APT_ARMHF = 'qemu-user-static crossbuild-essential-armhf libzmq3-dev:armhf libatomic1:armhf pkg-config (after dpkg --add-architecture armhf)';

/** Why `arch` cannot be built and run here, or null when it can. */
export function runProblem(arch: BundleArch): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the emulated runs assume a linux x64 host (this is ${process.platform} ${process.arch})`;
  if (arch === 'x64') return null;
  if (arch === 'arm64') {
    if (!onPath('qemu-aarch64-static')) return `no qemu-aarch64-static (apt-get install ${APT_ARM64})`;
    if (!existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')) return `no arm64 C library in /usr/aarch64-linux-gnu (apt-get install ${APT_ARM64})`;
    return null;
  }
  if (!onPath('qemu-arm-static')) return `no qemu-arm-static (apt-get install ${APT_ARMHF})`;
  const build = armv7BuildProblem();
  if (build) return build;
  // Debian's multiarch armhf libraries, the ones a board would have (libzmq5, libstdc++6, libatomic1).
  for (const lib of ['/lib/ld-linux-armhf.so.3', '/usr/lib/arm-linux-gnueabihf/libzmq.so.5', '/usr/lib/arm-linux-gnueabihf/libatomic.so.1', '/usr/lib/arm-linux-gnueabihf/libstdc++.so.6']) {
    if (!existsSync(lib)) return `no ${lib} (apt-get install ${APT_ARMHF})`;
  }
  return null;
}

/**
 * Through `env -u NODE_OPTIONS`: the test runner (tap's process-info hook) adds its NODE_OPTIONS
 * to every child, which would make the installed agent load hooks from the repo's node_modules
 * (and, emulated, start even slower). The installed agent runs only what its bundle carries.
 */
function clean(command: string, args: string[]): { command: string; args: string[] } {
  return { command: 'env', args: ['-u', 'NODE_OPTIONS', command, ...args] };
}

export function runner(arch: BundleArch): Runner {
  const node = (home: string) => join(home, 'node', 'bin', 'node');
  const cli = (home: string) => join(home, 'app', 'dist', 'agent', 'cli.js');
  switch (arch) {
    case 'x64':
      // The installed command itself (bin/cohort finds its tree), as on a board.
      return { arch, emulated: false, launch: (home) => clean(join(home, 'bin', 'cohort'), []) };
    case 'arm64':
      return { arch, emulated: true, launch: (home) => clean('qemu-aarch64-static', ['-L', '/usr/aarch64-linux-gnu', node(home), cli(home)]) };
    case 'armv7':
      // No -L here: qemu 7.2 with the cross tree /usr/arm-linux-gnueabihf crashes in the first
      // pthread_create (any dynamically linked program, not just Node); the multiarch armhf
      // libraries under / work, and are what a Debian board has anyway.
      return { arch, emulated: true, launch: (home) => clean('qemu-arm-static', [node(home), cli(home)]) };
  }
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / clockTicks();
  } catch {
    return null;
  }
}

let ticksPerSecond: number | null = null;
function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}
