/**
 * `npm run bench`: every benchmark of issue 13 in one run, each comparison interleaved
 * with its baseline, written to BENCHMARKS.md (table, machine, command) and optionally
 * to JSON. Usage: npm run bench -- [--quick] [--json FILE] [--out BENCHMARKS.md] [--only a,b]
 * Sections: broadcast, failover, etcd, votes, formation, idle, scale.
 * Agents run from dist/ (npm run bench builds it first); --cli runs the failover, formation,
 * idle and scale agents from another build instead (e.g. a copy of dist/ from an earlier commit, to
 * compare before and after on the same machine, runs alternated).
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { broadcastBench, type BroadcastResult } from './broadcast.js';
import { etcdBench, etcdIdle } from './etcd.js';
import { failoverSeries, type FailoverSeries } from './failover.js';
import { fleetRun, type FleetRun } from './fleet.js';
import { procStat } from './lib/cluster.js';
import { fmt } from './lib/stats.js';
import { votesAcrossProcesses, votesInProcess } from './votes.js';
import { TIMER_PRESETS } from '../agent/core/timers.js';

/** What the tables do not say (kept with the code that produces them). */
const NOTES = [
  '- **Broadcast gap.** A CPU profile of the 100 B run (BENCH_PROFILE_DIR=dir npx tsx bench/broadcast.ts profiles each measured run) shows where a Cohort message goes beyond what raw zeromq.js does: the envelope encode with validation (protobufjs + the wire rules, ~15-20 % of the sender), the core step and driver (~5 %), the event and delivery path (~5 %), garbage collection of the per-message objects (~7 %); the receiver spends ~14 % in decode and validation. The zeromq.js send/receive calls themselves (the same as the baseline\'s) are the rest. The /events log no longer decodes payloads per message (previews are rendered when /events is read), and an agent\'s own broadcasts looped back by its bus are recognised by their first bytes and never decoded.',
  '- **Before this work** (issue 13, same kind of machine): 100 B broadcast 0.19× raw, 4 KiB 0.28×, latency 1.94×; leader SIGKILL → all survivors agree, RIAPS timers, 5 members: 1011 ms; idle at 10 members 1.08 % of a core and 66 MiB per agent; votes across processes 7 ms (over HTTP).',
  '- **Failover.** A crash fails over on the connection-closed hint (GroupMember.peerClosed; docs/protocol.md), independent of the timers; silence (SIGSTOP) still waits for the election timeout, within each preset\'s bound (electionMax plus a round trip). The `wired` preset is for fast wired LANs.',
  '- **Idle CPU.** Split by thread (/proc/PID/task) at 10 members with the RIAPS timers: the Node main thread is most of it, the libzmq I/O thread ~0.2 % (ZMTP PINGs: only the connecting side pings, one per group heartbeat, plus the group traffic). The main thread used to wake 93 times a second, 100 of them for the event-loop stall timer (perf_hooks.monitorEventLoopDelay at a fixed 10 ms, ~0.35 % of a core by itself); its resolution now follows the groups\' stall budgets (an eighth of upFraction × electionMin: 93 ms with the RIAPS timers, 10 ms with `wired`), 26 wake-ups a second. What is left of the main thread is the group traffic (~11 frames in and 3 out per agent per second: decode, the core step, the acks; ~55 % of its samples in a CPU profile), the status sampling behind /healthz and the progress lines (2 a second, ~4 %), the load sample (1 a second) and garbage collection (~10 %).',
  '- **RSS.** Bare Node is ~40 MiB here (34 MiB of it file-backed: the node binary\'s code pages, shared by every Node process on the machine). What an agent cannot do without costs ~21 MiB more: a process that only loads zeromq.js, protobufjs, pino, commander and node:http and runs one PUB/SUB pair and an HTTP server measures 61 MiB (anon 17, file 44; loading CommonJS from ES modules and running the compilers touch ~10 MiB more of the node binary). An idle agent is ~67 MiB (anon ~22: the V8 heap, ~11 MiB used, of it ~3 MiB compiled code and bytecode and ~2 MiB module sources, and its young generation; malloc arenas, libzmq\'s buffers and threads). What it does not use at start is no longer loaded: yaml (first config file), prom-client (first /metrics scrape), bonjour-service (mDNS discovery), systeminformation (the board facts come from /etc/os-release, /sys/class/dmi and node:os), MessagePack (first object or event preview): ~4 MiB less in the 10-member bench and ~7 MiB for one agent. The 55 MiB goal is below what those required modules take by themselves; V8 flags would close part of the gap (--max-semi-space-size=1: −2 MiB; --lite-mode: ~53 MiB, but no optimising compiler for the hot path) and are not used.',
].join('\n');

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' }, out: { type: 'string', default: 'BENCHMARKS.md' }, only: { type: 'string' }, 'failover-trials': { type: 'string' }, render: { type: 'string' }, cli: { type: 'string' } } });
const cli = values.cli ? { cli: values.cli } : {};
const quick = values.quick!;
const only = values.only ? new Set(values.only.split(',')) : null;
const want = (s: string) => only === null || only.has(s);
const log = (s: string) => process.stdout.write(`${s}\n`);
const started = new Date();
const load0 = loadavg();

