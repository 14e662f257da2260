/**
 * Runs one seeded {@link Plan} in the {@link Simulator}: resolves each planned
 * operation against the run's state when it happens ("crash the leader",
 * "restart a crashed member"), plays the simulated applications (random
 * votes), and at the stable phase checks liveness, including one poll that
 * must pass.
 */
import type { AppEvent } from '../../agent/core/events.js';
import type { MemberId, VoterConfig } from '../../agent/core/messages.js';
import { quorum, type Violation } from './checker.js';
import type { LivenessStats } from './liveness.js';
import { Rng } from './random.js';
import { PROTOCOL_VERSION, type Body, type Envelope } from '../../agent/core/messages.js';
import { describePlan, generate, probeTimeoutMs, type Plan, type PlanOp, type StrangerKind } from './schedule.js';
import { Simulator, type Instance, type MemberFactory } from './simulator.js';
import { Trace } from './trace.js';

export interface RunOptions {
  /** Round-trip envelopes through proto/codec (default true). */
  codec?: boolean;
  factory?: MemberFactory;
  /** Print every trace record as it happens. */
  echo?: (line: string) => void;
  traceSize?: number;
  /** Checker rules to count but not report (to look past a known bug). */
  ignore?: readonly string[];
}

export interface RunResult {
  seed: number;
  plan: Plan;
  violations: Violation[];
  /** Violations of ignored rules, by rule. */
  ignored: Record<string, number>;
  /** The last trace records, when the run failed. */
  trace: string;
  liveness: LivenessStats | null;
  /** Why the stable phase could not expect a leader (more than a minority of the voters left), or null. */
  livenessSkipped: string | null;
  stats: { deliveries: number; dropped: number; steps: number; leaders: number; polls: number; results: number; lateActions: number; virtualMs: number };
}

type VoteRequestEvent = Extract<AppEvent, { type: 'voteRequest' }>;

/** A member's application: usually votes, sometimes abstains, now and then votes twice or votes as a non-voter. */
function randomVote(ev: VoteRequestEvent, rng: Rng) {
  if (!ev.canVote && !rng.chance(0.3)) return null;
  if (rng.chance(0.2)) return null;
  const delay = rng.chance(0.7) ? rng.int(0, 200) : rng.int(0, 3000);
  const yes = rng.chance(0.65);
  return rng.chance(0.05) ? { delay, yes, again: { delay: rng.int(0, 300), yes: rng.chance(0.5) } } : { delay, yes };
}

/** Ids of strangers: never started by the simulation, never to be trusted with anything. */
export function strangerId(k: number): MemberId {
  return `x${k}/stranger`;
}

export function runSeed(seed: number, opts: RunOptions = {}): RunResult {
  return runPlan(generate(seed), opts);
}

