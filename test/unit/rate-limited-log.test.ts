import t from 'tap';
import { RATE_LIMIT_DEFAULTS, RateLimitedLog, type LevelLogger } from '../../agent/runtime/rate-limited-log.js';

function recorder(): { logger: LevelLogger; lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

t.test('a burst passes, then one line per interval carrying the suppressed count', async (t) => {
  let now = 0;
  const { logger, lines } = recorder();
  const log = new RateLimitedLog(logger, { intervalMs: 1000, burst: 3, now: () => now });
  for (let i = 0; i < 10; i++) log.warn('decode', { i }, 'bad frame');
  t.equal(lines.length, 3, 'burst of 3');
  t.same(lines.map((l) => l.obj.i), [0, 1, 2]);
  t.notOk('suppressed' in lines[0]!.obj, 'nothing suppressed before the first line');
  t.equal(log.total('decode'), 10, 'every event is counted');

  now = 999;
  log.warn('decode', { i: 10 }, 'bad frame');
  t.equal(lines.length, 3, 'not yet a full interval');
  now = 1000;
  log.warn('decode', { i: 11 }, 'bad frame');
  t.equal(lines.length, 4);
  t.match(lines[3]!.obj, { i: 11, kind: 'decode', suppressed: 8, total: 12 }, 'says how many were swallowed since the last line');
  t.equal(lines[3]!.level, 'warn');
  t.equal(lines[3]!.msg, 'bad frame');

  // A flood over a long time: lines <= burst + elapsed / interval.
  const before = lines.length;
  for (let k = 0; k < 100_000; k++) {
    now += 0.1; // 10 s in all
    log.warn('decode', {}, 'bad frame');
  }
  t.ok(lines.length - before <= 11, `10 s of flood wrote ${lines.length - before} lines`);
  t.ok(lines.length - before >= 9);
  const suppressed = lines.slice(before).reduce((s, l) => s + Number(l.obj.suppressed ?? 0) + 1, 0);
  t.ok(suppressed <= 100_000 && suppressed > 99_000, 'the lines account for (almost) every event; the rest is pending');
});

t.test('kinds are limited independently; a quiet kind regains its burst', async (t) => {
  let now = 0;
  const { logger, lines } = recorder();
  const log = new RateLimitedLog(logger, { intervalMs: 100, burst: 2, now: () => now });
  for (let i = 0; i < 5; i++) log.error('internal', {}, 'x');
  for (let i = 0; i < 5; i++) log.warn('encode', {}, 'y');
  t.equal(lines.filter((l) => l.obj.kind === 'internal').length, 2);
  t.equal(lines.filter((l) => l.obj.kind === 'encode').length, 2);
  now = 10_000; // long quiet: back to a full burst (not 100 lines' worth)
  lines.length = 0;
  for (let i = 0; i < 5; i++) log.error('internal', {}, 'x');
  t.equal(lines.length, 2, 'the bucket holds at most `burst` tokens');
  t.equal(lines[0]!.obj.suppressed, 3, 'the first line after the quiet reports the 3 swallowed before it');
});

t.test('take() and defaults', async (t) => {
  let now = 0;
  const { logger } = recorder();
  const log = new RateLimitedLog(logger, { now: () => now });
  const passed = Array.from({ length: 20 }, () => log.take('k')).filter((n) => n > 0).length;
  t.equal(passed, RATE_LIMIT_DEFAULTS.burst);
  now = RATE_LIMIT_DEFAULTS.intervalMs;
  t.equal(log.take('k'), 20 - RATE_LIMIT_DEFAULTS.burst + 1, 'the line stands for itself and the suppressed ones');
  t.throws(() => new RateLimitedLog(logger, { intervalMs: 0 }), RangeError);
  t.throws(() => new RateLimitedLog(logger, { burst: 0 }), RangeError);
});
