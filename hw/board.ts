/**
 * What board this is: the device-tree model (every ARM board with a device tree names
 * itself there, e.g. "BeagleBone Black" or "Raspberry Pi 5 Model B Rev 1.0"), else the
 * DMI system model (x86), and the CPU and OS facts. On Linux they are read from the files
 * the kernel and the distribution keep (/etc/os-release, /sys/class/dmi/id) and from
 * node:os: a few small reads. `systeminformation` is the fallback elsewhere: it shells out,
 * takes tens to hundreds of milliseconds, and loading it costs an agent ~4 MiB of RSS for
 * four facts. Read once, asynchronously and with a timeout.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';

export interface BoardInfo {
  /** Device-tree model, else the DMI/system model, else 'unknown'. */
  model: string;
  arch: string;
  cores: number;
  cpu: { brand: string; speedGHz: number | null };
  os: { distro: string; release: string; kernel: string };
  /** Where `model` came from ('system': DMI on Linux, systeminformation elsewhere). */
  modelSource: 'device-tree' | 'system' | 'none';
}

export interface BoardSources {
  deviceTreeModel(): Promise<string | null>;
  /** CPU, OS and system model, or null when they cannot be read. */
  systemInfo(): Promise<{ brand: string; speedGHz: number | null; distro: string; release: string; kernel: string; systemModel: string } | null>;
}

/** `KEY=value` / `KEY="value"` lines of an os-release file. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!.trim();
    if (/^(["']).*\1$/.test(v)) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[m[1]!] = v;
  }
  return out;
}

const readTrimmed = async (file: string): Promise<string | null> => {
  try {
    return (await readFile(file, 'utf8')).replace(/\0+$/, '').trim() || null;
  } catch {
    return null;
  }
};

/** The Linux files (null when /etc/os-release is not there: not Linux, or a bare system). */
async function linuxSystemInfo(): ReturnType<BoardSources['systemInfo']> {
  const release = (await readTrimmed('/etc/os-release')) ?? (await readTrimmed('/usr/lib/os-release'));
  if (release === null) return null;
  const r = parseOsRelease(release);
  const cpu = os.cpus()[0];
  const [vendor, product] = await Promise.all([readTrimmed('/sys/class/dmi/id/sys_vendor'), readTrimmed('/sys/class/dmi/id/product_name')]);
  return {
    brand: cpu?.model.trim() || 'unknown',
    speedGHz: cpu && cpu.speed > 0 ? cpu.speed / 1000 : null,
    distro: r.NAME ?? r.ID ?? os.type(),
    release: r.VERSION_ID ?? r.BUILD_ID ?? '',
    kernel: os.release(),
    systemModel: [vendor, product].filter((x) => x && !/^(to be filled|default string|system product name|not specified)/i.test(x)).join(' '),
  };
}

export const defaultBoardSources: BoardSources = {
  async deviceTreeModel() {
    try {
      // The file ends in a NUL (it is a device-tree string property).
      return (await readFile('/proc/device-tree/model', 'utf8')).replace(/\0+$/, '').trim() || null;
    } catch {
      return null;
    }
  },
  async systemInfo() {
    try {
      const linux = await linuxSystemInfo();
      if (linux) return linux;
      const si = await import('systeminformation');
      const [cpu, osInfo, system] = await Promise.all([si.cpu(), si.osInfo(), si.system()]);
      const systemModel = [system.manufacturer, system.model].filter((s) => s && s.trim() !== '').join(' ');
      return { brand: `${cpu.manufacturer} ${cpu.brand}`.trim(), speedGHz: cpu.speed || null, distro: osInfo.distro, release: osInfo.release, kernel: osInfo.kernel, systemModel };
    } catch {
      return null;
    }
  },
};

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    // Kept referenced (it is cleared as soon as the source answers): whoever awaits the
    // board must not see the process exit under it.
    const t = setTimeout(() => resolve(fallback), ms);
    p.then((v) => (clearTimeout(t), resolve(v)), () => (clearTimeout(t), resolve(fallback)));
  });
}

export async function readBoard(sources: BoardSources = defaultBoardSources, timeoutMs = 3000): Promise<BoardInfo> {
  const [dt, si] = await Promise.all([withTimeout(sources.deviceTreeModel(), timeoutMs, null), withTimeout(sources.systemInfo(), timeoutMs, null)]);
  const model = dt ?? (si?.systemModel || null);
  return {
    model: model ?? 'unknown',
    modelSource: dt ? 'device-tree' : model ? 'system' : 'none',
    arch: os.arch(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    cpu: { brand: si?.brand ?? os.cpus()[0]?.model ?? 'unknown', speedGHz: si?.speedGHz ?? null },
    os: { distro: si?.distro ?? os.type(), release: si?.release ?? os.release(), kernel: si?.kernel ?? os.release() },
  };
}

/**
 * The little a configuration needs at load time (for the `auto` timer preset), read
 * synchronously: the device-tree model (a small /proc file) and the core count.
 */
export function boardAtStart(): Pick<BoardInfo, 'model' | 'cores'> {
  let model = 'unknown';
  try {
    model = readFileSync('/proc/device-tree/model', 'utf8').replace(/\0+$/, '').trim() || 'unknown';
  } catch {
    // no device tree (x86, containers): the core count decides
  }
  return { model, cores: os.availableParallelism?.() ?? os.cpus().length };
}

/** Boards known to be slow enough that the `lan` timers are out of reach (ARM Cortex-A8/A7 class). */
const SLOW_BOARDS = /BeagleBone|Raspberry Pi (Zero|Model [AB]\b|Model B Plus|2 |3 Model A)|Pocket ?Beagle/i;

export function isSlowBoard(board: Pick<BoardInfo, 'model' | 'cores'>): boolean {
  return SLOW_BOARDS.test(board.model) || board.cores <= 1;
}