export function runPlan(plan: Plan, opts: RunOptions = {}): RunResult {
  const trace = new Trace(opts.traceSize ?? 200, opts.echo ?? null);
  const dMax = plan.network.delayMax;
  let probing = false;
  const sim = new Simulator({
    seed: plan.seed,
    minSize: plan.minSize,
    timers: plan.timers,
    network: plan.network,
    skewMs: plan.skewMs,
    timerJitterMs: plan.timerJitterMs,
    ...(opts.codec !== undefined ? { codec: opts.codec } : {}),
    ...(opts.factory ? { factory: opts.factory } : {}),
    ...(opts.ignore ? { ignore: opts.ignore } : {}),
    trace,
    votePolicy: (_inst, ev, rng) => (probing ? { delay: rng.int(0, 2 * dMax), yes: true } : randomVote(ev, rng)),
  });
  trace.note(0, 'plan', describePlan(plan));
  const rng = new Rng(plan.seed).fork('exec');
  let stable = false;
  let livenessSkipped: string | null = null;

  const all = (): Instance[] => sim.ids().map((id) => sim.instance(id) as Instance);
  const pickUp = (): Instance | undefined => {
    const up = sim.up();
    return up.length ? rng.pick(up) : undefined;
  };
  const leader = (): Instance | undefined => sim.up().find((i) => i.member.role() === 'leader');
  const payload = () => new Uint8Array([rng.int(0, 255)]);

  const apply = (op: PlanOp): void => {
    const fault = op.op !== 'start' && op.op !== 'send' && op.op !== 'toLeader' && op.op !== 'toMember' && op.op !== 'poll' && op.op !== 'probePoll';
    if (stable && fault && op.op !== 'stable') return;
    switch (op.op) {
      case 'start':
        if (!sim.instance(op.id)?.up) sim.start(op.id);
        return;
      case 'crash': {
        const target = op.who === 'leader' ? leader() : pickUp();
        if (target) sim.crash(target.id);
        return;
      }
      case 'restart': {
        const crashed = all().filter((i) => i.crashed && !i.up);
        if (crashed.length) sim.start(rng.pick(crashed).id);
        return;
      }
      case 'leave': {
        const target = op.who === 'leader' ? leader() : pickUp();
        if (!target) return;
        // Only a leave the group can survive: the best configuration must keep a quorum of the
        // members that have not left (crashed ones count: they come back), and minSize members.
        const staying = all().filter((i) => !i.left && i !== target).map((i) => i.id);
        if (staying.length >= plan.minSize && !missingQuorum(sim.up(), staying, plan.minSize)) sim.leave(target.id);
        return;
      }
      case 'rejoin': {
        const left = all().filter((i) => i.left);
        if (left.length) sim.start(rng.pick(left).id);
        return;
      }
      case 'partition': {
        const ids = rng.shuffle(all().filter((i) => !i.left).map((i) => i.id));
        if (ids.length < 2) return;
        const l = leader();
        if (op.leaderInMinority && l && ids.includes(l.id)) {
          ids.splice(ids.indexOf(l.id), 1);
          ids.unshift(l.id);
        }
        const groups: MemberId[][] = [];
        let rest = ids;
        for (let p = op.parts; p > 1 && rest.length > 1; p--) {
          const size = rng.int(1, Math.max(1, Math.floor(rest.length / 2)));
          groups.push(rest.slice(0, size));
          rest = rest.slice(size);
        }
        groups.push(rest);
        sim.partition(...groups);
        return;
      }
      case 'cut': {
        const ids = all().map((i) => i.id);
        if (ids.length < 2) return;
        const [a, b] = rng.shuffle([...ids]);
        sim.cutOneWay(a as MemberId, b as MemberId);
        return;
      }
      case 'heal':
        sim.heal();
        return;
      case 'loss':
        sim.setNetwork({ loss: op.loss });
        return;
      case 'delay':
        sim.setNetwork({ delayMax: op.delayMax });
        return;
      case 'pause': {
        const target = op.who === 'leader' ? leader() : pickUp();
        if (target) sim.pause(target.id, op.ms);
        return;
      }
      case 'send': {
        const m = pickUp();
        if (m) sim.call(m.id, 'send', (g, now) => g.send(payload(), now));
        return;
      }
      case 'toLeader': {
        const m = pickUp();
        if (m) sim.call(m.id, 'sendToLeader', (g, now) => g.sendToLeader(payload(), now));
        return;
      }
      case 'toMember': {
        const m = pickUp();
        if (!m) return;
        const to = rng.pick(sim.ids());
        sim.call(m.id, 'sendToMember', (g, now) => g.sendToMember(payload(), to, now));
        return;
      }
      case 'poll': {
        const m = pickUp();
        if (!m) return;
        const timeout = op.timeoutMs ?? plan.timers.consensusTimeout;
        const when = op.subject === 'action' ? sim.instantOf(m).wall + timeout + op.whenSlack : undefined;
        sim.requestPoll(m.id, { kind: op.kind, subject: op.subject, ...(op.timeoutMs !== undefined ? { timeoutMs: op.timeoutMs } : {}), ...(when !== undefined ? { when } : {}) });
        return;
      }
      case 'yield':
        if (sim.instance(op.id)?.up) sim.call(op.id, `setCampaignYield ${op.on}`, (m) => m.setCampaignYield(op.on));
        return;
      case 'stable': {
        stable = true;
        sim.resumeAll();
        // Healthy again: nobody yields (the runtime clears it when health recovers).
        for (const i of sim.up()) sim.call(i.id, 'setCampaignYield false', (m) => m.setCampaignYield(false));
        sim.heal();
        sim.setNetwork({ loss: 0, delayMax: dMax });
        for (const i of all()) if (i.crashed && !i.up) sim.start(i.id);
        livenessSkipped = missingQuorum(sim.up(), sim.up().map((i) => i.id), plan.minSize);
        if (livenessSkipped) trace.note(sim.now(), 'sim', `liveness not expected: ${livenessSkipped}`);
        else {
          // A member still in its amnesia quarantine votes only peerTimeout after it hears enough
          // members (docs/protocol.md §4.4): the bound grows by that (and one heartbeat to hear them).
          const quarantined = sim.up().some((i) => sim.hardState(i.id)?.quarantined);
          sim.checker.beginStable(plan.bound + (quarantined ? plan.timers.peerTimeout + plan.timers.heartbeat : 0));
        }
        return;
      }
      case 'probePoll':
        probePoll();
        return;
      case 'crashMajority': {
        // A majority of the voters (as the leader, or else any member, knows them) loses power at once.
        const up = sim.up();
        const cfg = (leader() ?? up[0])?.member.config();
        const voters = cfg && cfg.voters.length ? up.filter((i) => cfg.voters.includes(i.id)) : up;
        const n = Math.floor(voters.length / 2) + 1;
        for (const i of rng.shuffle([...voters]).slice(0, n)) sim.crash(i.id);
        return;
      }
      case 'restartAmnesiac': {
        const crashed = all().filter((i) => i.crashed && !i.up);
        if (crashed.length) sim.start(rng.pick(crashed).id, { amnesiac: true });
        return;
      }
      case 'clockStep': {
        const target = pickUp();
        if (target) sim.stepClock(target.id, op.ms);
        return;
      }
      case 'stranger':
        stranger(op.kind, op.count, op.ms);
        return;
    }
  };

  const stranger = (kind: StrangerKind, count: number, ms: number): void => {
    const up = sim.up();
    if (!up.length) return;
    const term = Math.max(...up.map((i) => i.member.term()));
    const hb = plan.timers.heartbeat;
    const forged = (from: MemberId, t: number, body: Body, to: MemberId | '' = '', incarnation = 1): Envelope => ({ version: PROTOCOL_VERSION, group: 'G.a', from, incarnation, term: t, to, body });
    const wall = sim.instantOf(up[0] as Instance).wall;
    switch (kind) {
      case 'phantoms': {
        // Ids nobody started, heart-beating for a while, then silent for ever.
        for (let k = 1; k <= count; k++) {
          const id = strangerId(k);
          for (let at = 0; at < ms; at += hb) {
            sim.at(sim.now() + at, () => !stable && sim.forge(forged(id, term, { type: 'memberHeartbeat', timers: plan.timers, minSize: plan.minSize, sentAt: wall + at, leader: '', endpoint: '' })));
          }
        }
        return;
      }
      case 'absurd': {
        // Decodable but absurd numbers (and some beyond the wire's bounds, which the decoder must refuse).
        const id = strangerId(9);
        const huge = [2 ** 53 - 1, 2 ** 48, 2 ** 48 + 1, 2 ** 48 - 2 ** 24 + 7, term + 1_000_000_000];
        const l = leader();
        for (const t of huge) {
          const to = l?.id ?? '';
          sim.forge(forged(id, t, { type: 'heartbeatAck', configTerm: t, configVersion: t, accepted: false }, to, t));
          sim.forge(forged(id, t, { type: 'voteReply', preVote: false, electionTerm: t, granted: true }, to));
          sim.forge(forged(id, term, { type: 'memberHeartbeat', timers: plan.timers, minSize: 2 ** 31, sentAt: 2 ** 52, leader: '', endpoint: '' }, '', t));
        }
        return;
      }
      case 'forgedPoll': {
        // A stranger opens a ballot and announces it passed; then announces a result for a real open ballot.
        const id = strangerId(9);
        const voters = sim.ids();
        for (let k = 1; k <= count; k++) {
          const ballotId = `${id}#1.${sim.now() * 10 + k}`;
          const spec = { ballotId, topic: new Uint8Array([6, 6, 6]), kind: 'consensus' as const, subject: 'action' as const, when: wall + 3000, timeoutMs: 1000 };
          sim.forge(forged(id, term, { type: 'ballot', ...spec, requester: id, voters, remainingMs: 1000 }));
          const tally = { yes: voters.length, no: 0, voters: voters.length };
          const result = (b: string): Body => ({ type: 'pollResult', ballotId: b, requester: id, outcome: 'yes', kind: 'consensus', subject: 'action', when: wall + 3000, tally, reason: '' });
          sim.at(sim.now() + 20 * k, () => sim.forge(forged(id, term, result(ballotId))));
          const real = sim.checker.polls.lastBallot();
          if (real) sim.at(sim.now() + 30 * k, () => sim.forge(forged(id, term, result(real))));
        }
        return;
      }
      case 'forgedData': {
        const id = strangerId(9);
        for (const i of up) sim.forge(forged(id, i.member.term(), { type: 'data', channel: 'fromLeader', payload: new Uint8Array([1]), sentAt: wall }, i.id), i.id);
        return;
      }
    }
  };

  const probePoll = (): void => {
    if (livenessSkipped || sim.checker.stableLeader() === null) return;
    const m = pickUp();
    if (!m) return;
    probing = true;
    const timeoutMs = probeTimeoutMs(plan.timers, dMax);
    const id = sim.requestPoll(m.id, { kind: 'majority', subject: 'value', timeoutMs });
    if (typeof id !== 'string') {
      sim.checker.simulatorFault('poll-liveness', `${m.id} could not request a poll with a stable leader: ${id instanceof Error ? id.message : 'member down'}`);
      return;
    }
    const expected = sim.up();
    sim.at(sim.now() + timeoutMs + plan.timers.heartbeat + 1, () => {
      // A member whose copy of the ballot arrived after the result never sees the poll: it is owed nothing.
      for (const i of expected) {
        const got = sim.checker.polls.resultOf(i.key, id);
        const owed = i === m || sim.checker.polls.wasShown(i.key, id);
        if (i.up && owed && got !== 'yes') sim.checker.simulatorFault('poll-liveness', `${i.id} got ${got ?? 'no result'} for stable-phase poll ${id} that every member voted yes on`);
      }
    });
  };

  for (const { at, op } of plan.ops) sim.at(at, () => apply(op));
  sim.runUntil(plan.end);

  const c = sim.checker;
  return {
    seed: plan.seed,
    plan,
    violations: c.violations,
    ignored: Object.fromEntries(c.ignored),
    trace: c.violations.length ? trace.dump() : '',
    liveness: c.livenessStats(),
    livenessSkipped,
    stats: { ...sim.stats, ...c.stats, ...c.polls.stats, virtualMs: sim.now() },
  };
}

/** Why `live` could not elect a leader under the best voter configuration the `up` members hold, or null if it can. */
function missingQuorum(up: Instance[], live: MemberId[], minSize: number): string | null {
  let best: VoterConfig | null = null;
  for (const i of up) {
    const c = i.member.config();
    if (!best || c.term > best.term || (c.term === best.term && c.version > best.version)) best = c;
  }
  if (!best || best.version === 0) return live.length >= minSize ? null : `${live.length} live members < minSize ${minSize}`;
  const present = best.voters.filter((v) => live.includes(v)).length;
  const need = quorum(best.voters.length, minSize);
  return present >= need ? null : `only ${present} of voters [${best.voters.join(',')}] are live (quorum ${need})`;
}
