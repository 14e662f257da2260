/** Where the transcripts live, and how a difference is shown. */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Block } from './transcript.js';

export const TRANSCRIPT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'transcripts');

export function transcriptFiles(): string[] {
  return readdirSync(TRANSCRIPT_DIR)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => join(TRANSCRIPT_DIR, f));
}

/** The first block whose output changed, as `-expected` / `+actual` lines. */
export function firstDifference(file: string, blocks: ReadonlyArray<Block & { actual: string[] }>): string {
  for (const b of blocks) {
    const want = b.expected ?? [];
    if (b.expected !== null && want.join('\n') === b.actual.join('\n')) continue;
    const lines = [`${file}:${b.line}: ${b.command}`];
    if (b.expected === null) lines.push('  (no expected output written yet)');
    const n = Math.max(want.length, b.actual.length);
    for (let i = 0; i < n; i++) {
      if (want[i] === b.actual[i]) lines.push(`   ${want[i]}`);
      else {
        if (want[i] !== undefined) lines.push(` - ${want[i]}`);
        if (b.actual[i] !== undefined) lines.push(` + ${b.actual[i]}`);
      }
    }
    return lines.join('\n');
  }
  return '(only comments or blank lines differ)';
}
