/**
 * The simulated network's rules: which copies of a message get through and how
 * late. The simulator owns the queue; this decides each message's fate from the
 * current loss/delay/duplication settings and the set of cut links, like the
 * `network` of etcd-io/raft's tests (`cut`, `isolate`, `drop`).
 */
import type { MemberId } from '../../agent/core/messages.js';
import type { Rng } from './random.js';

export interface NetworkParams {
  /** Probability that one copy of a message is lost. */
  loss: number;
  /** Probability that a message that gets through arrives twice. */
  duplicate: number;
  /** One-way delay, uniform in [delayMin, delayMax] ms; different delays reorder messages. */
  delayMin: number;
  delayMax: number;
}

export class Network {
  /** Directed links that drop everything, as "from>to". */
  private readonly cut = new Set<string>();

  constructor(
    private readonly rng: Rng,
    public params: NetworkParams,
  ) {}

  /** Cut every link between members of different groups (members in no group keep their links). */
  partition(groups: readonly (readonly MemberId[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i] ?? []) for (const b of groups[j] ?? []) this.cut.add(`${a}>${b}`);
      }
    }
  }

  /** Cut one direction only (an asymmetric fault: `from` cannot reach `to`). */
  cutOneWay(from: MemberId, to: MemberId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  isHealed(): boolean {
    return this.cut.size === 0;
  }

  connected(from: MemberId, to: MemberId): boolean {
    return from === to || this.cut.size === 0 || !this.cut.has(`${from}>${to}`);
  }

  /** Delays (ms) of the copies that get through: [] lost, [d] once, [d1, d2] duplicated. */
  fate(from: MemberId, to: MemberId): number[] {
    const p = this.params;
    // A member's own bus loops back locally: never lost or cut.
    if (from === to) return [p.delayMin];
    if (!this.connected(from, to) || this.rng.chance(p.loss)) return [];
    const first = this.delay();
    return this.rng.chance(p.duplicate) ? [first, this.delay()] : [first];
  }

  private delay(): number {
    const p = this.params;
    return this.rng.int(p.delayMin, p.delayMax);
  }
}
