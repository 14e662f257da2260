/**
 * Keys for a test fleet: a certificate per node (`cohort keygen` layout) in a temporary
 * directory, an allow-list directory with the chosen nodes' public certificates, and the
 * `cohort agent` arguments that turn secure mode on.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificate, loadOwnKeys, type OwnKeys } from '../../agent/security/keys.js';
import type { AgentSpec } from './agent-cluster.js';

export interface SecureFleet {
  dir: string;
  keys(node: string): OwnKeys;
  /** An allow-list directory holding these nodes' public certificates. */
  allowDir(nodes: string[], name?: string): string;
  /** Spec fields for a secure agent (its keys, the given allow-list, a token file). */
  spec(node: string, allowDir: string): Pick<AgentSpec, 'node' | 'extraArgs' | 'httpTokenFile'>;
}

export function secureFleet(t: { teardown(fn: () => void): void }, nodes: string[]): SecureFleet {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-fleet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const n of nodes) {
    mkdirSync(join(dir, n), { mode: 0o700 });
    generateCertificate(join(dir, n), n);
  }
  return {
    dir,
    keys: (n) => loadOwnKeys(join(dir, n), n),
    allowDir(list, name = `allow-${list.join('-')}`) {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      for (const n of list) copyFileSync(join(dir, n, `${n}.key`), join(d, `${n}.key`));
      return d;
    },
    spec: (node, allowDir) => ({
      node,
      extraArgs: ['--keys', join(dir, node), '--allow', allowDir, '--http-token', join(dir, node, 'http-token')],
      httpTokenFile: join(dir, node, 'http-token'),
    }),
  };
}
