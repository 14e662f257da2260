/**
 * Every transcript in test/transcripts/ is run against the core as it is now and
 * must print exactly what the file says (see transcript.ts for the format).
 * After a deliberate protocol change: `npm run transcripts -- --rewrite` (or
 * TRANSCRIPTS_REWRITE=1 on this test) and review the diff of the .txt files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import t from 'tap';
import { firstDifference, transcriptFiles } from './transcript-files.js';
import { MUTANTS } from './mutants.js';
import { runTranscript, TranscriptRunner } from './transcript.js';

const REWRITE = process.env.TRANSCRIPTS_REWRITE === '1';

t.test('one transcript per section of docs/protocol.md', async (t) => {
  const names = transcriptFiles().map((f) => basename(f));
  for (const n of ['membership.txt', 'election.txt', 'transfer.txt', 'voters.txt', 'polls.txt', 'actions.txt', 'amnesia.txt', 'field-rules.txt']) t.ok(names.includes(n), n);
});

for (const file of transcriptFiles()) {
  t.test(basename(file), async (t) => {
    const text = readFileSync(file, 'utf8');
    const r = runTranscript(text);
    if (REWRITE && r.rendered !== text) {
      writeFileSync(file, r.rendered);
      t.comment(`rewritten ${file}`);
    }
    const broken = r.blocks.flatMap((b) => b.actual.filter((l) => l.startsWith('VIOLATION') || l.startsWith('transcript error:')).map((l) => `${file}:${b.line}: ${l}`));
    t.same(broken, [], 'no invariant violated, no bad command');
    if (REWRITE) return;
    const same = r.rendered === text;
    t.ok(same, `${basename(file)} prints what it says`);
    if (!same) t.comment(`${firstDifference(file, r.blocks)}\n(after a deliberate change: npm run transcripts -- --rewrite)`);
  });
}

t.test('a changed expected line fails the comparison', async (t) => {
  const text = ['group m1 m2 m3', '----', '     0 m1 -> *  memberHeartbeat t0 i1 leader=-', '', 'advance 10', '----', 'ok', ''].join('\n');
  const r = runTranscript(text);
  t.not(r.rendered, text, 'the doctored transcript differs from what runs');
  const diff = firstDifference('x.txt', r.blocks);
  t.match(diff, /^x\.txt:1: group m1 m2 m3/, 'the first differing block is named by line');
  t.match(diff, / \+ {6}0 m1 !! memberJoined m1/, 'and the line the core printed is shown');
  // And the real output is stable: running it again gives the same text.
  t.equal(runTranscript(r.rendered).rendered, r.rendered, 'a rewritten transcript passes');
});

t.test('a broken rule changes the transcript of its section', async (t) => {
  // A few mutants of the core (mutants.ts) and the transcript each one must change.
  const cases: Array<[keyof typeof MUTANTS, string]> = [
    ['noCheckQuorum', 'election.txt'],
    ['pollsLeftOpen', 'polls.txt'],
    ['amnesiacVotes', 'amnesia.txt'],
    ['admitsPhantoms', 'voters.txt'],
    ['stallBlind', 'field-rules.txt'],
    ['keepsSilentLeader', 'voters.txt'],
  ];
  for (const [mutant, name] of cases) {
    const file = transcriptFiles().find((f) => basename(f) === name);
    if (!file) {
      t.fail(`${name} missing`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    const Mutant = MUTANTS[mutant];
    const r = runTranscript(text, (o) => new Mutant(o));
    t.not(r.rendered, text, `${mutant} changes ${name}`);
    if (r.rendered !== text) t.comment(`${mutant}: ${firstDifference(name, r.blocks).split('\n').slice(0, 4).join(' | ')}`);
  }
});

t.test('bad commands are reported in the output, not thrown', async (t) => {
  const runner = new TranscriptRunner();
  t.throws(() => runner.exec('advance 10'), /no group yet/);
  const r = runTranscript('frobnicate\n');
  t.match(r.blocks[0]?.actual[0], /^transcript error: unknown command 'frobnicate'/);
});
