/**
 * The timeline drawing, on a scripted run: the empty start-up is trimmed, long titles
 * wrap instead of being clipped, marker labels never share a row where they would
 * overlap, vote/action request lines stop above the lanes (no overprinted lane labels),
 * and per-host vote results and action firings are drawn on their host's lane.
 * No root, no processes. `test/cluster/render.ts --png` draws a real run for a person.
 */
import t from 'tap';
import { Timeline, type Sample } from './timeline.js';

function scripted(): Timeline {
  const tl = Timeline.fromRecord({ hosts: ['h1', 'h2'], wall0: 1_800_000_000_000 });
  const add = (s: Partial<Sample> & { t: number; host: string }) => tl.add({ sent: s.t - 5, up: true, ...s });
  for (const host of ['h1', 'h2']) {
    for (let t = 0; t < 4000; t += 100) add({ t, host, up: false, error: 'connection refused' });
    for (let t = 4000; t < 12_000; t += 100) add({ t, host, role: t < 5000 ? 'follower' : host === 'h1' ? 'leader' : 'follower', term: t < 5000 ? 0 : 1, leader: t < 5000 ? null : 'h1/agent', members: ['h1/agent', 'h2/agent'] });
  }
  tl.markers.push({ t: 6000, kind: 'app', text: 'majority vote from h1' }, { t: 6010, kind: 'app', text: 'vote result on 2/2 (10 ms)' }, { t: 8000, kind: 'fault', text: 'cut h2' });
  tl.hostMark('h1', 'result', tl.wall0 + 6010, 'majority vote yes', { outcome: 'yes' });
  tl.hostMark('h2', 'result', tl.wall0 + 6012, 'majority vote no', { outcome: 'no' });
  tl.hostMark('h2', 'action', tl.wall0 + 9250, 'action fired', { offsetMs: 250 });
  return tl;
}

t.test('start-up trimmed, title wrapped, labels in rows, per-host marks', async (t) => {
  const tl = scripted();
  t.equal(tl.drawStart(), 3850, 'drawing starts 150 ms before the first answer');
  const title = 'a very long scenario title '.repeat(8).trim();
  const svg = tl.toSvg(title);
  t.match(svg, /start-up until 3\.9 s \(no agent answering yet\) not drawn/);
  t.notMatch(svg, />0\.0 s</, 'no axis tick at 0 s');
  const titleLines = [...svg.matchAll(/<text x="\d+(?:\.\d+)?" y="\d+" font-size="14" font-weight="bold">([^<]*)<\/text>/g)].map((m) => m[1]!);
  t.ok(titleLines.length >= 2, 'a long title wraps');
  t.equal(titleLines.join(' '), title, 'all of it');
  t.ok(titleLines.every((l) => l.length * 8.2 < 1280 - 64 - 24), 'each line fits the width');

  // The two vote markers 10 ms apart get different label rows.
  const y = (text: string) => Number(new RegExp(`y="(\\d+(?:\\.\\d+)?)" fill="#7b1fa2" text-anchor="\\w+">${text.replace(/[()]/g, '\\$&')}<`).exec(svg)?.[1]);
  t.not(y('majority vote from h1'), y('vote result on 2/2 (10 ms)'), 'overlapping labels go to different rows');
  // Vote lines end above the first lane; the fault line crosses the lanes.
  const laneTop = Number(/<rect x="\d+(?:\.\d+)?" y="(\d+(?:\.\d+)?)" width="[\d.]+" height="30" fill="#fafafa"/.exec(svg)![1]);
  const appLines = [...svg.matchAll(/<line [^>]*y2="([\d.]+)" stroke="#7b1fa2"/g)].map((m) => Number(m[1]));
  t.ok(appLines.length === 2 && appLines.every((y2) => y2 < laneTop), 'vote/action lines stop above the lanes');
  const faultLine = /<line [^>]*y2="([\d.]+)" stroke="#d33" stroke-width="1.2"/.exec(svg);
  t.ok(faultLine && Number(faultLine[1]) > laneTop + 30, 'fault lines cross them');
  // Lane labels are drawn after every line, with a halo.
  t.ok(svg.lastIndexOf('<line ') < svg.indexOf('paint-order="stroke">t1 leader<'), 'lane labels come after the lines');

  t.match(svg, /<circle [^>]*fill="#2e9e44"[^>]*><title>h1 \+6\.010s: majority vote yes<\/title>/, 'a yes result on h1');
  t.match(svg, /<circle [^>]*fill="#d33"[^>]*><title>h2 \+6\.012s: majority vote no<\/title>/, 'a no result on h2');
  t.match(svg, /<path [^>]*fill="#7b1fa2"[^>]*><title>h2 \+9\.000s: action fired<\/title>/, 'an action on h2, at the real instant (its clock offset taken out)');
  t.match(tl.toText('x'), /\+6\.010s {2}h1 {3}majority vote yes/, 'and in the text log');
});

t.test('fromRecord: a JSON result re-draws the same', async (t) => {
  const tl = scripted();
  const again = Timeline.fromRecord(JSON.parse(JSON.stringify({ hosts: tl.hosts, wall0: tl.wall0, samples: tl.samples, markers: tl.markers, bands: tl.bands, measurements: tl.measurements, hostMarks: tl.hostMarks })));
  t.equal(again.toSvg('x'), tl.toSvg('x'));
});
