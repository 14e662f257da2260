/**
 * The file store: durable round trips, every kind of damage refused with a
 * StateFileError naming the file, lost records detected through the manifest,
 * --reset-state moving records aside, write failures thrown, per-node layout.
 */
import t from 'tap';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileHardStateStore, MemoryHardStateStore, StateFileError, seal, type StoreFs } from '../../agent/runtime/hard-state-store.js';
import { CohortError } from '../../agent/core/errors.js';
import { defaultNode, defaultStateDir, inspectStateDir, prepareStateDir, validateConfig, ConfigError } from '../../agent/config.js';

const G = 'G.a';
const C = 'agent';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cohort-hss-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const store = (dir: string, node = 'n1', resetState = false, warnings: string[] = []) =>
  new FileHardStateStore({ dir, node, resetState, warn: (m) => warnings.push(m) });

/** A store with one saved vote (term 5 for n2/agent), then a fresh store on the same dir: the restart. */
function withVote(dir: string): string {
  const s = store(dir);
  s.claim(G, C);
  s.save(G, C, { term: 5, votedFor: 'n2/agent' });
  return s.file(G, C);
}

t.test('round trip: the vote survives a restart, the incarnation grows, nothing is amnesiac', async (t) => {
  const dir = tmp(t);
  const s = store(dir);
  const first = s.claim(G, C);
  t.same(first.hardState, { term: 0, votedFor: null });
  t.equal(first.amnesiac, false, 'a brand-new member is not amnesiac');
  s.save(G, C, { term: 5, votedFor: 'n2/agent' });
  const again = store(dir).claim(G, C);
  t.same(again.hardState, { term: 5, votedFor: 'n2/agent' });
  t.ok(again.incarnation > first.incarnation);
  t.equal(again.amnesiac, false);
  const rec = JSON.parse(fs.readFileSync(s.file(G, C), 'utf8'));
  t.match(rec, { format: 1, node: 'n1', group: G, component: C, hardState: { term: 5, votedFor: 'n2/agent' }, checksum: /^sha256:[0-9a-f]{64}$/ });
  t.same(fs.readdirSync(join(dir, 'n1')).sort(), ['G.a+agent.json', 'members.json'], 'no temp files left behind');
});

t.test('every kind of damage is a StateFileError naming the file, never a reset', async (t) => {
  const rewrite = (file: string, f: (rec: Record<string, unknown>) => Record<string, unknown>) => {
    const { checksum: _, ...rec } = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, seal(f(rec)));
  };
  const damages: Array<[string, (file: string) => void, RegExp]> = [
    ['empty', (f) => fs.writeFileSync(f, ''), /is empty/],
    ['truncated', (f) => fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 40)), /not valid JSON/],
    ['garbage', (f) => fs.writeFileSync(f, '\u0000\u0001garbage'), /not valid JSON/],
    ['checksum mismatch', (f) => fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('"term":5', '"term":4')), /fails its checksum/],
    ['no checksum (old format)', (f) => fs.writeFileSync(f, JSON.stringify({ incarnation: 1, hardState: { term: 5, votedFor: null } })), /no checksum/],
    ['wrong node', (f) => rewrite(f, (r) => ({ ...r, node: 'n9' })), /belongs to node "n9"/],
    ['wrong component', (f) => rewrite(f, (r) => ({ ...r, component: 'other' })), /holds/],
    ['absurd term', (f) => rewrite(f, (r) => ({ ...r, hardState: { term: 2 ** 53, votedFor: null } })), /absurd term/],
    ['negative term', (f) => rewrite(f, (r) => ({ ...r, hardState: { term: -1, votedFor: null } })), /absurd term/],
    ['absurd incarnation', (f) => rewrite(f, (r) => ({ ...r, incarnation: 1.5 })), /absurd incarnation/],
    ['absurd votedFor', (f) => rewrite(f, (r) => ({ ...r, hardState: { term: 5, votedFor: 'no slash' } })), /absurd votedFor/],
    ['wrong format', (f) => rewrite(f, (r) => ({ ...r, format: 99 })), /format 99/],
  ];
  for (const [what, damage, problem] of damages) {
    const dir = tmp(t);
    const file = withVote(dir);
    damage(file);
    const err = (() => {
      try {
        store(dir).claim(G, C);
      } catch (e) {
        return e;
      }
      return null;
    })();
    t.type(err, StateFileError, what);
    t.type(err, CohortError, `${what}: a CohortError`);
    const e = err as StateFileError;
    t.equal(e.file, file, `${what}: names the file`);
    t.match(e.message, file, `${what}: the message names the file`);
    t.match(e.message, problem, `${what}: says what is wrong`);
    t.match(e.message, /--reset-state/, `${what}: says what to do`);
  }
});

