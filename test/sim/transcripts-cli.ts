/**
 * Run the transcripts in test/transcripts/ (or the files named) and show where
 * they differ from what the core does now; `--rewrite` (or TRANSCRIPTS_REWRITE=1)
 * writes the new outputs into the files instead. Exit 1 on a difference.
 *
 *   npm run transcripts                 # check all
 *   npm run transcripts -- --rewrite    # regenerate after a deliberate change; review the git diff
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { transcriptFiles, firstDifference } from './transcript-files.js';
import { runTranscript } from './transcript.js';

const argv = process.argv.slice(2);
const rewrite = argv.includes('--rewrite') || process.env.TRANSCRIPTS_REWRITE === '1';
const named = argv.filter((a) => !a.startsWith('--'));
let differing = 0;
for (const file of named.length ? named : transcriptFiles()) {
  const text = readFileSync(file, 'utf8');
  const r = runTranscript(text);
  if (r.rendered === text) {
    console.log(`ok        ${file}`);
    continue;
  }
  if (rewrite) {
    writeFileSync(file, r.rendered);
    console.log(`rewritten ${file}`);
    continue;
  }
  differing++;
  console.log(`DIFFERS   ${file}\n${firstDifference(file, r.blocks)}`);
}
if (differing) {
  console.log(`${differing} transcript(s) differ; if the change is deliberate: npm run transcripts -- --rewrite`);
  process.exit(1);
}
