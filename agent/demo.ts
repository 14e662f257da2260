/**
 * `cohort demo` (`npm start`): a local group of real agent processes on
 * loopback, narrated. It forms a group, elects a leader, sends group messages,
 * runs a majority and a consensus vote (one member always votes no), agrees on
 * an action that fires on every member at one instant, kills the leader and
 * measures the failover. Needs no configuration, no root, nothing off loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { LoggedEvent } from './runtime/event-log.js';
import type { AgentStatus } from './runtime/agent.js';
import { formatStatusTable } from './status-table.js';
import { parseTimers } from './config.js';

const GROUP = 'Demo.main';

interface DemoMember {
  node: string;
  http: string;
  bus: number;
  proc: ChildProcess;
  alive: boolean;
  lastSeq: number;
}

export interface DemoOptions {
  members: number;
  timers: string;
  live: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (s: string) => process.stdout.write(`${s}\n`);

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

async function statuses(members: DemoMember[]): Promise<AgentStatus[]> {
  const live = members.filter((m) => m.alive);
  const out = await Promise.allSettled(live.map((m) => getJson<AgentStatus>(`${m.http}/status`)));
  return out.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}

/** Wait until every live member reports the same leader (other than `not`); returns it and the time taken. */
async function waitForCommonLeader(members: DemoMember[], timeoutMs: number, not: string | null = null, fullMembership = true): Promise<{ leader: string; term: number; ms: number } | null> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    const st = await statuses(members);
    const groups = st.map((s) => s.groups.find((g) => g.group === GROUP));
    const leader = groups[0]?.leader ?? null;
    if (st.length === members.filter((m) => m.alive).length && leader && leader !== not && groups.every((g) => g?.leader === leader && (!fullMembership || g.members.length === st.length))) {
      return { leader, term: groups[0]!.term, ms: Math.round(performance.now() - start) };
    }
    await sleep(25);
  }
  return null;
}

async function newEvents(m: DemoMember): Promise<LoggedEvent[]> {
  const evs = await getJson<LoggedEvent[]>(`${m.http}/events?after=${m.lastSeq}`);
  if (evs.length) m.lastSeq = evs[evs.length - 1]!.seq;
  return evs;
}

