/**
 * What a scenario run saw: every host's status, sampled every ~100 ms, plus the
 * faults and steps, rendered as an SVG (one lane per host, colored by role,
 * term and leader labels, leader-change ticks, fault lines and fault bands, and
 * per host the ballots it saw decided and the actions it fired) and as a plain
 * text log of the changes. The SVG starts shortly before the first agent
 * answered (the empty start-up is trimmed; the axis keeps the run's own times).
 */

export type Role = 'leader' | 'follower' | 'candidate';

export interface Sample {
  /** ms since the timeline's start when the answer arrived (or the request failed). */
  t: number;
  /** ms since start when the request was sent. */
  sent: number;
  host: string;
  /** The agent answered /status. */
  up: boolean;
  /** null: up but not (yet) in the group. */
  role?: Role | null;
  term?: number;
  leader?: string | null;
  members?: string[];
  error?: string;
}

/** `app`: a vote or action requested / completed (drawn in purple). */
export type MarkerKind = 'fault' | 'repair' | 'step' | 'measure' | 'fail' | 'app';

export interface Marker {
  t: number;
  kind: MarkerKind;
  text: string;
  hosts?: string[];
}

export type BandKind = 'cut' | 'loss' | 'partition' | 'clock' | 'stopped';

export interface Band {
  host: string;
  kind: BandKind;
  text: string;
  from: number;
  to: number | null;
}

/** Something one host did or saw, drawn on its own lane: a ballot decided there, an action fired there. */
export interface HostMark {
  host: string;
  /** ms since the timeline's start, on the host's clock with its known offset taken out. */
  t: number;
  kind: 'result' | 'action';
  /** For results: yes, no or timeout. */
  outcome?: string;
  text: string;
}

export interface Measurement {
  label: string;
  ms: number;
  /** ms since start of the fault and of the recovery. */
  from: number;
  to: number;
}

export class Timeline {
  readonly t0 = performance.now();
  readonly wall0 = Date.now();
  readonly samples: Sample[] = [];
  readonly markers: Marker[] = [];
  readonly bands: Band[] = [];
  readonly measurements: Measurement[] = [];
  readonly hostMarks: HostMark[] = [];
  private readonly last = new Map<string, Sample>();

  constructor(readonly hosts: readonly string[]) {}

  /** A timeline as a scenario's JSON result recorded it (to re-render it). */
  static fromRecord(r: { hosts: string[]; wall0: number; samples?: Sample[]; markers?: Marker[]; bands?: Band[]; measurements?: Measurement[]; hostMarks?: HostMark[] }): Timeline {
    const tl = new Timeline(r.hosts);
    (tl as { wall0: number }).wall0 = r.wall0;
    for (const x of r.samples ?? []) tl.add(x);
    tl.markers.push(...(r.markers ?? []));
    tl.bands.push(...(r.bands ?? []));
    tl.measurements.push(...(r.measurements ?? []));
    tl.hostMarks.push(...(r.hostMarks ?? []));
    return tl;
  }

  /** Record what `host` did at wall-clock `atWall` (its own clock; pass its known offset to take it out). */
  hostMark(host: string, kind: HostMark['kind'], atWall: number, text: string, opts: { outcome?: string; offsetMs?: number } = {}): HostMark {
    const m: HostMark = { host, t: atWall - (opts.offsetMs ?? 0) - this.wall0, kind, text, ...(opts.outcome !== undefined ? { outcome: opts.outcome } : {}) };
    this.hostMarks.push(m);
    return m;
  }

  /** Where the drawing starts: a little before the first answer from any agent (0 if none). */
  drawStart(): number {
    let first = Infinity;
    for (const s of this.samples) if (s.up && s.t < first) first = s.t;
    return Number.isFinite(first) ? Math.max(0, first - 150) : 0;
  }

  now(): number {
    return performance.now() - this.t0;
  }

