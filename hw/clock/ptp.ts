/**
 * linuxptp: `pmc -u -b 0 'GET TIME_STATUS_NP' 'GET CURRENT_DATA_SET' 'GET PORT_DATA_SET'
 * 'GET TIME_PROPERTIES_DATA_SET'` asks the local ptp4l over its Unix socket. pmc prints
 * a "sending: GET ..." line per request and, per answer, a block
 *
 *   \t<portIdentity> seq N RESPONSE MANAGEMENT <ID>
 *   \t\t<key> <value>
 *
 * in any order (answers interleave with the "sending" lines). No ptp4l: only the
 * "sending" lines, exit status 0. Synchronised means a port in state SLAVE with a
 * grandmaster present (UNCALIBRATED is still converging); a grandmaster counts as
 * synchronised only when it says its time is traceable (timeTraceable 1, e.g. GPS).
 * Error bound: |offsetFromMaster| + meanPathDelay (the path asymmetry PTP cannot see is
 * at most the path delay). ptp4l disciplines the PTP hardware clock; the system clock
 * follows it through phc2sys, or directly with software timestamping (ptp4l -S).
 */
import { ClockParseError, type ClockQuality } from './quality.js';

export type PmcBlocks = Map<string, Map<string, string>>;

export function parsePmcBlocks(text: string): PmcBlocks {
  const blocks: PmcBlocks = new Map();
  let current: Map<string, string> | null = null;
  for (const raw of text.split('\n')) {
    const head = /RESPONSE MANAGEMENT (\S+)/.exec(raw);
    if (head) {
      current = new Map();
      blocks.set(head[1] as string, current);
      continue;
    }
    if (raw.startsWith('sending:') || raw.trim() === '') continue;
    const kv = /^\s+(\S+)\s+(.*?)\s*$/.exec(raw);
    if (kv && current) current.set(kv[1] as string, kv[2] as string);
  }
  return blocks;
}

export function parsePmc(text: string): ClockQuality {
  const blocks = parsePmcBlocks(text);
  if (blocks.size === 0) {
    if (/sending: GET/.test(text)) return { source: 'ptp', synchronised: false, errorMs: null, leapPending: null, detail: 'ptp: no answer from ptp4l (not running)' };
    throw new ClockParseError(`pmc: no management responses in ${JSON.stringify(text.slice(0, 80))}`);
  }
  const status = blocks.get('TIME_STATUS_NP');
  const current = blocks.get('CURRENT_DATA_SET');
  const port = blocks.get('PORT_DATA_SET');
  const props = blocks.get('TIME_PROPERTIES_DATA_SET');
  const num = (b: Map<string, string> | undefined, k: string): number | null => {
    const v = b?.get(k);
    if (v === undefined) return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  };
  const state = port?.get('portState') ?? 'unknown';
  const gmPresent = status?.get('gmPresent') === 'true';
  const offsetNs = num(current, 'offsetFromMaster') ?? num(status, 'master_offset');
  const delayNs = num(current, 'meanPathDelay') ?? 0;
  const leapPending = num(props, 'leap61') === 1 ? 'insert' : num(props, 'leap59') === 1 ? 'delete' : null;
  const traceable = num(props, 'timeTraceable') === 1;
  if (state === 'SLAVE' && gmPresent && offsetNs !== null) {
    const errorMs = (Math.abs(offsetNs) + Math.abs(delayNs)) / 1e6;
    return { source: 'ptp', synchronised: true, errorMs, leapPending, detail: `ptp: SLAVE of ${status?.get('gmIdentity') ?? '?'}, offset ${offsetNs} ns, path delay ${delayNs} ns` };
  }
  if ((state === 'MASTER' || state === 'GRAND_MASTER') && !gmPresent) {
    return traceable
      ? { source: 'ptp', synchronised: true, errorMs: null, leapPending, detail: 'ptp: grandmaster with traceable time' }
      : { source: 'ptp', synchronised: false, errorMs: null, leapPending, detail: 'ptp: grandmaster of its own domain, time not traceable' };
  }
  return { source: 'ptp', synchronised: false, errorMs: null, leapPending, detail: `ptp: port ${state}${gmPresent ? '' : ', no grandmaster'}` };
}
