/**
 * `cohort demo` (`npm start`): a local group of real agent processes on
 * loopback, narrated. It forms a group, elects a leader, sends group messages,
 * runs a majority and a consensus vote (one member always votes no), agrees on
 * an action that fires on every member at one instant, kills the leader and
 * measures the failover. Needs no configuration, no root, nothing off loopback.
 */
import { LocalCluster, type LocalAgent } from './local-cluster.js';
import { formatStatusTable } from './status-table.js';
import { parseTimers } from './config.js';

const GROUP = 'Demo.main';

export interface DemoOptions {
  members: number;
  timers: string;
  live: boolean;
}

const say = (s: string) => process.stdout.write(`${s}\n`);

export async function runDemo(opts: DemoOptions): Promise<number> {
  const n = opts.members;
  const timers = parseTimers(opts.timers, '--timers');
  const minSize = Math.floor(n / 2) + 1;
  const timerSpec = Object.entries(timers).map(([k, v]) => `${k}=${v}`).join(',');
  say(`Cohort demo: ${n} agents on loopback, group ${GROUP}, minSize ${minSize}, timers ${timerSpec}`);
  say(`(each agent votes yes, except demo-${n} which always votes no)\n`);
  const t0 = performance.now();
  const cluster = await LocalCluster.start({ members: n, group: GROUP, minSize, timers: timerSpec, autoVote: (i) => (i === n - 1 && n > 1 ? 'no' : 'yes') });
  const agents = cluster.agents;
  let failed = false;
  const check = (ok: boolean, what: string) => {
    say(`  ${ok ? '✓' : '✗'} ${what}`);
    if (!ok) failed = true;
  };
  const table = async () => {
    if (opts.live) say(formatStatusTable(await cluster.statuses()).replace(/^/gm, '    '));
  };
  try {
    // 1. Formation and election.
    say('1. Forming the group and electing a leader…');
    const formed = await cluster.waitForCommonLeader(30_000);
    if (!formed) throw new Error('the group did not form within 30 s');
    // One figure for formation, from the start of the agents, used here and in the summary.
    const formationMs = Math.round(performance.now() - t0);
    say(`  ✓ all ${n} agents agree: leader ${formed.leader} (term ${formed.term}), ${formationMs} ms after the agents were started`);
    await table();
    for (const a of agents) await cluster.newEvents(a); // skip formation events

    // 2. Group messages.
    say('2. demo-1 sends a group message…');
    await cluster.post(agents[0]!, 'send', { object: { hello: 'from demo-1' } });
    const got = await cluster.awaitOnAll('message', (e) => e.from === 'demo-1/agent', 5000);
    check(got.size === n, `delivered to ${got.size}/${n} members (the sender included, as in RIAPS)`);

    // 3 and 4. Votes.
    let step = 3;
    for (const kind of ['majority', 'consensus'] as const) {
      const asker: LocalAgent = agents[Math.min(1, n - 1)]!;
      say(`${step++}. ${asker.node} asks for a ${kind} vote…`);
      const { ballotId } = await cluster.post<{ ballotId: string }>(asker, 'vote', { topic: `demo ${kind} topic`, kind });
      const results = await cluster.awaitOnAll('voteResult', (e) => e.ballotId === ballotId, timers.consensusTimeout + 3000);
      const r = [...results.values()][0];
      const expected = n === 1 ? 'yes' : kind === 'majority' ? (n - 1 >= Math.floor(n / 2) + 1 ? 'yes' : 'no') : 'no';
      const tally = r?.tally as { yes: number; no: number; voters: number } | undefined;
      check(results.size === n && [...results.values()].every((e) => e.outcome === expected),
        `${kind}: '${String(r?.outcome)}' on ${results.size}/${n} members (yes ${tally?.yes}, no ${tally?.no} of ${tally?.voters} voters; expected '${expected}')`);
    }

    // 5. Action vote at an agreed instant.
    const inMs = Math.max(2500, timers.consensusTimeout + 1000);
    say(`5. demo-1 proposes an action at an agreed instant (now + ${inMs} ms, majority)…`);
    const { ballotId: actionBallot, when } = await cluster.post<{ ballotId: string; when: number }>(agents[0]!, 'action', { action: 'blink the LED', inMs, kind: 'majority' });
    const fired = await cluster.awaitOnAll('action', (e) => e.ballotId === actionBallot, when - Date.now() + 3000);
    const errors = [...fired.entries()].map(([node, e]) => `${node} ${(e.errorMs as number).toFixed(2)} ms`);
    check(fired.size === n, `fired on ${fired.size}/${n} members at ${new Date(when).toISOString()}; firing error: ${errors.join(', ')}`);
    const at = [...fired.values()].map((e) => e.firedAt as number);
    if (at.length) say(`    spread between first and last member: ${(Math.max(...at) - Math.min(...at)).toFixed(1)} ms (wall clock, one machine)`);

    // 6. Failover.
    let failoverMs: number | null = null;
    if (n >= 3) {
      const victim = cluster.byMember(formed.leader)!;
      say(`6. Killing the leader ${victim.node} with SIGKILL…`);
      cluster.kill(victim, 'SIGKILL');
      const after = await cluster.waitForCommonLeader(30_000, formed.leader, false);
      failoverMs = after?.ms ?? null;
      check(after !== null, after ? `survivors agree on a new leader ${after.leader} (term ${after.term}) ${after.ms} ms after the kill` : 'no new leader within 30 s');
      await table();
    } else say('6. (failover needs at least 3 members; skipped)');

    say(`\nSummary: ${failed ? 'SOMETHING FAILED' : 'all steps passed'}; formation ${formationMs} ms after the agents were started, failover ${failoverMs ?? '-'} ms after SIGKILL.`);
  } catch (err) {
    say(`demo failed: ${(err as Error).message}`);
    failed = true;
  } finally {
    await cluster.stop();
  }
  return failed ? 1 : 0;
}
