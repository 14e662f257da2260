/**
 * One member's wall clock shifted or stepped with libfaketime (the clock a real NTP step
 * or a badly set board gives; the monotonic clock untouched): what the group does with an
 * action vote. 3 agents with `lan` timers on loopback; agent n3 runs under libfaketime
 * with its offset in a file the script rewrites (FAKETIME_TIMESTAMP_FILE, re-read every
 * second). Usage: npm run bench:clock   (needs the `faketime` apt package)
 *
 * Scenarios: n3 shifted +50 ms; shifted +2 s; stepped +10 s and −10 s while waiting for
 * an agreed action; stepped +50 ms while waiting.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentCluster, type AgentSpec } from '../test/integration/agent-cluster.js';

const LIB = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'].find((p) => existsSync(p));
if (!LIB) {
  console.log('libfaketime not installed (apt-get install faketime): nothing to measure');
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'cohort-faketime-'));
const file = join(dir, 'offset');
const setOffset = (seconds: number): void => writeFileSync(file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
setOffset(0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const env = { LD_PRELOAD: LIB, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
const specs: AgentSpec[] = [{}, {}, { env }].map((s) => ({ ...s, autoVote: 'yes', timers: 'lan', minSize: 2 }));
const cluster = await AgentCluster.create(specs);
const rows: Array<Record<string, string>> = [];
try {
  await cluster.waitForCommonLeader('G.a', { members: 3, timeoutMs: 30_000 });
  const scenario = async (name: string, shift: number, step: number | null, kind: 'majority' | 'consensus' = 'consensus') => {
    setOffset(shift);
    await sleep(2500); // libfaketime re-reads the file within 1 s; the monitor sees the step; fresh clock samples
    const after = await Promise.all([0, 1, 2].map((i) => cluster.lastSeq(i)));
    const inMs = 6000;
    const { ballotId } = await cluster.postOk<{ ballotId: string; when: number }>(0, '/groups/G.a/action', { action: name, inMs, kind, timeoutMs: 1000 });
    if (step !== null) {
      await sleep(1000);
      setOffset(shift + step);
    }
    await sleep(inMs + 2500);
    const per = await Promise.all([0, 1, 2].map(async (i) => (await cluster.events(i, after[i])).filter((e) => e.ballotId === ballotId)));
    const result = per[0]!.find((e) => e.type === 'voteResult');
    const refusals = (result?.refusals as Array<{ member: string; reason: string }> | undefined) ?? [];
    const fired = per.map((evs) => evs.find((e) => e.type === 'action'));
    const stepped = per[2]!.find((e) => e.type === 'actionStep');
    const skipped = per[2]!.find((e) => e.type === 'actionSkipped');
    const n3 = (await cluster.status(2)).groups[0]?.clock;
    rows.push({
      scenario: `${name}${kind === 'majority' && !name.includes('majority') ? ' (majority)' : ''}`,
      result: `${result?.outcome ?? '?'} (yes ${(result?.tally as { yes: number } | undefined)?.yes ?? '?'} of 3)`,
      'n3 refusal': refusals.find((r) => r.member === 'n3/agent')?.reason ?? '-',
      'n3 offset seen by n3 (ms)': n3 ? n3.selfOffsetMs.toFixed(1) : '-',
      fired: fired.map((f, i) => (f ? `n${i + 1} ${(f.errorMs as number).toFixed(1)}${(f.stepMs as number) ? ` (step ${(f.stepMs as number).toFixed(0)})` : ''}` : `n${i + 1} -`)).join(', '),
      'n3 step event': stepped ? `${stepped.decision} (${(stepped.stepMs as number).toFixed(0)} ms)` : skipped ? 'skipped (refused)' : '-',
    });
  };
  await scenario('n3 shifted +50 ms', 0.05, null);
  await scenario('n3 shifted +2 s (consensus)', 2, null);
  await scenario('n3 shifted +2 s (majority)', 2, null, 'majority');
  await scenario('n3 stepped +10 s mid-wait', 0, 10);
  await scenario('n3 stepped -10 s mid-wait', 0, -10);
  await scenario('n3 stepped +50 ms mid-wait', 0, 0.05);
  console.table(rows);
} finally {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}
