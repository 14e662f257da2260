/**
 * npm run sim -- --seeds N [--start S] [--jobs J] [--no-codec] [--ignore rule,...]
 * npm run sim -- --seed S [--brief]
 *
 * Runs seeded schedules (seeds start..start+N-1) on worker threads and ends
 * with exactly one line `seeds=N violations=V` (exit code 1 if V > 0). A failing
 * seed prints its trace and the command that replays it; `--seed S` replays one
 * schedule exactly, with every trace record (`--brief`: only the last ones, on failure).
 */
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { describePlan, electionRounds } from './schedule.js';
import { runSeed, type RunOptions, type RunResult } from './run.js';

interface Summary {
  seed: number;
  violations: RunResult['violations'];
  trace: string;
  plan: string;
  establishedAfter: number | null;
  bound: number;
  /** establishedAfter in election rounds beyond the drain term of the bound (see livenessBound). */
  rounds: number | null;
  skipped: boolean;
  steps: number;
  deliveries: number;
  virtualMs: number;
  lateActions: number;
  ignored: Record<string, number>;
}

/** Runs one seed; a crash of the simulator itself is reported as a violation of that seed. */
function runOne(seed: number, opts: RunOptions): Summary {
  try {
    return summarize(runSeed(seed, opts));
  } catch (err) {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    return { seed, violations: [{ seed, t: -1, rule: 'simulator-error', text }], trace: '', plan: `seed ${seed}`, establishedAfter: null, bound: 0, rounds: null, skipped: false, steps: 0, deliveries: 0, virtualMs: 0, lateActions: 0, ignored: {} };
  }
}

function summarize(r: RunResult): Summary {
  return {
    seed: r.seed,
    violations: r.violations,
    trace: r.trace,
    plan: describePlan(r.plan),
    establishedAfter: r.liveness?.establishedAfter ?? null,
    bound: r.plan.bound,
    rounds: r.liveness?.establishedAfter == null ? null : electionRounds(r.liveness.establishedAfter, r.plan.timers, r.plan.network.delayMax),
    skipped: r.livenessSkipped !== null,
    steps: r.stats.steps,
    deliveries: r.stats.deliveries,
    virtualMs: r.stats.virtualMs,
    lateActions: r.stats.lateActions,
    ignored: r.ignored,
  };
}

