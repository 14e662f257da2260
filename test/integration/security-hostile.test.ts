/**
 * Secure mode against strangers, over real sockets: three allow-listed `cohort agent`
 * processes (static peers, `NAME@host:port`), plus
 * - a stranger *agent* with a valid key that nobody lists, which lists the members (and
 *   would admit them), votes "no" to everything, and is listed as a peer by the members;
 * - raw ZeroMQ sockets: a SUB with no key and one with the unlisted key on every bus, and
 *   DEALERs with no key and with the unlisted key on every direct port, forging ballots,
 *   poll results, TimeoutNow, vote requests, a Leave and a heartbeat of the leader's;
 * - an *admitted* key (a member's own) used by a raw DEALER to send frames claiming to be
 *   the leader: CURVE lets it in, the identity check drops it.
 * The group keeps its leader and term, votes without the stranger, and fires nothing forged.
 */
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import * as zmq from 'zeromq';
import { PROTOCOL_VERSION, type Body, type BodyType, type Envelope } from '../../agent/core/messages.js';
import { ballotIdOf } from '../../agent/core/names.js';
import { DirectAuth } from '../../agent/security/direct-auth.js';
import { encodeEnvelope } from '../../proto/codec.js';
import { GOLDEN_ENVELOPES } from '../golden/envelopes.js';
import { CLI, freePort, startCluster, waitFor } from './agent-cluster.js';
import { secureFleet } from './secure-fleet.js';

const G = 'G.a';
const HOST = '127.0.0.1';

function forge<K extends BodyType>(type: K, head: Partial<Envelope>, body: Partial<Extract<Body, { type: K }>> = {}): Buffer {
  const g = GOLDEN_ENVELOPES[type] as Envelope;
  const env = { ...g, version: PROTOCOL_VERSION, group: G, ...head, body: { ...g.body, ...body } } as Envelope;
  return Buffer.from(encodeEnvelope(env));
}

/** Everything that worked against a plaintext group (issue 9), aimed at `to` from the leader's id. */
function forgeries(leader: string, to: string, term: number, ballotId: string): Buffer[] {
  const when = Date.now() + 1500;
  const spec = { ballotId, kind: 'majority' as const, subject: 'action' as const, when, timeoutMs: 1000, topic: Buffer.from('"forged"') };
  return [
    forge('ballot', { from: leader, to, term, incarnation: 1 }, { ...spec, requester: leader, voters: [leader, to], remainingMs: 1000 }),
    forge('pollResult', { from: leader, to: '', term, incarnation: 1 }, { ballotId, requester: leader, outcome: 'yes', kind: 'majority', subject: 'action', when, tally: { yes: 3, no: 0, voters: 3 }, reason: '' }),
    forge('timeoutNow', { from: leader, to, term, incarnation: 1 }),
    forge('voteRequest', { from: 'evil/agent', to, term: term + 10, incarnation: 1 }, { preVote: false, electionTerm: term + 10, configTerm: 0, configVersion: 0, proposedVoters: [], transfer: true }),
    forge('leave', { from: leader, to: '', term, incarnation: 1 }),
    forge('memberHeartbeat', { from: to, to: '', term, incarnation: 2 ** 47 }, { leader: '', endpoint: 'tcp://127.0.0.1:1' }),
  ];
}

