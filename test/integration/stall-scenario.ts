/**
 * The stall case, shared by the integration test and `npm run bench:stall`:
 * 3 agents with `lan` timers, each hosting a component that blocks its event loop
 * 700 ms every 3 s while its member leads. Counts the group's leader changes (distinct
 * terms in which some member saw a leader elected) per time window.
 */
import { AgentCluster } from './agent-cluster.js';
import { join } from 'node:path';
import { FIXTURES } from './agent-cluster.js';

export interface StallRun {
  /** When each leader change happened, ms after the cluster started (sorted). */
  changes: number[];
  durationMs: number;
  /** Per agent, the timer scale it ended with. */
  scales: number[];
}

export interface StallOptions {
  adapt: boolean;
  blockMs?: number;
  everyMs?: number;
  /** Stall while leading (the case, default) or while following. */
  while?: 'leading' | 'following';
}

/** Three agents hosting the stalling component in group Stall.a with `lan` timers. */
export function stallCluster(opts: StallOptions): Promise<AgentCluster> {
  const config = {
    adapt: opts.adapt,
    components: [{ name: 'worker', module: join(FIXTURES, 'stall-leader.ts'), groups: [{ name: 'Stall.a', timers: 'lan' }], settings: { blockMs: opts.blockMs ?? 700, everyMs: opts.everyMs ?? 3000, while: opts.while ?? 'leading' } }],
  };
  return AgentCluster.create([0, 1, 2].map(() => ({ groups: [], timers: 'lan', minSize: 2, config })));
}

export async function runStall(opts: StallOptions & { durationMs: number; register?: (c: AgentCluster) => void }): Promise<StallRun> {
  const cluster = await stallCluster(opts);
  opts.register?.(cluster);
  const t0 = Date.now();
  try {
    await new Promise((r) => setTimeout(r, opts.durationMs));
    const terms = new Map<number, number>();
    const scales: number[] = [];
    for (const i of cluster.live()) {
      for (const e of await cluster.events(i)) {
        if (e.type !== 'leaderElected' || e.group !== 'Stall.a') continue;
        const term = e.term as number;
        terms.set(term, Math.min(terms.get(term) ?? Infinity, e.at - t0));
      }
      const g = (await cluster.status(i)).groups.find((x) => x.group === 'Stall.a');
      scales.push(g?.timerProfile?.scale ?? 1);
    }
    return { changes: [...terms.values()].sort((a, b) => a - b), durationMs: opts.durationMs, scales };
  } finally {
    await cluster.close();
  }
}

/** Leader changes per minute after the first `skipMs`. */
export function changesPerMinute(run: StallRun, skipMs = 60_000): number {
  const n = run.changes.filter((c) => c >= skipMs).length;
  return n / ((run.durationMs - skipMs) / 60_000);
}