  add(s: Sample): void {
    this.samples.push(s);
    const prev = this.last.get(s.host);
    if (!prev || prev.sent <= s.sent) this.last.set(s.host, s);
  }

  latest(host: string): Sample | undefined {
    return this.last.get(host);
  }

  mark(kind: MarkerKind, text: string, hosts?: string[]): Marker {
    const m: Marker = { t: this.now(), kind, text, ...(hosts ? { hosts } : {}) };
    this.markers.push(m);
    return m;
  }

  openBand(host: string, kind: BandKind, text: string): void {
    this.closeBand(host, kind);
    this.bands.push({ host, kind, text, from: this.now(), to: null });
  }

  closeBand(host: string, kind: BandKind): void {
    for (const b of this.bands) if (b.host === host && b.kind === kind && b.to === null) b.to = this.now();
  }

  measure(label: string, from: number, to: number): Measurement {
    const m = { label, ms: Math.round(to - from), from, to };
    this.measurements.push(m);
    return m;
  }

  /** Samples of one host in time order. */
  lane(host: string): Sample[] {
    return this.samples.filter((s) => s.host === host).sort((a, b) => a.t - b.t);
  }

  end(): number {
    let e = this.now();
    for (const s of this.samples) e = Math.max(e, s.t);
    return e;
  }

  // ---------------------------------------------------------------- text

  toText(title: string, meta: Record<string, unknown> = {}): string {
    const out: string[] = [`# ${title}`, `# started ${new Date(this.wall0).toISOString()}`];
    for (const [k, v] of Object.entries(meta)) out.push(`# ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    type Line = { t: number; order: number; text: string };
    const lines: Line[] = [];
    for (const m of this.markers) lines.push({ t: m.t, order: 0, text: `[${m.kind}] ${m.text}` });
    for (const m of this.hostMarks) lines.push({ t: m.t, order: 1, text: `${m.host.padEnd(4)} ${m.text}` });
    for (const b of this.bands) {
      lines.push({ t: b.from, order: 1, text: `[${b.kind} on] ${b.host}: ${b.text}` });
      if (b.to !== null) lines.push({ t: b.to, order: 1, text: `[${b.kind} off] ${b.host}` });
    }
    for (const h of this.hosts) {
      let prevKey = '';
      for (const s of this.lane(h)) {
        const key = stateKey(s, true);
        if (key === prevKey) continue;
        prevKey = key;
        lines.push({ t: s.t, order: 2, text: `${h.padEnd(4)} ${describeSample(s)}` });
      }
    }
    lines.sort((a, b) => a.t - b.t || a.order - b.order);
    for (const l of lines) out.push(`${fmtT(l.t).padStart(9)}  ${l.text}`);
    if (this.measurements.length) {
      out.push('', '# recovery times (fault -> new leader known to all reachable hosts)');
      for (const m of this.measurements) out.push(`#   ${m.label}: ${m.ms} ms`);
    }
    return `${out.join('\n')}\n`;
  }

  // ---------------------------------------------------------------- SVG

