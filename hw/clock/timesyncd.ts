/**
 * systemd-timesyncd, through timedatectl(1):
 * - `timedatectl show` prints the org.freedesktop.timedate1 properties as key=value lines;
 *   `NTPSynchronized=yes|no` is the kernel's own verdict (adjtimex: not STA_UNSYNC), `NTP=`
 *   whether a time-sync service is enabled.
 * - `timedatectl show-timesync` prints timesyncd's properties; `NTPMessage={ Leap=0, ...,
 *   RootDelay=..., RootDispersion=..., ... }` is the last server answer (RFC 5905 fields,
 *   durations in systemd's form: 0, 244us, 1.5ms, 2s).
 * Error bound: root dispersion + root delay / 2 (what timesyncd itself compares with
 * RootDistanceMaxUSec). Without systemd as init, both commands fail (no bus).
 */
import { ClockParseError, type ClockQuality } from './quality.js';

export function parseKeyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

/** A systemd time span ("1.5ms", "244us", "2s", "1min 3s", "0") in ms, or null. */
export function parseTimespanMs(v: string): number | null {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, sec: 1000, min: 60_000, h: 3_600_000 };
  const s = v.trim();
  if (s === '0') return 0;
  let total = 0;
  let matched = false;
  for (const m of s.matchAll(/([\d.]+)\s*(ns|us|µs|ms|sec|s|min|h)\b/g)) {
    total += Number(m[1]) * (units[m[2] as string] ?? NaN);
    matched = true;
  }
  return matched && Number.isFinite(total) ? total : null;
}

/** The fields of timesyncd's NTPMessage={ ... } property. */
export function parseNtpMessage(v: string): Map<string, string> {
  const inner = v.replace(/^\{\s*/, '').replace(/\s*\}$/, '');
  const out = new Map<string, string>();
  for (const part of inner.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export function parseTimedatectl(show: string, timesync: string | null): ClockQuality {
  const p = parseKeyValues(show);
  const synced = p.get('NTPSynchronized');
  if (synced === undefined) throw new ClockParseError(`timedatectl show: no NTPSynchronized= line in ${JSON.stringify(show.slice(0, 80))}`);
  const t = timesync === null ? new Map<string, string>() : parseKeyValues(timesync);
  const msg = t.has('NTPMessage') ? parseNtpMessage(t.get('NTPMessage') as string) : new Map<string, string>();
  const leapCode = msg.get('Leap');
  const leapPending = leapCode === '1' ? 'insert' : leapCode === '2' ? 'delete' : null;
  const server = t.get('ServerName') || t.get('ServerAddress') || '';
  if (synced !== 'yes') {
    return { source: 'timesyncd', synchronised: false, errorMs: null, leapPending: null, detail: `timesyncd: kernel clock not synchronised (NTP=${p.get('NTP') ?? '?'})` };
  }
  const delay = msg.has('RootDelay') ? parseTimespanMs(msg.get('RootDelay') as string) : null;
  const dispersion = msg.has('RootDispersion') ? parseTimespanMs(msg.get('RootDispersion') as string) : null;
  const errorMs = delay !== null && dispersion !== null ? dispersion + delay / 2 : null;
  return { source: 'timesyncd', synchronised: true, errorMs, leapPending, detail: `timesyncd: synchronised${server ? ` to ${server}` : ''}${msg.has('Stratum') ? `, stratum ${msg.get('Stratum')}` : ''}` };
}
