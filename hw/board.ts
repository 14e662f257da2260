/**
 * What board this is: the device-tree model (every ARM board with a device tree names
 * itself there, e.g. "BeagleBone Black" or "Raspberry Pi 5 Model B Rev 1.0"), and the
 * CPU and OS facts from `systeminformation`. Read once, asynchronously and with a
 * timeout: systeminformation shells out and takes tens to hundreds of milliseconds.
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
  /** Where `model` came from. */
  modelSource: 'device-tree' | 'systeminformation' | 'none';
}

export interface BoardSources {
  deviceTreeModel(): Promise<string | null>;
  /** systeminformation's cpu/osInfo/system, or null when it is not installed or fails. */
  systemInfo(): Promise<{ brand: string; speedGHz: number | null; distro: string; release: string; kernel: string; systemModel: string } | null>;
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
    modelSource: dt ? 'device-tree' : model ? 'systeminformation' : 'none',
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
