/** `cohort keygen`, and the token header `cohort status` sends. */
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultNodeName } from '../config.js';
import { readToken } from './http-auth.js';
import { EXIT_SECURITY, generateCertificate, SecurityConfigError } from './keys.js';

export function keygenCommand(program: Command): void {
  program
    .command('keygen')
    .description("make a node's CURVE certificate: NAME.key (public, for the peers' allow-lists) and NAME.key_secret (0600, stays on the board)")
    .requiredOption('--out <dir>', 'directory to write the two files to (created if missing)')
    .option('--name <node>', 'node id the key is for (default: this machine’s default node id)')
    .action((o: { out: string; name?: string }) => {
      try {
        mkdirSync(o.out, { recursive: true, mode: 0o700 });
        const r = generateCertificate(o.out, o.name ?? defaultNodeName());
        process.stdout.write(`${r.publicFile}\n${r.secretFile}\npublic key ${r.publicKey}\n`);
      } catch (err) {
        process.stderr.write(`cohort keygen: ${(err as Error).message}\n`);
        process.exit(err instanceof SecurityConfigError ? EXIT_SECURITY : 1);
      }
    });
}

export function statusAuthHeaders(tokenFile: string | undefined): Record<string, string> {
  if (!tokenFile) return {};
  return { authorization: `Bearer ${readToken(tokenFile)}` };
}

/** The security lines under `cohort status`'s table: mode, own key, and each peer admitted or not. */
export function formatSecurity(security: unknown): string {
  const s = security as { mode?: string; publicKey?: string; allowDir?: string; peers?: { name: string; publicKey: string | null; admitted: boolean; dialled: boolean; endpoint: string | null; reason?: string }[]; refusedKeys?: { publicKey: string; address: string; count: number }[] } | undefined;
  if (!s || s.mode !== 'curve') return 'security: plaintext (no --keys/--allow: anyone on the network can read and forge)\n';
  const lines = [`security: curve, public key ${s.publicKey}, allow-list ${s.allowDir}`];
  for (const p of s.peers ?? []) {
    lines.push(`  ${p.admitted ? 'admitted' : 'refused '} ${p.name.padEnd(20)} ${p.publicKey ?? '(no key)'}${p.endpoint ? `  ${p.endpoint}` : ''}${p.dialled ? '' : p.admitted ? '  (not discovered)' : `  ${p.reason ?? ''}`}`);
  }
  for (const k of s.refusedKeys ?? []) lines.push(`  refused  ${'(unlisted key)'.padEnd(20)} ${k.publicKey}  from ${k.address}, ${k.count} handshake(s)`);
  return `${lines.join('\n')}\n`;
}