  toSvg(title: string): string {
    const start = this.drawStart();
    const end = Math.max(this.end(), start + 1000);
    const W = 1280;
    const charW = 6.6; // DejaVu Sans 11 px, average
    const left = Math.max(64, 16 + Math.max(...this.hosts.map((h) => h.length), 2) * 7.5);
    const right = 24;
    const laneH = 30;
    const bandH = 7;
    const marksH = 12; // per-host ballots and actions, just above each lane
    const laneGap = 2 * bandH + 14 + marksH;
    const x = (t: number) => left + ((Math.max(start, Math.min(t, end)) - start) / (end - start)) * (W - left - right);

    // Title: wrapped, never clipped.
    const titleLines = wrap(title, Math.floor((W - left - right) / 8.2));
    const titleH = 8 + titleLines.length * 17;

    // Marker labels: greedy rows so that no two overlap; a label near the right edge ends at its line.
    const faultMarkers = this.markers.filter((m) => m.kind !== 'step').sort((a, b) => a.t - b.t);
    const rowsEnd: number[] = [];
    const placed = faultMarkers.map((m) => {
      const mx = x(m.t);
      const w = m.text.length * charW + 6;
      const anchor: 'start' | 'end' = mx + w > W - right ? 'end' : 'start';
      const x0 = anchor === 'start' ? mx : mx - w;
      let row = rowsEnd.findIndex((e) => e <= x0);
      if (row < 0) {
        row = rowsEnd.length;
        rowsEnd.push(0);
      }
      rowsEnd[row] = x0 + w;
      return { m, mx, anchor, row };
    });
    const labelRows = Math.max(1, rowsEnd.length);
    const top = titleH + 14 + labelRows * 13 + marksH;
    const lanesH = this.hosts.length * (laneH + laneGap);
    const H = top + lanesH + 96;
    const laneY = (i: number) => top + i * (laneH + laneGap);
    const o: string[] = [];
    o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`);
    o.push('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fde2e2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d33" stroke-width="2"/></pattern></defs>');
    o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
    titleLines.forEach((line, k) => o.push(`<text x="${left}" y="${20 + k * 17}" font-size="14" font-weight="bold">${esc(line)}</text>`));

    // time axis (the run's own times; the trimmed start-up is said, not drawn)
    const step = niceStep(end - start);
    const axisY = top + lanesH + 4 - marksH;
    for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
      o.push(`<line x1="${x(t).toFixed(1)}" y1="${top - marksH - 4}" x2="${x(t).toFixed(1)}" y2="${axisY}" stroke="#eee"/>`);
      o.push(`<text x="${x(t).toFixed(1)}" y="${axisY + 12}" text-anchor="middle" fill="#666">${(t / 1000).toFixed(step < 1000 ? 1 : 0)} s</text>`);
    }
    if (start > 0) o.push(`<text x="${left}" y="${axisY + 26}" fill="#666">start-up until ${(start / 1000).toFixed(1)} s (no agent answering yet) not drawn</text>`);

    // lanes: segments first, labels last (so that lines never run through them)
    const labels: string[] = [];
    this.hosts.forEach((h, i) => {
      const y = laneY(i);
      o.push(`<text x="${left - 8}" y="${y + laneH / 2 + 4}" text-anchor="end" font-weight="bold">${esc(h)}</text>`);
      o.push(`<rect x="${left}" y="${y}" width="${W - left - right}" height="${laneH}" fill="#fafafa" stroke="#ddd"/>`);
      const samples = this.lane(h);
      let segStart = 0;
      for (let k = 0; k < samples.length; k++) {
        const s = samples[k]!;
        const next = samples[k + 1];
        if (next && stateKey(next) === stateKey(s)) continue;
        const from = samples[segStart]!.t;
        const to = next ? next.t : end;
        segStart = k + 1;
        if (to < start) continue;
        const x0 = x(from);
        const x1 = x(to);
        o.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(0.5, x1 - x0).toFixed(1)}" height="${laneH}" fill="${color(s)}"><title>${esc(`${h} ${fmtT(from)}–${fmtT(to)}: ${describeSample(s)}`)}</title></rect>`);
        const label = segmentLabel(s, h);
        if (label && x1 - x0 > label.length * charW + 8) {
          const fill = s.up && s.role ? '#fff' : '#555';
          labels.push(`<text x="${(x0 + 4).toFixed(1)}" y="${y + laneH / 2 + 4}" fill="${fill}" stroke="${color(s)}" stroke-width="4" paint-order="stroke">${esc(label)}</text>`);
        }
      }
      // leader changes seen by this host
      let prevLeader: string | null | undefined;
      for (const s of samples) {
        if (!s.up) continue;
        const l = s.leader ?? null;
        if (prevLeader !== undefined && l !== prevLeader && l !== null && s.t >= start) {
          o.push(`<path d="M${x(s.t).toFixed(1)} ${y - 1} l-4 -6 h8 z" fill="#000"><title>${esc(`${h} sees leader ${short(l)} at ${fmtT(s.t)}`)}</title></path>`);
        }
        prevLeader = l;
      }
      // ballots decided and actions fired on this host, in the strip above its lane
      for (const m of this.hostMarks.filter((hm) => hm.host === h)) {
        const mx = x(m.t).toFixed(1);
        const my = y - marksH + 1;
        const tip = `<title>${esc(`${h} ${fmtT(m.t)}: ${m.text}`)}</title>`;
        if (m.kind === 'action') o.push(`<path d="M${mx} ${my} l4 5 l-4 5 l-4 -5 z" fill="#7b1fa2" stroke="#fff" stroke-width="0.5">${tip}</path>`);
        else o.push(`<circle cx="${mx}" cy="${my + 5}" r="3.5" fill="${outcomeFill(m.outcome)}" stroke="#fff" stroke-width="0.5">${tip}</circle>`);
      }
      // fault bands under the lane
      const bands = this.bands.filter((b) => b.host === h);
      const kinds: BandKind[] = ['cut', 'partition', 'loss', 'clock', 'stopped'];
      let row = 0;
      for (const kind of kinds) {
        const bs = bands.filter((b) => b.kind === kind);
        if (!bs.length) continue;
        const by = y + laneH + 2 + Math.min(row, 1) * (bandH + 2);
        row++;
        for (const b of bs) {
          const x0 = x(b.from);
          const x1 = x(b.to ?? end);
          o.push(`<rect x="${x0.toFixed(1)}" y="${by}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${bandH}" fill="${bandFill(kind)}"><title>${esc(`${h} ${kind}: ${b.text} (${fmtT(b.from)}–${b.to === null ? 'end' : fmtT(b.to)})`)}</title></rect>`);
          if (x1 - x0 > b.text.length * 5.5 + 4) o.push(`<text x="${(x0 + 2).toFixed(1)}" y="${by + bandH - 0.5}" font-size="8" fill="#222">${esc(b.text)}</text>`);
        }
      }
    });

    // Fault, repair and recovery lines cross the lanes; vote/action requests stop above them
    // (their effect on each host is the marks in its strip).
    for (const { m, mx, anchor, row } of placed) {
      const c = m.kind === 'fault' ? '#d33' : m.kind === 'repair' ? '#2a7' : m.kind === 'measure' ? '#1565c0' : m.kind === 'app' ? '#7b1fa2' : '#000';
      const ly = titleH + 12 + row * 13;
      const bottom = m.kind === 'app' ? top - marksH - 2 : top + lanesH - laneGap;
      o.push(`<line x1="${mx.toFixed(1)}" y1="${ly + 2}" x2="${mx.toFixed(1)}" y2="${bottom}" stroke="${c}" stroke-width="1.2" stroke-dasharray="${m.kind === 'measure' || m.kind === 'app' ? '2,2' : '5,3'}"/>`);
      o.push(`<text x="${(anchor === 'start' ? mx + 2 : mx - 2).toFixed(1)}" y="${ly}" fill="${c}" text-anchor="${anchor}">${esc(m.text)}</text>`);
    }
    o.push(...labels);

    // legend
    const ly = H - 46;
    const legend: Array<[string, string]> = [
      ['leader', color({ up: true, role: 'leader' } as Sample)],
      ['follower', color({ up: true, role: 'follower' } as Sample)],
      ['candidate', color({ up: true, role: 'candidate' } as Sample)],
      ['up, no group/leader', color({ up: true, role: null } as Sample)],
      ['down / no answer', color({ up: false } as Sample)],
      ['cable cut', 'url(#hatch)'],
      ['partition', bandFill('partition')],
      ['loss', bandFill('loss')],
      ['clock offset', bandFill('clock')],
    ];
    let lx = left;
    for (const [name, fill] of legend) {
      o.push(`<rect x="${lx}" y="${ly}" width="12" height="10" fill="${fill}" stroke="#999"/>`);
      o.push(`<text x="${lx + 16}" y="${ly + 9}">${esc(name)}</text>`);
      lx += 24 + name.length * 6.2;
    }
    o.push(`<circle cx="${lx + 6}" cy="${ly + 5}" r="3.5" fill="${outcomeFill('yes')}"/><circle cx="${lx + 15}" cy="${ly + 5}" r="3.5" fill="${outcomeFill('no')}"/><circle cx="${lx + 24}" cy="${ly + 5}" r="3.5" fill="${outcomeFill('timeout')}"/><text x="${lx + 32}" y="${ly + 9}">vote result yes/no/timeout</text>`);
    lx += 32 + 26 * 6.2;
    o.push(`<path d="M${lx + 6} ${ly} l4 5 l-4 5 l-4 -5 z" fill="#7b1fa2"/><text x="${lx + 14}" y="${ly + 9}">action fired</text>`);
    o.push(`<text x="${W - right}" y="${ly + 24}" text-anchor="end" fill="#666">started ${esc(new Date(this.wall0).toISOString())} · ${(end / 1000).toFixed(1)} s</text>`);
    o.push(`<text x="${left}" y="${ly + 24}" fill="#666">Lane labels: t&lt;term&gt; and the leader this host reports; ▼ this host saw a new leader; above each lane its vote results and action firings.</text>`);
    o.push(`<text x="${left}" y="${ly + 37}" fill="#666">Dashed lines: red fault, green repair, blue recovery (new leader known to all reachable hosts), purple vote/action requested or completed.</text>`);
    o.push('</svg>');
    return `${o.join('\n')}\n`;
  }
}

