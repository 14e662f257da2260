/**
 * chrony: `chronyc -c tracking` prints one CSV line (chronyc(1), "tracking"):
 *
 *   0 Reference ID (hex), 1 reference name/address, 2 stratum, 3 ref time (epoch s),
 *   4 system time (s; positive = the system clock is slow of NTP time), 5 last offset (s),
 *   6 RMS offset (s), 7 frequency (ppm), 8 residual frequency (ppm), 9 skew (ppm),
 *   10 root delay (s), 11 root dispersion (s), 12 update interval (s), 13 leap status
 *   (Normal | Insert second | Delete second | Not synchronised).
 *
 * The error bound is the one NTP uses (RFC 5905 root distance): |system time offset| +
 * root dispersion + root delay / 2.
 */
import { ClockParseError, type ClockQuality } from './quality.js';

export function parseChronyTracking(text: string): ClockQuality {
  const line = text.trim().split('\n').find((l) => l.includes(',')) ?? '';
  const f = line.split(',');
  if (f.length < 14) throw new ClockParseError(`chronyc -c tracking: expected 14 comma-separated fields, got ${f.length}: ${JSON.stringify(text.slice(0, 80))}`);
  const num = (i: number): number => {
    const v = Number(f[i]);
    if (!Number.isFinite(v)) throw new ClockParseError(`chronyc -c tracking: field ${i} is not a number: ${JSON.stringify(f[i])}`);
    return v;
  };
  const refId = f[0] ?? '';
  const stratum = num(2);
  const systemTime = num(4);
  const rootDelay = num(10);
  const rootDispersion = num(11);
  const leap = (f[13] ?? '').trim();
  const synchronised = leap !== 'Not synchronised' && refId !== '00000000' && stratum > 0;
  const leapPending = leap === 'Insert second' ? 'insert' : leap === 'Delete second' ? 'delete' : null;
  const name = f[1] || (refId === '7F7F0101' ? 'local reference' : refId);
  if (!synchronised) return { source: 'chrony', synchronised: false, errorMs: null, leapPending: null, detail: `chrony: ${leap || 'not synchronised'}` };
  const errorMs = (Math.abs(systemTime) + rootDispersion + rootDelay / 2) * 1000;
  return { source: 'chrony', synchronised: true, errorMs, leapPending, detail: `chrony: stratum ${stratum} via ${name}, leap ${leap}` };
}