const P = quick
  ? { bcastReps: 3, bcastMs: 1000, latMs: 500, foTrials: 3, etcdTrials: 2, voteTrials: 10, formReps: 1, idleS: 15, scaleS: 10, scale: [5, 25, 50] }
  : { bcastReps: 5, bcastMs: 2000, latMs: 800, foTrials: 20, etcdTrials: 6, voteTrials: 30, formReps: 1, idleS: 30, scaleS: 15, scale: [5, 25, 50] };

if (values.render) {
  // Re-render BENCHMARKS.md from a saved --json file (no measuring).
  const saved = JSON.parse(readFileSync(values.render, 'utf8')) as Record<string, unknown>;
  const params = saved['params'] as { foTrials?: number } | undefined;
  const command = (saved['command'] as string | undefined) ?? `npm run bench -- ${saved['quick'] ? '--quick ' : ''}--failover-trials ${params?.foTrials ?? ''} --json FILE`;
  writeFileSync(values.out!, render(saved, command));
  process.exit(0);
}
if (values['failover-trials']) P.foTrials = Number(values['failover-trials']);
const results: Record<string, unknown> = { quick, started: started.toISOString(), params: P };
const t0 = performance.now();
const sectionS: Record<string, number> = {};
results['sectionS'] = sectionS;