/** Words into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [''];
}

function outcomeFill(outcome: string | undefined): string {
  return outcome === 'yes' ? '#2e9e44' : outcome === 'no' ? '#d33' : '#888';
}

function stateKey(s: Sample, withMembers = false): string {
  if (!s.up) return 'down';
  return `${s.role ?? '-'}|${s.term ?? '-'}|${s.leader ?? '-'}${withMembers ? `|${(s.members ?? []).length}` : ''}`;
}

export function short(memberId: string | null | undefined): string {
  if (!memberId) return '-';
  return memberId.endsWith('/agent') ? memberId.slice(0, -6) : memberId;
}

function describeSample(s: Sample): string {
  if (!s.up) return `no answer${s.error ? ` (${s.error})` : ''}`;
  if (!s.role) return 'up, not in the group';
  return `${s.role} term ${s.term} leader=${short(s.leader)} members=${(s.members ?? []).length}`;
}

function segmentLabel(s: Sample, host: string): string {
  if (!s.up) return 'down';
  if (!s.role) return '';
  if (s.role === 'leader') return `t${s.term} leader`;
  const l = short(s.leader);
  return `t${s.term}${s.role === 'candidate' ? ' cand.' : ''}${l !== '-' && l !== host ? ` →${l}` : ''}`;
}

function color(s: Sample): string {
  if (!s.up) return '#e6e6e6';
  switch (s.role) {
    case 'leader':
      return '#2e9e44';
    case 'follower':
      return '#3b7dd8';
    case 'candidate':
      return '#f0a030';
    default:
      return '#b8b8b8';
  }
}

function bandFill(kind: BandKind): string {
  switch (kind) {
    case 'cut':
      return 'url(#hatch)';
    case 'partition':
      return '#f4b400';
    case 'loss':
      return '#b39ddb';
    case 'clock':
      return '#80deea';
    case 'stopped':
      return '#999';
  }
}

function niceStep(end: number): number {
  for (const s of [250, 500, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000]) if (end / s <= 24) return s;
  return 120_000;
}

export function fmtT(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
