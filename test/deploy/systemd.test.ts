/**
 * deploy/: the systemd unit verifies cleanly (systemd-analyze, when present) and keeps its
 * hardening; the example configs load with the agent's own config loader; install.sh is
 * valid POSIX sh.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../agent/config.js';
import { REPO_ROOT } from '../../tools/bundle.js';

const DEPLOY = join(REPO_ROOT, 'deploy');
const UNIT = readFileSync(join(DEPLOY, 'cohort.service'), 'utf8');
const haveAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0 && existsSync('/lib/systemd/system/sysinit.target');

/** `[Section] key=value` entries of a unit file (last one wins, as systemd reads most keys). */
function unitKeys(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (!l || l.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(l);
    if (s) section = s[1]!;
    else if (l.includes('=')) out.set(`${section}.${l.slice(0, l.indexOf('='))}`, l.slice(l.indexOf('=') + 1));
  }
  return out;
}

/** A root holding the unit, its ExecStart and the machine's own systemd units, for `--root` checks. */
function unitRoot(unitText: string): string {
  const root = mkdtempSync(join(tmpdir(), 'cohort-unit-'));
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  writeFileSync(join(root, 'etc/systemd/system/cohort.service'), unitText);
  mkdirSync(join(root, 'opt/cohort/bin'), { recursive: true });
  copyFileSync(join(DEPLOY, 'cohort-command.sh'), join(root, 'opt/cohort/bin/cohort'));
  chmodSync(join(root, 'opt/cohort/bin/cohort'), 0o755);
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  return root;
}

function verify(unitText: string): { status: number | null; output: string } {
  const root = unitRoot(unitText);
  try {
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/cohort.service'], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

t.test('the unit keeps the hardening and what the agent needs', async (t) => {
  const k = unitKeys(UNIT);
  const want: Record<string, string> = {
    'Service.User': 'cohort',
    'Service.Restart': 'on-failure',
    'Service.StateDirectory': 'cohort',
    'Service.ConfigurationDirectory': 'cohort',
    'Service.NoNewPrivileges': 'yes',
    'Service.ProtectSystem': 'strict',
    'Service.ProtectHome': 'yes',
    'Service.PrivateTmp': 'yes',
    'Service.KillSignal': 'SIGTERM',
    'Service.ExecStart': '/opt/cohort/bin/cohort agent --config /etc/cohort/cohort.yaml',
    'Install.WantedBy': 'multi-user.target',
  };
  for (const [key, value] of Object.entries(want)) t.equal(k.get(key), value, `${key}=${value}`);
  const families = (k.get('Service.RestrictAddressFamilies') ?? '').split(/\s+/);
  for (const f of ['AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_NETLINK']) t.ok(families.includes(f), `RestrictAddressFamilies allows ${f} (${f === 'AF_NETLINK' ? 'interface lists for mDNS' : f === 'AF_UNIX' ? 'local sockets' : 'the group bus, HTTP, mDNS'})`);
  t.notOk(k.has('Service.MemoryDenyWriteExecute'), 'no MemoryDenyWriteExecute (V8 JIT needs W+X pages)');
  t.equal(k.get('Service.CapabilityBoundingSet'), '', 'no capabilities');
  t.ok(k.has('Unit.StartLimitIntervalSec'), 'the start limit is in [Unit], where systemd reads it');
});

t.test('systemd-analyze verify passes, and catches a broken unit', { skip: haveAnalyze ? false : 'no systemd-analyze (or no systemd units) on this machine' }, async (t) => {
  const ok = verify(UNIT);
  t.equal(ok.status, 0, 'verify exits 0');
  t.equal(ok.output, '', `verify prints nothing (no warnings)${ok.output ? `: ${ok.output}` : ''}`);
  const typo = verify(UNIT.replace('ProtectHome=yes', 'ProtectHom=yes'));
  t.match(typo.output, /Unknown key/, 'a misspelt key is reported');
  const noExec = verify(UNIT.replace('/opt/cohort/bin/cohort', '/opt/cohort/bin/nothing'));
  t.not(noExec.status, 0, 'a missing ExecStart binary fails');
  // The exposure score (0 = locked down, 10 = exposed) for the record; deterministic for a given systemd.
  const root = unitRoot(UNIT);
  try {
    const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', `--root=${root}`, 'cohort.service'], { encoding: 'utf8' });
    const score = /Overall exposure level for cohort\.service: ([\d.]+)/.exec(sec.stdout);
    if (score) {
      t.comment(`SYSTEMD exposure level: ${score[1]} (systemd-analyze security; 10 = unprotected)`);
      t.ok(Number(score[1]) <= 3, `exposure level ${score[1]} stays low`);
    } else t.comment(`systemd-analyze security gave no score: ${sec.stderr.trim()}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t.test('the example configs load with the agent’s config loader', async (t) => {
  const board = loadConfig(join(DEPLOY, 'board.yaml'));
  t.equal(board.stateDir, '/var/lib/cohort', 'board: state in the unit’s StateDirectory');
  t.equal(board.listen, '0.0.0.0', 'board: listens on every interface');
  t.ok(board.advertise, 'board: advertises an address');
  t.equal(board.http, '127.0.0.1:8080', 'board: HTTP on loopback only');
  t.equal(board.groups.length, 1, 'board: joins a group');
  // The image's default config listens on 0.0.0.0 and leaves `advertise` to the operator: it is
  // refused, naming the field, until it is set (as `docker run` with the default config shows).
  t.throws(() => loadConfig(join(DEPLOY, 'container.yaml')), /advertise/, 'container: refused without advertise, naming it');
  const container = loadConfig(join(DEPLOY, 'container.yaml'), { advertise: '10.0.0.7' });
  t.equal(container.http, '127.0.0.1:8080', 'container: HTTP where the image’s HEALTHCHECK asks');
  t.equal(container.stateDir, '/var/lib/cohort', 'container: state in the state volume');
  t.match(readFileSync(join(REPO_ROOT, 'Dockerfile.arm64'), 'utf8'), /COHORT_HTTP=127\.0\.0\.1:8080/, 'the image’s COHORT_HTTP matches the config');
});

t.test('install.sh and the command wrapper are valid POSIX sh', async (t) => {
  for (const f of ['install.sh', 'cohort-command.sh']) {
    const r = spawnSync('sh', ['-n', join(DEPLOY, f)], { encoding: 'utf8' });
    t.equal(r.status, 0, `sh -n ${f}${r.stderr ? `: ${r.stderr}` : ''}`);
    const sc = spawnSync('shellcheck', ['-s', 'sh', join(DEPLOY, f)], { encoding: 'utf8' });
    if (sc.error) t.comment(`shellcheck not installed: ${f} checked with sh -n only`);
    else t.equal(sc.status, 0, `shellcheck ${f}: ${sc.stdout}`);
  }
});