t.test('secure mode: strangers without a key or with an unlisted key can neither join, read, vote, lead nor fire an action', async (t) => {
  const fleet = secureFleet(t, ['n1', 'n2', 'n3', 'evil']);
  const allow = fleet.allowDir(['n1', 'n2', 'n3']);
  const evilAllow = fleet.allowDir(['n1', 'n2', 'n3', 'evil'], 'allow-evil');
  const evilPubPort = await freePort();
  const c = await startCluster(
    t,
    [
      { ...fleet.spec('n1', allow), autoVote: 'yes' },
      { ...fleet.spec('n2', allow), autoVote: 'yes' },
      { ...fleet.spec('n3', allow), autoVote: 'yes' },
      { ...fleet.spec('evil', evilAllow), autoVote: 'no' },
    ],
    { namedPeers: true, extraPeers: [`evil2@${HOST}:${evilPubPort}`] },
  );
  const members = [0, 1, 2];
  const formed = await c.waitForCommonLeader(G, { among: members, members: 3, timeoutMs: 20_000 });
  t.comment(`formed: leader ${formed.leader}, term ${formed.term}`);
  const leaderIdx = members.find((i) => c.memberId(i) === formed.leader)!;
  const followers = members.filter((i) => i !== leaderIdx);

  // Readers: a plain SUB and a CURVE SUB with the unlisted key on every member's bus.
  const evilKeys = fleet.keys('evil');
  const readers: zmq.Subscriber[] = [];
  let read = 0;
  for (const i of members) {
    const serverKey = fleet.keys(c.agent(i).node).publicKey;
    for (const opts of [{}, { curveServerKey: serverKey, curvePublicKey: evilKeys.publicKey, curveSecretKey: evilKeys.secretKey }]) {
      const sub = new zmq.Subscriber({ linger: 0, ...opts });
      sub.subscribe('');
      sub.connect(`tcp://${HOST}:${c.agent(i).busPort}`);
      readers.push(sub);
      void (async () => {
        try {
          for await (const _ of sub) read++;
        } catch {
          // closed
        }
      })();
    }
  }
  t.teardown(() => readers.forEach((s) => s.close()));
  // A raw PUB with the unlisted key, listed by the members as a static peer "evil2".
  const evilPub = new zmq.Publisher({ linger: 0, sendTimeout: 0, curveServer: true, curveSecretKey: evilKeys.secretKey, curvePublicKey: evilKeys.publicKey });
  await evilPub.bind(`tcp://${HOST}:${evilPubPort}`);
  t.teardown(() => evilPub.close());

  // Forgers on the direct ports: no key, the unlisted key (both framings), and an admitted
  // key (the follower's own) claiming to be the leader.
  const insider = followers[1]!;
  const insiderKeys = fleet.keys(c.agent(insider).node);
  const keysOf = (n: string) => (n === 'evil' ? [evilKeys.publicKey] : [fleet.keys(n).publicKey]);
  const evilAuth = new DirectAuth('evil', evilKeys.secretKey, keysOf);
  const insiderAuth = new DirectAuth(insiderKeys.name, insiderKeys.secretKey, keysOf);
  const forgers: { dealer: zmq.Dealer; wrap: (frame: Buffer) => Buffer[] }[] = [];
  for (const i of members) {
    const serverKey = fleet.keys(c.agent(i).node).publicKey;
    const ep = `tcp://${HOST}:${c.agent(i).directPort}`;
    const plain = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
    plain.connect(ep);
    forgers.push({ dealer: plain, wrap: (f) => [f] });
    const curve = { curveServerKey: serverKey, curvePublicKey: evilKeys.publicKey, curveSecretKey: evilKeys.secretKey };
    const unlisted = new zmq.Dealer({ linger: 0, sendTimeout: 0, ...curve });
    unlisted.connect(ep);
    forgers.push({ dealer: unlisted, wrap: (f) => [Buffer.from('evil'), evilAuth.tag(serverKey, f), f] });
    const impostor = new zmq.Dealer({ linger: 0, sendTimeout: 0, ...curve });
    impostor.connect(ep);
    forgers.push({ dealer: impostor, wrap: (f) => [Buffer.from(c.agent(leaderIdx).node), evilAuth.tag(serverKey, f), f] });
    if (i !== insider) {
      const admitted = new zmq.Dealer({ linger: 0, sendTimeout: 0, curveServerKey: serverKey, curvePublicKey: insiderKeys.publicKey, curveSecretKey: insiderKeys.secretKey });
      admitted.connect(ep);
      forgers.push({ dealer: admitted, wrap: (f) => [Buffer.from(insiderKeys.name), insiderAuth.tag(serverKey, f), f] });
    }
  }
  t.teardown(() => forgers.forEach((f) => f.dealer.close()));

  const ballotId = ballotIdOf(formed.leader, 1, 999_999);
  const since = await Promise.all(members.map((i) => c.lastSeq(i)));
  let sent = 0;
  const until = performance.now() + 3000;
  while (performance.now() < until) {
    for (const i of members) {
      for (const frame of forgeries(formed.leader, c.memberId(i), formed.term, ballotId)) {
        for (const f of forgers) {
          await f.dealer.send(f.wrap(frame)).catch(() => {});
          sent++;
        }
        await evilPub.send([G, frame]).catch(() => {});
      }
    }
    await c.post(leaderIdx, `/groups/${G}/send`, { object: { secret: 'payload' } });
    await sleep(100);
  }
  t.comment(`sent ${sent} forged direct frames`);

  // A consensus vote: the stranger's "no" would veto it if it were a voter.
  const vote = await c.post<{ ballotId: string }>(followers[0]!, `/groups/${G}/vote`, { topic: 'go', kind: 'consensus', timeoutMs: 3000 });
  t.equal(vote.status, 200, 'vote requested');
  const result = await waitFor(
    async () => (await c.events(followers[0]!)).find((e) => e.type === 'voteResult' && e.ballotId === vote.body.ballotId),
    10_000,
    'the vote result',
  );
  t.equal(result.outcome, 'yes', 'consensus vote passed: the stranger is no voter');

  await sleep(1500); // past the forged action instant
  t.same(c.live(), [0, 1, 2, 3], 'every agent still runs');
  const after = await c.waitForCommonLeader(G, { among: members, members: 3, timeoutMs: 10_000 });
  t.equal(after.leader, formed.leader, 'the leader is unchanged');
  t.equal(after.term, formed.term, 'the term is unchanged');
  for (const [k, i] of members.entries()) {
    const evs = await c.events(i, since[k]);
    t.notOk(evs.some((e) => (e as { ballotId?: string }).ballotId === ballotId), `${c.agent(i).node}: nothing happened for the forged ballot`);
    t.notOk(evs.some((e) => e.type === 'action'), `${c.agent(i).node}: no action fired`);
    const st = after.statuses.find((s) => s.node === c.agent(i).node)!;
    const g = st.groups.find((x) => x.group === G)!;
    t.notOk(g.members.some((m) => m.startsWith('evil')), `${st.node}: no stranger among the members`);
    t.notOk(g.voters.some((m) => m.startsWith('evil')), `${st.node}: no stranger among the voters`);
    if (st.security?.mode === 'curve') {
      t.ok(st.security.zap.refused > 0, `${st.node}: ZAP refused handshakes (${st.security.zap.refused})`);
      t.ok(st.security.peers.some((p) => p.name === 'evil2' && !p.admitted), `${st.node}: the listed stranger is shown as not admitted`);
    } else t.fail(`${st.node}: not in secure mode`);
    if (i !== insider) t.ok(st.drops.identity > 0, `${st.node}: frames of an admitted key claiming the leader's id dropped (drops.identity ${st.drops.identity})`);
    t.comment(`${st.node}: drops ${JSON.stringify(st.drops)}, dropsAuth ${st.transport.dropsAuth}, zap ${JSON.stringify(st.security?.mode === 'curve' ? st.security.zap : null)}`);
  }
  const evil = await c.status(3);
  t.equal(evil.groups.find((x) => x.group === G)!.members.length, 1, 'the stranger agent is alone in its group');
  t.equal(read, 0, `the strangers' SUBs read nothing from any bus (${read} messages)`);

  // Without the token the HTTP API answers 401, on read and on control routes.
  const plain = await fetch(`${c.agent(0).url}/status`);
  t.equal(plain.status, 401, 'GET /status without a token: 401');
  const ctl = await fetch(`${c.agent(0).url}/groups/${G}/send`, { method: 'POST', body: '{}' });
  t.equal(ctl.status, 401, 'POST /groups/../send without a token: 401');
  for (const path of ['/metrics', '/events']) t.equal((await fetch(`${c.agent(0).url}${path}`)).status, 401, `GET ${path} without a token: 401`);

  // `cohort status` with the token shows the mode, the key and each peer admitted or not; without it, says why not.
  const cli = (extra: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, 'status', '--http', `${HOST}:${c.agent(0).httpPort}`, ...extra], { encoding: 'utf8', timeout: 30_000 });
  const shown = cli(['--http-token', c.agent(0).spec.httpTokenFile!]);
  t.equal(shown.status, 0, 'cohort status --http-token: exit 0');
  t.match(shown.stdout, new RegExp(`security: curve, public key ${escape(fleet.keys('n1').publicKey)}`), 'shows the mode and the public key');
  t.match(shown.stdout, /admitted n2 /, 'shows an admitted peer');
  t.match(shown.stdout, /refused  evil2 /, 'shows the refused peer');
  const denied = cli([]);
  t.equal(denied.status, 1, 'cohort status without the token: exit 1');
  t.match(denied.stderr, /401/, 'and says the agent wants its token');
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