t.test('a record the manifest lists but whose file is gone is an error', async (t) => {
  const dir = tmp(t);
  const file = withVote(dir);
  fs.unlinkSync(file);
  t.throws(() => store(dir).claim(G, C), { name: 'StateFileError', file, message: /was recorded but its file is gone/ });
  t.throws(() => store(dir).claim(G, C), StateFileError, 'still an error on the next start: nothing was reset');
  t.equal(store(dir).claim('G.b', C).amnesiac, false, 'another, never-recorded member starts normally');
});

t.test('a damaged manifest is an error too', async (t) => {
  const dir = tmp(t);
  withVote(dir);
  fs.writeFileSync(join(dir, 'n1', 'members.json'), '{"format":1,');
  t.throws(() => store(dir).claim(G, C), { name: 'StateFileError', message: /members\.json/ });
});

t.test('resetState moves damaged and lost records aside and starts those members amnesiac', async (t) => {
  const dir = tmp(t);
  const file = withVote(dir);
  fs.writeFileSync(file, '');
  const warnings: string[] = [];
  const rec = store(dir, 'n1', true, warnings).claim(G, C);
  t.equal(rec.amnesiac, true);
  t.same(rec.hardState, { term: 0, votedFor: null });
  const aside = fs.readdirSync(join(dir, 'n1')).filter((f) => f.startsWith('G.a+agent.json.damaged-'));
  t.equal(aside.length, 1, 'the damaged file is kept, moved aside');
  t.equal(warnings.length, 1);
  t.match(warnings[0], file);
  t.equal(store(dir).claim(G, C).amnesiac, false, 'the next start without resetState finds a good record');

  fs.unlinkSync(file);
  const lost = store(dir, 'n1', true, warnings).claim(G, C);
  t.equal(lost.amnesiac, true, 'a lost record, reset, is amnesiac');
  t.match(warnings[1], /file is gone/);

  fs.writeFileSync(join(dir, 'n1', 'members.json'), 'garbage');
  fs.unlinkSync(file);
  t.equal(store(dir, 'n1', true, warnings).claim(G, C).amnesiac, true, 'after a damaged manifest is reset, a missing record may have been lost: amnesiac');
});

t.test('a write failure throws from save (and from claim), leaving the old record intact', async (t) => {
  const dir = tmp(t);
  let failFsync = false;
  const flaky: StoreFs = {
    ...fs,
    fsyncSync: (fd: number) => {
      if (failFsync) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      fs.fsyncSync(fd);
    },
  };
  const s = new FileHardStateStore({ dir, node: 'n1', fs: flaky });
  s.claim(G, C);
  s.save(G, C, { term: 3, votedFor: 'n1/agent' });
  failFsync = true;
  t.throws(() => s.save(G, C, { term: 4, votedFor: 'n2/agent' }), { name: 'StateFileError', message: /cannot be written.*EIO/ });
  t.throws(() => s.claim('G.b', C), StateFileError);
  failFsync = false;
  t.same(store(dir).claim(G, C).hardState, { term: 3, votedFor: 'n1/agent' }, 'the record is the last good one');
  t.same(fs.readdirSync(join(dir, 'n1')).filter((f) => f.includes('.tmp-')), [], 'the temp file is removed');

  // Without injection: a file where the node directory should be.
  const dir2 = tmp(t);
  fs.writeFileSync(join(dir2, 'n1'), 'not a directory');
  t.throws(() => store(dir2), StateFileError, 'the store cannot even be opened');
});

t.test('every write is fsync\'d, the directory too, then renamed', async (t) => {
  const dir = tmp(t);
  const calls: string[] = [];
  const spy: StoreFs = {
    ...fs,
    openSync: ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      calls.push(`open ${String(p).replace(dir, '')} ${String(flags)}`);
      return fs.openSync(p, flags ?? 'r', mode);
    }) as typeof fs.openSync,
    fsyncSync: (fd: number) => (calls.push('fsync'), fs.fsyncSync(fd)),
    renameSync: (a: fs.PathLike, b: fs.PathLike) => (calls.push('rename'), fs.renameSync(a, b)),
  };
  const s = new FileHardStateStore({ dir, node: 'n1', fs: spy });
  s.claim(G, C);
  calls.length = 0;
  s.save(G, C, { term: 1, votedFor: null });
  t.match(calls, [/^open \/n1\/G\.a\+agent\.json\.tmp-\d+-\d+ w$/, 'fsync', 'rename', /^open \/n1 r$/, 'fsync']);
});