interface Args {
  seeds: number;
  start: number;
  seed: number | null;
  verbose: boolean;
  jobs: number;
  codec: boolean;
  ignore: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 100, start: 1, seed: null, verbose: true, jobs: Math.max(1, availableParallelism()), codec: true, ignore: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a whole number`);
      return v;
    };
    if (a === '--seeds') args.seeds = num();
    else if (a === '--start') args.start = num();
    else if (a === '--seed') args.seed = num();
    else if (a === '--jobs') args.jobs = Math.max(1, num());
    else if (a === '--verbose') args.verbose = true; // the default for --seed; kept for old commands
    else if (a === '--brief') args.verbose = false;
    else if (a === '--no-codec') args.codec = false;
    else if (a === '--ignore') args.ignore = (argv[++i] ?? '').split(',').filter(Boolean);
    else throw new Error(`unknown argument ${a} (use --seeds N [--start S] [--jobs J] [--no-codec] [--ignore rule,...] | --seed S [--brief])`);
  }
  return args;
}

function printFailure(s: Summary, withTrace: boolean): void {
  console.log(`\nFAIL seed ${s.seed}: ${s.plan}`);
  for (const v of s.violations) console.log(`  at ${v.t} ms [${v.rule}] ${v.text}`);
  if (withTrace && s.trace) console.log(`  last trace records:\n${s.trace.replace(/^/gm, '    ')}`);
  console.log(`  replay with the full trace: npm run sim -- --seed ${s.seed}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

async function runMany(args: Args): Promise<number> {
  const seeds = Array.from({ length: args.seeds }, (_, i) => args.start + i);
  const jobs = Math.min(args.jobs, Math.max(1, seeds.length));
  const results: Summary[] = [];
  const started = performance.now();
  let lastReport = started;
  const chunk = Math.max(1, Math.min(25, Math.ceil(seeds.length / (jobs * 8))));
  let next = 0;

  await Promise.all(
    Array.from({ length: jobs }, () => {
      // A worker cannot start from a .ts file directly: register tsx in it first.
      const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
      const worker = new Worker(boot, { eval: true, workerData: { codec: args.codec, ignore: args.ignore } });
      return new Promise<void>((resolve, reject) => {
        const feed = () => {
          if (next >= seeds.length) return void worker.postMessage(null);
          worker.postMessage(seeds.slice(next, next + chunk));
          next += chunk;
        };
        worker.on('message', (batch: Summary[]) => {
          results.push(...batch);
          const now = performance.now();
          if (now - lastReport > 10_000) {
            lastReport = now;
            const bad = results.filter((r) => r.violations.length).length;
            console.log(`... ${results.length}/${seeds.length} seeds, ${bad} failing, ${((results.length * 1000) / (now - started)).toFixed(1)} seeds/s`);
          }
          feed();
        });
        worker.on('error', reject);
        worker.on('exit', () => resolve());
        feed();
      });
    }),
  );

  results.sort((a, b) => a.seed - b.seed);
  const failing = results.filter((r) => r.violations.length);
  failing.forEach((f, i) => printFailure(f, i < 3));
  if (failing.length > 3) console.log(`\n(traces shown for the first 3 failing seeds only)`);

  const secs = (performance.now() - started) / 1000;
  const live = results.filter((r) => r.establishedAfter !== null);
  const ratios = live.map((r) => (r.establishedAfter as number) / r.bound).sort((a, b) => a - b);
  const abs = live.map((r) => r.establishedAfter as number).sort((a, b) => a - b);
  const steps = results.reduce((n, r) => n + r.steps, 0);
  const late = results.reduce((n, r) => n + r.lateActions, 0);
  console.log(
    `\n${results.length} seeds in ${secs.toFixed(1)} s (${(results.length / secs).toFixed(1)} seeds/s, ${jobs} workers, ${(steps / secs / 1000).toFixed(0)}k steps/s, codec ${args.codec ? 'on' : 'off'})`,
  );
  if (live.length) {
    console.log(
      `stable leader after: median ${percentile(abs, 0.5)} ms, p99 ${percentile(abs, 0.99)} ms, max ${abs[abs.length - 1]} ms; ` +
        `as a fraction of the bound: median ${percentile(ratios, 0.5).toFixed(2)}, p99 ${percentile(ratios, 0.99).toFixed(2)}, max ${(ratios[ratios.length - 1] ?? 0).toFixed(2)}`,
    );
  }
  const rounds = results.flatMap((r) => (r.rounds === null ? [] : [r.rounds])).sort((a, b) => a - b);
  if (rounds.length) {
    const over = (k: number) => rounds.filter((r) => r > k).length;
    console.log(
      `  in election rounds beyond the drain term: median ${percentile(rounds, 0.5).toFixed(2)}, p99 ${percentile(rounds, 0.99).toFixed(2)}, max ${(rounds[rounds.length - 1] ?? 0).toFixed(2)}; ` +
        `seeds needing > 1 / > 2 rounds: ${over(1)} / ${over(2)}`,
    );
  }
  const skipped = results.filter((r) => r.skipped).length;
  if (skipped) console.log(`liveness not expected in ${skipped} seeds (too many voters left for a quorum)`);
  const ignored = new Map<string, number>();
  for (const r of results) for (const [rule, n] of Object.entries(r.ignored)) ignored.set(rule, (ignored.get(rule) ?? 0) + n);
  for (const [rule, n] of ignored) console.log(`ignored (--ignore): ${n} violations of ${rule} in ${results.filter((r) => r.ignored[rule]).length} seeds`);
  if (late) console.log(`actions whose 'yes' arrived after their instant: ${late}`);
  const violations = results.reduce((n, r) => n + r.violations.length, 0);
  console.log(`seeds=${results.length} violations=${violations}`);
  return violations;
}

function replay(args: Args): number {
  const seed = args.seed as number;
  const r = runSeed(seed, { codec: args.codec, ignore: args.ignore, ...(args.verbose ? { echo: (line: string) => console.log(line), traceSize: 1 } : {}) });
  const s = summarize(r);
  console.log(s.plan);
  if (s.violations.length) printFailure(s, !args.verbose);
  else console.log(`seed ${seed} passed: stable leader after ${s.establishedAfter ?? '-'} ms (bound ${s.bound})${r.livenessSkipped ? `; liveness not expected: ${r.livenessSkipped}` : ''}`);
  console.log(`seeds=1 violations=${s.violations.length}`);
  return s.violations.length;
}

if (isMainThread) {
  // A full trace piped into `head` or `less` that is closed early: stop quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    const args = parseArgs(process.argv.slice(2));
    const violations = args.seed !== null ? replay(args) : await runMany(args);
    process.exitCode = violations > 0 ? 1 : 0;
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 2;
  }
} else {
  const { codec, ignore } = workerData as { codec: boolean; ignore: string[] };
  parentPort?.on('message', (seeds: number[] | null) => {
    if (seeds === null) return void parentPort?.close();
    parentPort?.postMessage(seeds.map((seed) => runOne(seed, { codec, ignore })));
  });
}
