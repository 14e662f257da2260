/**
 * What this build is: the package's name and version, read from its package.json at run
 * time (so a renamed or re-versioned package needs no code change), with Node and the CPU
 * architecture. Shown by `cohort --version` and exported as `cohort_build_info`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  name: string;
  version: string;
  node: string;
  arch: string;
  platform: string;
}

let cached: BuildInfo | null = null;

/** The nearest package.json above this file: `agent/` in the repo, `dist/agent/` when built. */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  let name = 'cohort';
  let version = '0.0.0-unknown';
  for (let dir = dirname(fileURLToPath(import.meta.url)), i = 0; i < 6; dir = dirname(dir), i++) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    try {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === 'string') name = pkg.name;
      if (typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // An unreadable package.json: report "unknown" rather than fail to start.
    }
    break;
  }
  cached = { name, version, node: process.version, arch: process.arch, platform: process.platform };
  return cached;
}

export function versionLine(info: BuildInfo = buildInfo()): string {
  return `${info.name} ${info.version} (node ${info.node}, ${info.platform}-${info.arch})`;
}