function commandLine(): string {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--render'));
  return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

function machine(): string {
  let kernel = '';
  try { kernel = execSync('uname -sr', { encoding: 'utf8' }).trim(); } catch { /* not Linux */ }
  let zmqv = '';
  try { zmqv = execSync(`${process.execPath} -e "const z=require('zeromq');console.log(z.version)"`, { encoding: 'utf8' }).trim(); } catch { /* absent */ }
  return `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${kernel}, Node ${process.version}, libzmq ${zmqv}`;
}

if (want('broadcast')) {
  const ts = performance.now();
  log('broadcast throughput and latency, 3 members, vs raw zeromq.js PUB/SUB');
  results['broadcast'] = await broadcastBench({ sizes: [100, 4096], reps: P.bcastReps, ms: P.bcastMs, latMs: P.latMs, log });
  sectionS['broadcast'] = (performance.now() - ts) / 1000;
}
if (want('failover')) {
  const ts = performance.now();
  log('failover, 5 agents, every preset');
  const fo: FailoverSeries[] = [];
  for (const timers of ['riaps', 'lan', 'wired', 'slow']) fo.push(...(await failoverSeries({ timers, members: 5, signals: ['SIGKILL', 'SIGSTOP', 'SIGTERM'], trials: P.foTrials, log, ...cli })));
  results['failover'] = fo;
  sectionS['failover'] = (performance.now() - ts) / 1000;
}
if (want('etcd')) {
  const ts = performance.now();
  log('etcd side by side, 3 members');
  results['etcd'] = await etcdBench({ trials: P.etcdTrials, signals: ['SIGKILL', 'SIGSTOP'], log });
  sectionS['etcd'] = (performance.now() - ts) / 1000;
}
if (want('votes')) {
  const ts = performance.now();
  log('votes, 5 members');
  const inProc = await votesInProcess(P.voteTrials, log);
  const across = await votesAcrossProcesses(P.voteTrials, log);
  results['votes'] = [...inProc, ...across.votes];
  results['actions'] = across.actions;
  sectionS['votes'] = (performance.now() - ts) / 1000;
}
if (want('formation')) {
  const ts = performance.now();
  log('formation');
  const runs: FleetRun[] = [];
  for (let r = 0; r < P.formReps; r++) for (const n of [3, 5, 9]) for (const timers of ['riaps', 'lan']) runs.push(await fleetRun({ members: n, timers, log, ...cli }));
  results['formation'] = runs;
  sectionS['formation'] = (performance.now() - ts) / 1000;
}
if (want('idle')) {
  const ts = performance.now();
  log('idle cost, 10 members, default timers (and wired), against bare Node and etcd');
  results['idle'] = [await fleetRun({ members: 10, timers: 'riaps', idleWindowS: P.idleS, log, ...cli }), await fleetRun({ members: 10, timers: 'wired', idleWindowS: P.idleS, log, ...cli })];
  results['etcdIdle'] = await etcdIdle(P.idleS * 1000, procStat);
  sectionS['idle'] = (performance.now() - ts) / 1000;
}
if (want('scale')) {
  const ts = performance.now();
  log('scale: 5, 25, 50 members');
  const runs: FleetRun[] = [];
  for (const n of P.scale) runs.push(await fleetRun({ members: n, timers: 'riaps', idleWindowS: P.scaleS, log, ...cli }));
  results['scale'] = runs;
  sectionS['scale'] = (performance.now() - ts) / 1000;
}
results['durationS'] = (performance.now() - t0) / 1000;
results['command'] = commandLine();
results['loadavg'] = { before: load0, after: loadavg() };
results['machine'] = machine();

if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 1));
const md = render(results);
writeFileSync(values.out!, md);
log(md);

// ------------------------------------------------------------------ rendering

