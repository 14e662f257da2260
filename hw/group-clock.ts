/**
 * The group's clock, as one member sees it: each peer's wall-clock offset (peer − self,
 * ms) estimated from timestamps already on the wire, and the group's skew. Pure: the
 * runtime feeds it the samples and a monotonic time.
 *
 * - One way (every heartbeat carries its sender's wall clock `sentAt`): a message sent at
 *   peer time s and received at our time r took d >= 0, so offset = s − r + d >= s − r.
 *   The largest s − r in a window (the fastest message) is the tightest lower bound.
 * - A round trip to the peer (the leader's heartbeat answered by an ack) bounds d by the
 *   round-trip time: offset in [s − r, s − r + rtt]. With one, the estimate is the middle
 *   and the error half the width, as in NTP (RFC 5905); the smallest round trip wins.
 * - NTP's four timestamps (t1 our send, t2 peer receive, t3 peer send, t4 our receive)
 *   give offset ((t2 − t1) + (t3 − t4)) / 2 with error rtt / 2; kept where a wire has them.
 *
 * Only samples inside the window count, so a peer's clock step shows within one window.
 */
export interface PeerOffset {
  peer: string;
  /** Estimated peer − self wall-clock offset, ms (positive: the peer's clock is ahead). */
  offsetMs: number;
  /** Half-width of the interval the offset lies in, ms; null when only one-way samples exist (then offsetMs is a lower bound off by the unknown one-way delay). */
  errorMs: number | null;
  /** Smallest round trip in the window, ms (null: none measured). */
  rttMs: number | null;
  samples: number;
}

interface OneWay {
  at: number;
  lower: number;
}
interface Exchange {
  at: number;
  offset: number;
  rtt: number;
}
interface PeerSamples {
  oneWay: OneWay[];
  rtt: Array<{ at: number; rtt: number }>;
  exchanges: Exchange[];
}

export interface GroupClockOptions {
  /** Samples older than this (monotonic ms) no longer count. Default 20 s. */
  windowMs?: number;
  /** At most this many samples of each kind per peer. Default 64. */
  maxSamples?: number;
}

export class GroupClock {
  private readonly peers = new Map<string, PeerSamples>();
  readonly windowMs: number;
  private readonly maxSamples: number;

  constructor(opts: GroupClockOptions = {}) {
    this.windowMs = opts.windowMs ?? 20_000;
    this.maxSamples = opts.maxSamples ?? 64;
  }

  private samples(peer: string): PeerSamples {
    let s = this.peers.get(peer);
    if (!s) this.peers.set(peer, (s = { oneWay: [], rtt: [], exchanges: [] }));
    return s;
  }

