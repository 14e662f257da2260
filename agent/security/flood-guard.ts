/**
 * Per-peer receive rate limits (RIAPS bug B19: one peer flooding group data starved the
 * heartbeats of everyone, and its backlog was still being delivered seconds later).
 *
 * Each sending node gets two token buckets: one for group data (`data`: the application's
 * messages) and a larger one for everything else (heartbeats, votes, ballots, results:
 * the protocol's control frames), so a flood of data can never use up the allowance of
 * the frames that keep the group alive. A frame over its bucket is dropped before it
 * reaches the member, and counted (`drops.flood`). Checking costs a map lookup and a few
 * additions, so dropping keeps up with floods far above what the member can process.
 *
 * Who "a peer" is: in secure mode the node the frame's key or tag proved; in plaintext the
 * node part of the claimed sender (`from`), which a forger can vary, so plaintext keeps at
 * most MAX_PEERS buckets and shares one overflow bucket pair among the rest.
 */

export interface FloodLimits {
  /** Group-data frames per second per peer, and the burst allowed above it. */
  dataPerSecond: number;
  dataBurst: number;
  /** Control frames per second per peer, and the burst. */
  controlPerSecond: number;
  controlBurst: number;
}

/**
 * Control: generous (a member's heartbeats are a few per second per group). Data: what a
 * loaded 2-core machine delivers to the application without starving the protocol
 * (measured: 2000/s of accepted data from one flooder still cost the group its leader;
 * see test/integration/security-flood.test.ts). Raise it for chatty applications on
 * faster boards.
 */
export const FLOOD_DEFAULTS: FloodLimits = { dataPerSecond: 500, dataBurst: 1000, controlPerSecond: 1000, controlBurst: 2000 };

const MAX_PEERS = 1024;
const OVERFLOW = '\0overflow';

interface Bucket {
  tokens: number;
  at: number;
}

export class FloodGuard {
  private readonly buckets = new Map<string, { data: Bucket; control: Bucket }>();
  readonly dropped = { data: 0, control: 0 };

  constructor(
    readonly limits: FloodLimits = FLOOD_DEFAULTS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether a frame of body type `type` from `peer` may pass. */
  admit(peer: string, type: string): boolean {
    let b = this.buckets.get(peer);
    if (!b) {
      const key = this.buckets.size >= MAX_PEERS ? OVERFLOW : peer;
      b = this.buckets.get(key);
      if (!b) {
        const at = this.now();
        b = { data: { tokens: this.limits.dataBurst, at }, control: { tokens: this.limits.controlBurst, at } };
        this.buckets.set(key, b);
      }
    }
    const data = type === 'data';
    const bucket = data ? b.data : b.control;
    const rate = data ? this.limits.dataPerSecond : this.limits.controlPerSecond;
    const burst = data ? this.limits.dataBurst : this.limits.controlBurst;
    const t = this.now();
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) * rate) / 1000);
    bucket.at = t;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    if (data) this.dropped.data++;
    else this.dropped.control++;
    return false;
  }
}