function render(r: Record<string, unknown>, command?: string): string {
  const L: string[] = [];
  const ms = (x: number) => (Number.isFinite(x) ? `${fmt(x)} ms` : '–');
  const la = r['loadavg'] as { before: number[]; after: number[] };
  L.push('# Benchmarks', '');
  L.push(`Produced by \`${command ?? commandLine()}\` (bench/run.ts) on ${String(r['started']).slice(0, 16).replace('T', ' ')} UTC, ${Math.round(Number(r['durationS']) / 60)} min.`);
  L.push('', `Machine: ${String(r['machine'])}. Load average before/after: ${la.before.map((x) => x.toFixed(1)).join(' ')} / ${la.after.map((x) => x.toFixed(1)).join(' ')}` +
    (la.before[0]! > cpus().length * 0.7 ? ' — **a loaded machine** (other work shared the cores): absolute figures are noisy, which is why every comparison is a ratio against a baseline measured in the same run, interleaved.' : '.'));
  L.push('', 'Every figure comes from real processes on loopback. Agents run from dist/. Medians (p50) unless said otherwise.', '');
  const b = r['broadcast'] as BroadcastResult[] | undefined;
  if (b) {
    L.push('## Broadcast: Cohort vs raw zeromq.js PUB/SUB', '', '3 processes, one sending; the raw baseline has the same topology (each process a PUB and a SUB connected to all three PUBs). Throughput: the slowest receiver while the sender floods; latency: one-way, one message every 2 ms. Payloads are arbitrary bytes (not MessagePack).', '');
    L.push('| size | Cohort msg/s | raw msg/s | ratio | Cohort latency p50 / p99 | raw p50 / p99 | ratio (p50) |', '|---|---|---|---|---|---|---|');
    for (const x of b) L.push(`| ${x.size} B | ${fmt(x.cohortRate)} | ${fmt(x.zmqRate)} | **${x.rateRatio.toFixed(2)}** | ${fmt(x.cohortLatUs.p50)} / ${fmt(x.cohortLatUs.p99)} µs | ${fmt(x.zmqLatUs.p50)} / ${fmt(x.zmqLatUs.p99)} µs | **${x.latRatio.toFixed(2)}** |`);
    L.push('', `(${b[0]?.reps} interleaved repetitions per size; per-repetition samples in the JSON.)`, '');
  }
  const fo = r['failover'] as FailoverSeries[] | undefined;
  if (fo) {
    L.push('## Failover, 5 agents', '', 'From the signal to the last survivor\'s `leaderElected` for the new leader (read from every survivor\'s event log). SIGKILL: a crash (the kernel closes the process\'s connections: the survivors take that as a hint and elect at once). SIGSTOP: silence, as a powered-off board or a cut cable (no connection closes; only the timers can tell). SIGTERM: a graceful leave (hand-over).', '');
    L.push('| preset | timers (hb/eMin/eMax/peer) | SIGKILL p50 / p99 / max | SIGSTOP (silence) p50 / p99 / max | SIGTERM (leave) p50 / p99 / max | n |', '|---|---|---|---|---|---|');
    for (const timers of [...new Set(fo.map((x) => x.timers))]) {
      const t = TIMER_PRESETS[timers as keyof typeof TIMER_PRESETS];
      const cell = (sig: string) => { const s = fo.find((x) => x.timers === timers && x.signal === sig); return s ? `${fmt(s.summary.p50)} / ${fmt(s.summary.p99)} / ${fmt(s.summary.max)} ms${s.failed ? ` (${s.failed} failed)` : ''}` : '–'; };
      const n = fo.find((x) => x.timers === timers)?.summary.n ?? 0;
      L.push(`| ${timers} | ${t ? `${t.heartbeat}/${t.electionMin}/${t.electionMax}/${t.peerTimeout}` : ''} | ${cell('SIGKILL')} | ${cell('SIGSTOP')} | ${cell('SIGTERM')} | ${n} |`);
    }
    L.push('');
  }
  const e = r['etcd'] as { skipped?: string; results?: Array<{ signal: string; etcd: { p50: number; p99: number; n: number }; cohort: { p50: number; p99: number; n: number }; ratio: number }> } | undefined;
  if (e) {
    L.push('## Leader failover vs etcd, 3 members, same timers', '');
    if (e.skipped) L.push(`Skipped: ${e.skipped}.`, '');
    else {
      L.push('etcd 3.4 (Debian), `--heartbeat-interval 100 --election-timeout 1000` (etcd draws election timeouts from [1000, 2000) ms) ⇔ Cohort heartbeat 100, electionMin 1000, electionMax 2000, peerTimeout 2500 (Cohort needs peerTimeout > electionMax; etcd has no counterpart). The leader is killed the same way, trials interleaved; time to the last survivor logging the new leader (etcd: its "elected leader" log line; Cohort: its event).', '');
      L.push('| leader | etcd p50 / p99 | Cohort p50 / p99 | ratio (p50) | n |', '|---|---|---|---|---|');
      for (const x of e.results ?? []) L.push(`| ${x.signal === 'SIGKILL' ? 'SIGKILL (crash)' : 'SIGSTOP (silence)'} | ${ms(x.etcd.p50)} / ${ms(x.etcd.p99)} | ${ms(x.cohort.p50)} / ${ms(x.cohort.p99)} | **${x.ratio.toFixed(2)}** | ${x.etcd.n} / ${x.cohort.n} |`);
      L.push('');
    }
  }
  const v = r['votes'] as Array<{ where: string; kind: string; allMembers: { p50: number; p99: number; n: number }; perMember: { p50: number; p99: number }; timeouts: number }> | undefined;
  if (v) {
    L.push('## Votes, 5 members', '', 'Request → result, every member voting yes at once; "at all 5": when the last member has the result.', '');
    L.push('| where | kind | at all 5 p50 / p99 | per member p50 / p99 | n | no result |', '|---|---|---|---|---|---|');
    for (const x of v) L.push(`| ${x.where} | ${x.kind} | ${ms(x.allMembers.p50)} / ${ms(x.allMembers.p99)} | ${ms(x.perMember.p50)} / ${ms(x.perMember.p99)} | ${x.allMembers.n} | ${x.timeouts} |`);
    const a = r['actions'] as { spreadMs: { p50: number; p99: number; n: number }; errorMs: { p50: number; p99: number } } | undefined;
    if (a) L.push('', `Action firing, 5 processes: spread of the firing instants across members p50 ${ms(a.spreadMs.p50)}, p99 ${ms(a.spreadMs.p99)} (n=${a.spreadMs.n}); each member's own |firing error| p50 ${ms(a.errorMs.p50)}, p99 ${ms(a.errorMs.p99)}.`);
    L.push('');
  }
  const f = r['formation'] as FleetRun[] | undefined;
  if (f) {
    L.push('## Formation', '', 'Spawn → every agent answers /status (Node and module start-up), then → one agreed leader with full membership (the probe for node-id clashes, discovery, election).', '');
    L.push('| agents | preset | start-up | formation |', '|---|---|---|---|');
    for (const x of f) L.push(`| ${x.members} | ${x.timers} | ${ms(x.startupMs ?? NaN)} | ${ms(x.formationMs ?? NaN)} |`);
    L.push('');
  }
  const idle = r['idle'] as FleetRun[] | undefined;
  const scale = r['scale'] as FleetRun[] | undefined;
  const ei = r['etcdIdle'] as { cpuPct: number; rssMiB: number } | null | undefined;
  if (idle || scale) {
    L.push('## Idle cost and scale', '', 'CPU (% of one core) and RSS per agent over an idle window after formation, against a bare `node` process started alongside' + (ei ? ` and an idle member of a 3-member etcd cluster (${ei.cpuPct.toFixed(2)} % CPU, ${ei.rssMiB.toFixed(1)} MiB)` : '') + '. Messages per agent per second from the transport counters (bus and direct); bytes estimated from the encoded heartbeat sizes (without ZMTP/TCP framing).', '');
    L.push('| agents | preset | window | CPU per agent p50 (max) | bare node CPU | RSS per agent | bare node RSS | msgs/s out / in | est. bytes/s out | term changes while idle | formation |', '|---|---|---|---|---|---|---|---|---|---|---|');
    for (const x of [...(idle ?? []), ...(scale ?? [])]) {
      const i = x.idle;
      if (!i) { L.push(`| ${x.members} | ${x.timers} | – | did not form | | | | | | | |`); continue; }
      L.push(`| ${x.members} | ${x.timers} | ${Math.round(i.windowS)} s | ${i.cpuPctPerAgent.median.toFixed(2)} % (${i.cpuPctPerAgent.max.toFixed(2)}) | ${i.bareNode.cpuPct.toFixed(2)} % | ${i.rssMiBPerAgent.median.toFixed(1)} MiB | ${i.bareNode.rssMiB.toFixed(1)} MiB | ${i.msgsPerSecPerAgent.out.toFixed(1)} / ${i.msgsPerSecPerAgent.in.toFixed(1)} | ${fmt(i.bytesPerSecPerAgentOut)} | ${i.termChanges} | ${ms(x.formationMs ?? NaN)} |`);
    }
    L.push('');
  }
  L.push('## Notes', '', NOTES, '');
  return L.join('\n');
}
