/** Small statistics and process helpers shared by the benchmarks. */

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  min: number;
}

export function summarize(xs: readonly number[]): Summary {
  return { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: xs.length ? Math.max(...xs) : NaN, min: xs.length ? Math.min(...xs) : NaN };
}

/** The same helpers the local cluster uses (one place for them). */
export { sleep } from '../../agent/local-cluster.js';
export { freePort } from '../../agent/free-port.js';

/** Rounds for a table: 3 significant digits. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 100) return String(Math.round(x));
  return String(Number(x.toPrecision(digits)));
}
