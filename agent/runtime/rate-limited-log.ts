/**
 * Rate-limited logging for events a peer (or an attacker) can cause at line rate:
 * undecodable frames, encode failures, internal errors. Counting stays exact
 * elsewhere (status `drops`, metrics); the log only has to say "this is happening".
 *
 * Per kind (a short string such as `decode`), a token bucket: up to `burst` lines
 * (default {@link RATE_LIMIT_DEFAULTS}.burst = 5) pass at once, then one more line
 * per `intervalMs` (default 10 s). Every line that follows suppressed ones carries
 * `suppressed` (how many were swallowed since the previous line of that kind) and
 * `total` (all occurrences of that kind so far). So N events over T ms produce at
 * most `burst + T / intervalMs` lines per kind, whatever N is. Suppressed events
 * cost one map lookup and two additions: no allocation, no formatting.
 *
 * The number of kinds is fixed by the code that calls it (never taken from input),
 * so the per-kind state is bounded.
 */

export interface RateLimitedLogOptions {
  /** One more line per kind is allowed every this many ms (default 10 000). */
  intervalMs?: number;
  /** Lines per kind that may pass back to back before limiting starts (default 5). */
  burst?: number;
  /** Monotonic milliseconds (default performance.now); injectable for tests. */
  now?: () => number;
}

export const RATE_LIMIT_DEFAULTS = { intervalMs: 10_000, burst: 5 } as const;

/** The subset of pino used (pino itself fits). */
export interface LevelLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

interface KindState {
  tokens: number;
  refilledAt: number;
  suppressed: number;
  total: number;
}

export class RateLimitedLog {
  private readonly kinds = new Map<string, KindState>();
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(
    private readonly logger: LevelLogger,
    opts: RateLimitedLogOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? RATE_LIMIT_DEFAULTS.intervalMs;
    this.burst = opts.burst ?? RATE_LIMIT_DEFAULTS.burst;
    this.now = opts.now ?? (() => performance.now());
    if (!(this.intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${this.intervalMs}`);
    if (!Number.isInteger(this.burst) || this.burst < 1) throw new RangeError(`burst must be a whole number >= 1, got ${this.burst}`);
  }

  /**
   * Counts one event of `kind`; returns the number of events the line stands for
   * (1 + suppressed) if a line may be written now, else 0. Use it when building the
   * log object is itself costly; otherwise call {@link warn} and friends.
   */
  take(kind: string): number {
    const t = this.now();
    let s = this.kinds.get(kind);
    if (!s) {
      s = { tokens: this.burst, refilledAt: t, suppressed: 0, total: 0 };
      this.kinds.set(kind, s);
    } else if (s.tokens < this.burst) {
      const earned = Math.floor((t - s.refilledAt) / this.intervalMs);
      if (earned > 0) {
        s.tokens = Math.min(this.burst, s.tokens + earned);
        s.refilledAt = s.tokens === this.burst ? t : s.refilledAt + earned * this.intervalMs;
      }
    } else {
      s.refilledAt = t;
    }
    s.total++;
    if (s.tokens < 1) {
      s.suppressed++;
      return 0;
    }
    s.tokens--;
    const n = s.suppressed + 1;
    s.suppressed = 0;
    return n;
  }

  /** How many events of `kind` were seen (logged or not). */
  total(kind: string): number {
    return this.kinds.get(kind)?.total ?? 0;
  }

  debug(kind: string, obj: object, msg: string): boolean {
    return this.write('debug', kind, obj, msg);
  }
  info(kind: string, obj: object, msg: string): boolean {
    return this.write('info', kind, obj, msg);
  }
  warn(kind: string, obj: object, msg: string): boolean {
    return this.write('warn', kind, obj, msg);
  }
  error(kind: string, obj: object, msg: string): boolean {
    return this.write('error', kind, obj, msg);
  }

  private write(level: Level, kind: string, obj: object, msg: string): boolean {
    const n = this.take(kind);
    if (n === 0) return false;
    const s = this.kinds.get(kind)!;
    this.logger[level](n > 1 ? { ...obj, kind, suppressed: n - 1, total: s.total } : { ...obj, kind, total: s.total }, msg);
    return true;
  }
}
