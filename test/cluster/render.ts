/**
 * Re-draw a scenario's timeline from its JSON result (after a change to the drawing, or to
 * look at an old run): `npx tsx test/cluster/render.ts results/leader-cut.json [--png]`
 * writes `<name>.svg` next to it, and with --png also `<name>.png` (needs `rsvg-convert`,
 * apt `librsvg2-bin`), to look at as a person would.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Timeline, type Sample } from './timeline.js';

interface Result {
  scenario: { name: string; title?: string; hosts?: unknown; timers?: string; discovery?: string };
  backend?: string;
  hosts?: string[];
  wall0: number;
  samples: Sample[];
}

export function titleOf(r: Result, hosts: string[]): string {
  const s = r.scenario;
  return `${s.name}${s.title ? ` — ${s.title}` : ''} (${r.backend ?? '?'}, ${hosts.length} hosts, timers ${s.timers ?? 'lan'}, ${s.discovery ?? 'static'} discovery)`;
}

export function render(file: string, png: boolean): string[] {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Result;
  const hosts = r.hosts ?? (Array.isArray(r.scenario.hosts) && r.scenario.hosts.every((h) => typeof h === 'string') ? (r.scenario.hosts as string[]) : [...new Set(r.samples.map((x) => x.host))].sort());
  const tl = Timeline.fromRecord({ ...(r as unknown as Parameters<typeof Timeline.fromRecord>[0]), hosts });
  const svg = file.replace(/\.json$/, '.svg');
  writeFileSync(svg, tl.toSvg(titleOf(r, hosts)));
  const out = [svg];
  if (png) {
    const target = svg.replace(/\.svg$/, '.png');
    const c = spawnSync('rsvg-convert', [svg, '-o', target], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(`rsvg-convert failed (apt-get install librsvg2-bin): ${c.stderr || c.error?.message}`);
    out.push(target);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const png = args.includes('--png');
  for (const f of args.filter((a) => a !== '--png')) for (const o of render(f, png)) console.log(o);
}