  private push<T extends { at: number }>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.maxSamples) list.shift();
  }

  /** A message the peer stamped `sentAt` (its wall clock) reached us at our wall time `receivedAt`. */
  oneWay(peer: string, sentAt: number, receivedAt: number, atMono: number): void {
    if (!Number.isFinite(sentAt) || !Number.isFinite(receivedAt) || sentAt <= 0) return;
    const list = this.samples(peer).oneWay;
    const lower = sentAt - receivedAt;
    // Every group message is a sample: those within one slot of the window (windowMs /
    // maxSamples) of the slot's first share it, keeping the largest bound (all the estimate
    // takes), so a stream of messages allocates nothing per message and cannot push the
    // window's older, possibly tighter, samples out. A slot is dated by its first sample, so
    // it leaves the window no later than that sample would have.
    const last = list[list.length - 1];
    if (last !== undefined && atMono >= last.at && atMono - last.at < this.windowMs / this.maxSamples) {
      if (lower > last.lower) last.lower = lower;
      return;
    }
    this.push(list, { at: atMono, lower });
  }

  /** A round trip to the peer took `rttMs` (our monotonic clock). */
  roundTrip(peer: string, rttMs: number, atMono: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    this.push(this.samples(peer).rtt, { at: atMono, rtt: rttMs });
  }

  /** NTP-style exchange: t1/t4 our wall clock, t2/t3 the peer's. */
  exchange(peer: string, t1: number, t2: number, t3: number, t4: number, atMono: number): void {
    const rtt = t4 - t1 - (t3 - t2);
    if (![t1, t2, t3, t4].every(Number.isFinite) || rtt < 0) return;
    this.push(this.samples(peer).exchanges, { at: atMono, offset: (t2 - t1 + (t3 - t4)) / 2, rtt });
  }

  /** Each peer's round trips (ms) inside the window, oldest first: what `auto` timers judge. */
  roundTrips(nowMono: number): Map<string, number[]> {
    const since = nowMono - this.windowMs;
    const out = new Map<string, number[]>();
    for (const [peer, s] of this.peers) {
      s.rtt = s.rtt.filter((x) => x.at >= since);
      if (s.rtt.length > 0) out.set(peer, s.rtt.map((x) => x.rtt));
    }
    return out;
  }

  forget(peer: string): void {
    this.peers.delete(peer);
  }

  /** Our own wall clock stepped: every sample taken before is off by the step. */
  reset(): void {
    this.peers.clear();
  }

  estimate(peer: string, nowMono: number): PeerOffset | null {
    const s = this.peers.get(peer);
    if (!s) return null;
    const since = nowMono - this.windowMs;
    const prune = <T extends { at: number }>(l: T[]): T[] => l.filter((x) => x.at >= since);
    s.oneWay = prune(s.oneWay);
    s.rtt = prune(s.rtt);
    s.exchanges = prune(s.exchanges);
    const n = s.oneWay.length + s.exchanges.length;
    if (n === 0) return null;
    let rtt: number | null = null;
    for (const r of s.rtt) rtt = rtt === null ? r.rtt : Math.min(rtt, r.rtt);
    let best: Exchange | null = null;
    for (const e of s.exchanges) if (!best || e.rtt < best.rtt) best = e;
    if (best && (rtt === null || best.rtt <= rtt)) return { peer, offsetMs: best.offset, errorMs: best.rtt / 2, rttMs: best.rtt, samples: n };
    let lower = -Infinity;
    for (const o of s.oneWay) lower = Math.max(lower, o.lower);
    if (lower === -Infinity) {
      // Only exchanges, but a smaller plain round trip: still the best exchange.
      const e = best as Exchange;
      return { peer, offsetMs: e.offset, errorMs: e.rtt / 2, rttMs: e.rtt, samples: n };
    }
    if (rtt === null) return { peer, offsetMs: lower, errorMs: null, rttMs: null, samples: n };
    return { peer, offsetMs: lower + rtt / 2, errorMs: rtt / 2, rttMs: rtt, samples: n };
  }

  estimates(nowMono: number): PeerOffset[] {
    const out: PeerOffset[] = [];
    for (const peer of [...this.peers.keys()].sort()) {
      const e = this.estimate(peer, nowMono);
      if (e) out.push(e);
    }
    return out;
  }
}

export interface GroupClockSummary {
  peers: PeerOffset[];
  /** Spread of the group's clocks as seen from here (this member at 0), ms. 0 with no peers. */
  skewMs: number;
  /** This member's clock minus the group's (the median of all clocks, this one included), ms. */
  selfOffsetMs: number;
  /** The largest peer error bound (null: some offset is one-way only). */
  errorMs: number | null;
}

export function summarise(peers: PeerOffset[]): GroupClockSummary {
  if (peers.length === 0) return { peers, skewMs: 0, selfOffsetMs: 0, errorMs: 0 };
  const clocks = [0, ...peers.map((p) => p.offsetMs)].sort((a, b) => a - b);
  const mid = clocks.length / 2;
  const median = clocks.length % 2 === 1 ? (clocks[Math.floor(mid)] as number) : ((clocks[mid - 1] as number) + (clocks[mid] as number)) / 2;
  let errorMs: number | null = 0;
  for (const p of peers) errorMs = errorMs === null || p.errorMs === null ? null : Math.max(errorMs, p.errorMs);
  return { peers, skewMs: (clocks[clocks.length - 1] as number) - (clocks[0] as number), selfOffsetMs: -median, errorMs };
}
