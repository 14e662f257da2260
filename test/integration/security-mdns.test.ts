/**
 * Secure mode with mDNS (loopback mode: nothing leaves the machine). Three allow-listed
 * agents, a stranger agent with a valid key that is on nobody's allow-list (it lists the
 * three and announces its key like them), and a plaintext agent, all in one process (one
 * ZAP handler serving four domains). The three form a group; neither stranger joins, reads
 * or is dialled; the group keeps its leader and term.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { TIMER_PRESETS } from '../../agent/core/timers.js';
import { Agent } from '../../agent/runtime/agent.js';
import { MdnsDiscovery } from '../../discovery/mdns.js';
import { AllowList } from '../../agent/security/allow-list.js';
import { generateCertificate, loadOwnKeys } from '../../agent/security/keys.js';
import { PeerSecurity } from '../../agent/security/peer-security.js';
import type { Group } from '../../agent/api/group.js';

const PREFIX = `sm${process.pid}`;
const TYPE = 'SecMdns';
const INSTANCE = `g${process.pid}`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function until(what: string, done: () => boolean, deadlineMs = 15_000): Promise<void> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.test('mDNS: allow-listed agents form a group; a stranger with an unlisted key and a plaintext agent stay out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-secm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const members = ['a', 'b', 'c'].map((n) => `${PREFIX}-${n}`);
  const stranger = `${PREFIX}-x`;
  const allow = join(dir, 'allow');
  const strangerAllow = join(dir, 'allow-x');
  mkdirSync(allow);
  mkdirSync(strangerAllow);
  for (const n of [...members, stranger]) {
    mkdirSync(join(dir, n));
    const c = generateCertificate(join(dir, n), n);
    if (n !== stranger) {
      copyFileSync(c.publicFile, join(allow, `${n}.key`));
      copyFileSync(c.publicFile, join(strangerAllow, `${n}.key`)); // the stranger would admit them all
    }
  }
  const secure = (n: string, allowDir: string) => {
    const keys = loadOwnKeys(join(dir, n), n);
    return new PeerSecurity(keys, new AllowList(allowDir, keys, quiet), quiet);
  };
  const agents: Agent[] = [];
  const groups: Group[] = [];
  const specs = [...members.map((n) => ({ n, security: secure(n, allow) })), { n: stranger, security: secure(stranger, strangerAllow) }, { n: `${PREFIX}-p`, security: undefined }];
  for (const { n, security } of specs) {
    const agent = new Agent({ node: n, listenHost: '127.0.0.1', discovery: new MdnsDiscovery({ loopback: true, requeryMs: 1000 }), security });
    t.teardown(() => agent.stop());
    agents.push(agent);
  }
  await Promise.all(agents.map((a) => a.start()));
  for (const a of agents) {
    const g = a.join('agent', TYPE, INSTANCE, { minSize: 2, timers: TIMER_PRESETS.lan });
    g.on('voteRequest', (r) => r.canVote && g.vote(r.ballotId, false)); // strangers would veto, if they could
    groups.push(g);
  }
  const ours = groups.slice(0, 3);
  await until('a leader among the three allow-listed agents', () => {
    const l = ours[0]!.leaderId();
    return l !== null && ours.every((g) => g.leaderId() === l && g.size() === 3);
  });
  // Let the strangers try for a while: discovery re-queries every second.
  await sleep(4000);
  const leader = ours[0]!.leaderId();
  const term = agents[0]!.status().groups[0]!.term;
  await sleep(2000);
  for (const [i, a] of agents.slice(0, 3).entries()) {
    const st = a.status();
    const g = st.groups[0]!;
    t.same(g.members.sort(), members.map((n) => `${n}/agent`).sort(), `${a.node}: members are the three allow-listed agents`);
    t.equal(g.leader, leader, `${a.node}: same leader`);
    t.equal(g.term, term, `${a.node}: same term`);
    t.equal(st.security?.mode, 'curve');
    if (st.security?.mode !== 'curve') continue;
    const peers = st.security.peers;
    t.ok(peers.filter((p) => p.admitted && p.dialled).length === 2, `${a.node}: the two other members admitted and dialled`);
    const x = peers.find((p) => p.name === stranger);
    t.ok(x && !x.admitted && /not on the allow-list/.test(x.reason ?? ''), `${a.node}: the stranger is listed, not admitted (${x?.reason})`);
    const p = peers.find((p) => p.name === `${PREFIX}-p`);
    t.ok(p && !p.admitted, `${a.node}: the plaintext agent is not admitted (${p?.reason})`);
    t.ok(st.security.zap.refused > 0, `${a.node}: ZAP refused the stranger's handshakes (${st.security.zap.refused})`);
    if (i === 0) t.comment(`refused keys at ${a.node}: ${st.security.refusedKeys.map((k) => `${k.publicKey.slice(0, 8)}… ×${k.count}`).join(', ')}`);
  }
  t.equal(groups[3]!.size(), 1, 'the stranger with an unlisted key is alone in its group');
  t.equal(groups[4]!.size(), 1, 'the plaintext agent is alone in its group');
});