t.test('two nodes in one state dir never share a record', async (t) => {
  const dir = tmp(t);
  const a = store(dir, 'a');
  const b = store(dir, 'b');
  a.claim(G, C);
  b.claim(G, C);
  a.save(G, C, { term: 7, votedFor: 'a/agent' });
  b.save(G, C, { term: 2, votedFor: 'x/agent' });
  t.same(store(dir, 'a').claim(G, C).hardState, { term: 7, votedFor: 'a/agent' });
  t.same(store(dir, 'b').claim(G, C).hardState, { term: 2, votedFor: 'x/agent' });
  t.not(a.file(G, C), b.file(G, C));
});

t.test('the memory store: every claim is amnesiac, the first one too', async (t) => {
  const m = new MemoryHardStateStore();
  const first = m.claim(G, C);
  t.equal(first.amnesiac, true, 'the process cannot know whether a previous one voted');
  m.save(G, C, { term: 2, votedFor: 'n1/agent' });
  const again = m.claim(G, C);
  t.equal(again.amnesiac, true);
  t.same(again.hardState, { term: 2, votedFor: 'n1/agent' });
});

t.test('config: state by default in a standard place, none, resetState, checked dir', async (t) => {
  t.equal(defaultStateDir({}, 0), '/var/lib/cohort');
  t.equal(defaultStateDir({ XDG_STATE_HOME: '/x/state' }, 1000), '/x/state/cohort');
  t.match(defaultStateDir({}, 1000), /\.local\/state\/cohort$/);
  t.equal(validateConfig({ node: 'n' }).stateDir, defaultStateDir());
  t.equal(validateConfig({ node: 'n', stateDir: 'none' }).stateDir, null);
  t.equal(validateConfig({ node: 'n', stateDir: '/s', resetState: true }).resetState, true);
  t.throws(() => validateConfig({ node: 'n', stateDir: 'none', resetState: true }), ConfigError);
  const dir = tmp(t);
  fs.writeFileSync(join(dir, 'file'), '');
  // An environment error (exit 3): the config is fine, this machine's path is not a directory.
  t.throws(() => prepareStateDir(join(dir, 'file'), 'n', '--state-dir'), { name: 'EnvironmentError', message: /^--state-dir .*file is not a directory: point it at a directory, or use --no-state$/ });
  t.throws(() => inspectStateDir(join(dir, 'file', 'below'), '--state-dir'), { name: 'EnvironmentError', message: /its parent .*file\) is not a directory/ });
  t.doesNotThrow(() => inspectStateDir(join(dir, 'not-yet', 'deeper'), '--state-dir'), 'check: a directory that would be created is fine');
  t.notOk(fs.existsSync(join(dir, 'not-yet')), 'and check creates nothing');
  t.doesNotThrow(() => prepareStateDir(join(dir, 'new'), 'n', '--state-dir'));
  t.ok(fs.statSync(join(dir, 'new', 'n')).isDirectory());
});

t.test('default node id: host name plus the machine id, stable; bare host name without one', async (t) => {
  const ids: Record<string, string> = { '/etc/machine-id': '3d1219c7c4c5404aaa1f6d2a48adfda4\n' };
  const read = (f: string) => {
    if (!(f in ids)) throw new Error('ENOENT');
    return ids[f]!;
  };
  t.same(defaultNode('raspberrypi', read), { node: 'raspberrypi-3d1219', source: 'machine-id' });
  t.same(defaultNode('raspberrypi', read), defaultNode('raspberrypi', read), 'stable');
  t.same(defaultNode('my.host', (f) => (f === '/var/lib/dbus/machine-id' ? 'ABCDEF0123456789abcdef0123456789' : '')), { node: 'my-host-abcdef', source: 'machine-id' }, 'dbus fallback; an empty /etc/machine-id is skipped');
  t.same(defaultNode('raspberrypi', () => { throw new Error('ENOENT'); }), { node: 'raspberrypi', source: 'hostname' });
});