/** Collect events of `type` matching `pred` from every live member until each has one (or timeout). */
async function awaitOnAll(members: DemoMember[], type: string, pred: (e: LoggedEvent) => boolean, timeoutMs: number): Promise<Map<string, LoggedEvent>> {
  const found = new Map<string, LoggedEvent>();
  const start = performance.now();
  const live = members.filter((m) => m.alive);
  while (found.size < live.length && performance.now() - start < timeoutMs) {
    for (const m of live) {
      if (found.has(m.node)) continue;
      const hit = (await newEvents(m)).find((e) => e.type === type && pred(e));
      if (hit) found.set(m.node, hit);
    }
    if (found.size < live.length) await sleep(25);
  }
  return found;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const n = opts.members;
  const timers = parseTimers(opts.timers, '--timers');
  const minSize = Math.floor(n / 2) + 1;
  const buses = await Promise.all(Array.from({ length: n }, freePort));
  const https = await Promise.all(Array.from({ length: n }, freePort));
  const peers = buses.map((p) => `127.0.0.1:${p}`).join(',');
  const timerSpec = Object.entries(timers).map(([k, v]) => `${k}=${v}`).join(',');
  const members: DemoMember[] = [];
  const script = process.argv[1]!;
  say(`Cohort demo: ${n} agents on loopback, group ${GROUP}, minSize ${minSize}, timers ${timerSpec}`);
  say(`(each agent votes yes, except demo-${n} which always votes no)\n`);

  const cleanup = () => {
    for (const m of members) if (m.alive) m.proc.kill('SIGKILL');
  };
  process.once('exit', cleanup);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const node = `demo-${i + 1}`;
    const args = [...process.execArgv, script, 'agent', '--node', node, '--group', GROUP, '--min-size', String(minSize), '--bus-port', String(buses[i]),
      '--peers', peers, '--http', `127.0.0.1:${https[i]}`, '--timers', timerSpec, '--auto-vote', i === n - 1 && n > 1 ? 'no' : 'yes', '--log-level', 'warn'];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_PRETTY_LOGS: '1' } });
    const m: DemoMember = { node, http: `http://127.0.0.1:${https[i]}`, bus: buses[i]!, proc, alive: true, lastSeq: 0 };
    proc.once('exit', () => (m.alive = false));
    members.push(m);
  }
  let failed = false;
  const check = (ok: boolean, what: string) => {
    say(`  ${ok ? '✓' : '✗'} ${what}`);
    if (!ok) failed = true;
  };
  const table = async () => {
    if (opts.live) say(formatStatusTable(await statuses(members)).replace(/^/gm, '    '));
  };
  try {
    // 1. Formation and election.
    say('1. Forming the group and electing a leader…');
    const formed = await waitForCommonLeader(members, 30_000);
    if (!formed) throw new Error('the group did not form within 30 s');
    say(`  ✓ all ${n} agents agree: leader ${formed.leader} (term ${formed.term}), ${Math.round(performance.now() - t0)} ms after start`);
    await table();
    for (const m of members) await newEvents(m); // skip formation events

    // 2. Group messages.
    say('2. demo-1 sends a group message…');
    await getJson(`${members[0]!.http}/groups/${GROUP}/send`, { method: 'POST', body: JSON.stringify({ object: { hello: 'from demo-1' } }) });
    const got = await awaitOnAll(members, 'message', (e) => e.from === 'demo-1/agent', 5000);
    check(got.size === n, `delivered to ${got.size}/${n} members (the sender included, as in RIAPS)`);

    // 3. Votes.
    for (const kind of ['majority', 'consensus'] as const) {
      say(`3. demo-2 asks for a ${kind} vote…`);
      const asker = members[Math.min(1, n - 1)]!;
      const { ballotId } = await getJson<{ ballotId: string }>(`${asker.http}/groups/${GROUP}/vote`, { method: 'POST', body: JSON.stringify({ topic: `demo ${kind} topic`, kind }) });
      const results = await awaitOnAll(members, 'voteResult', (e) => e.ballotId === ballotId, timers.consensusTimeout + 3000);
      const r = [...results.values()][0];
      const expected = n === 1 ? 'yes' : kind === 'majority' ? (n - 1 >= Math.floor(n / 2) + 1 ? 'yes' : 'no') : 'no';
      const tally = r?.tally as { yes: number; no: number; voters: number } | undefined;
      check(results.size === n && [...results.values()].every((e) => e.outcome === expected),
        `${kind}: '${String(r?.outcome)}' on ${results.size}/${n} members (yes ${tally?.yes}, no ${tally?.no} of ${tally?.voters} voters; expected '${expected}')`);
    }

    // 4. Action vote at an agreed instant.
    say('4. demo-1 proposes an action at an agreed instant (now + 2.5 s, majority)…');
    const { ballotId: actionBallot, when } = await getJson<{ ballotId: string; when: number }>(`${members[0]!.http}/groups/${GROUP}/action`, {
      method: 'POST',
      body: JSON.stringify({ action: 'blink the LED', inMs: Math.max(2500, timers.consensusTimeout + 1000), kind: 'majority' }),
    });
    const fired = await awaitOnAll(members, 'action', (e) => e.ballotId === actionBallot, when - Date.now() + 3000);
    const errors = [...fired.entries()].map(([node, e]) => `${node} ${(e.errorMs as number).toFixed(2)} ms`);
    check(fired.size === n, `fired on ${fired.size}/${n} members at ${new Date(when).toISOString()}; firing error: ${errors.join(', ')}`);
    const spread = Math.max(...[...fired.values()].map((e) => e.firedAt as number)) - Math.min(...[...fired.values()].map((e) => e.firedAt as number));
    say(`    spread between first and last member: ${spread.toFixed(1)} ms (wall clock, one machine)`);

    // 5. Failover.
    let failoverMs: number | null = null;
    if (n >= 3) {
      const leaderNode = formed.leader.split('/')[0]!;
      const victim = members.find((m) => m.node === leaderNode)!;
      say(`5. Killing the leader ${leaderNode} with SIGKILL…`);
      victim.proc.kill('SIGKILL');
      victim.alive = false;
      const after = await waitForCommonLeader(members, 30_000, formed.leader, false);
      failoverMs = after?.ms ?? null;
      check(after !== null, after ? `survivors agree on a new leader ${after.leader} (term ${after.term}) ${after.ms} ms after the kill` : 'no new leader within 30 s');
      await table();
    } else say('5. (failover needs at least 3 members; skipped)');

    say(`\nSummary: ${failed ? 'SOMETHING FAILED' : 'all steps passed'}; formation ${formed.ms} ms after the first status, failover ${failoverMs ?? '-'} ms after SIGKILL.`);
  } catch (err) {
    say(`demo failed: ${(err as Error).message}`);
    failed = true;
  } finally {
    for (const m of members) if (m.alive) m.proc.kill('SIGTERM');
    await Promise.all(members.map((m) => (m.alive ? new Promise((r) => m.proc.once('exit', r)) : null)));
  }
  return failed ? 1 : 0;
}
