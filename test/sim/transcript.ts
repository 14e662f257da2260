/**
 * Transcripts: the protocol told as a script of steps, each followed by what it
 * made the members do (in the manner of etcd-io/raft's `testdata/*.txt`
 * interaction tests). A transcript file is a series of blocks:
 *
 *     # comment lines (kept as they are)
 *     command arg key=value
 *     ----
 *     output line
 *     output line
 *     <blank line>
 *
 * The runner drives the simulator (`Simulator`, the checker underneath) with a
 * fixed, loss-free network; every output line is rendered from the trace, so the
 * same core gives the same text byte for byte. `TranscriptRunner.exec` runs one
 * command; `runTranscript` runs a whole file and renders it back with the
 * outputs it produced (`--rewrite` writes that back). The commands are listed
 * in {@link COMMANDS} and in the README's test section.
 *
 * Names: `m1` stands for member id `m1/a` (the component part is left out on
 * input and output); action instants print as `W+ms` after the simulator's wall
 * epoch; times are virtual ms from the start of the transcript.
 */
import type { AppEvent, HardState } from '../../agent/core/events.js';
import type { Envelope, MemberId, PollKind } from '../../agent/core/messages.js';
import { TIMER_PRESETS, type TimerPreset } from '../../agent/core/timers.js';
import { agreedLeader, runUntilTrue } from './scripted.js';
import { Simulator, WALL_BASE, type MemberFactory } from './simulator.js';
import { Trace, formatBody, formatEvent, type TraceRecord } from './trace.js';

export const COMMANDS = `
group m1 m2 m3 [minSize=2] [timers=riaps|lan|slow] [seed=7] [delay=2]   a group; its members start at time 0
start m4 | crash m2 | restart m2 [amnesiac] | leave m1 | pause m1 MS | clock m1 +MS
partition m1,m2 | m3        cut m1->m2 (one way)        heal        net auto [loss=P] | net hold
advance MS                  let MS of virtual time pass (timers fire, messages arrive after delay ms)
stabilize [limit=MS]        auto: run until all running members follow one leader; hold: deliver until nothing is held
deliver|drop [from=m1] [to=m2] [type=voteRequest]    held messages (net hold), oldest first
pending                     list held messages
poll m1 majority|consensus [action] [in=MS] [timeout=MS]    request a poll (action: when = now + in)
vote m2 BALLOT yes|no       status [m1 ...]
show [heartbeats=changes|all|none] [repeats=off|on] [recv=off|on] [persist=on|off]   what to print (defaults first)
$leader                     in any argument: the member that is leader now
`.trim();

const COMPONENT = 'a';
const memberId = (name: string): MemberId => (name.includes('/') ? name : `${name}/${COMPONENT}`);
/** Member ids and ballot ids without the component, instants relative to the wall epoch. */
function shorten(text: string): string {
  return text.replace(new RegExp(`([A-Za-z0-9_-]+)/${COMPONENT}(?![A-Za-z0-9_-])`, 'g'), '$1').replace(/when=(\d{13,})/g, (_, w: string) => `when=W+${Number(w) - WALL_BASE}`);
}
const ballotId = (s: string) => s.replace(/^([A-Za-z0-9_-]+)#/, `$1/${COMPONENT}#`);

const HEARTBEATS = new Set(['memberHeartbeat', 'leaderHeartbeat', 'heartbeatAck']);

interface Held {
  env: Envelope;
  from: MemberId;
  to: MemberId;
}

/** A trace that also hands every record to the runner as it happens. */
class TapTrace extends Trace {
  constructor(private readonly sink: (r: TraceRecord) => void) {
    super(1);
  }
  override add(rec: TraceRecord): void {
    super.add(rec);
    this.sink(rec);
  }
}

function persistText(s: HardState): string {
  return `persist term=${s.term} votedFor=${s.votedFor ?? '-'}${s.quarantined ? ' quarantined' : ''}${s.voteFloor !== undefined ? ` voteFloor=${s.voteFloor}` : ''}`;
}

export class TranscriptError extends Error {}

export class TranscriptRunner {
  private sim: Simulator | null = null;
  private out: string[] = [];
  private show = { heartbeats: 'changes' as 'changes' | 'all' | 'none', recv: false, persist: true, repeats: false };
  /** Poll messages already shown, per (sender, receiver, type, ballot), for `repeats=off`. */
  private readonly pollMessagesShown = new Set<string>();
  /** Last heartbeat text per (sender, receiver, type), for `heartbeats=changes`. */
  private readonly lastHeartbeat = new Map<string, string>();
  private holding = false;
  private held: Held[] = [];
  private violationsShown = 0;
  private delay = 2;

  /** `factory`: the cores to run (default the real GroupMember; a mutant shows what a broken rule changes). */
  constructor(private readonly factory?: MemberFactory) {}

  /** Run one command line; returns its output lines (never empty: `ok` when nothing happened). */
  exec(line: string): string[] {
    this.out = [];
    const words = line.trim().split(/\s+/).map((w) => this.substitute(w));
    const [cmd, ...rest] = words;
    const args = rest.filter((w) => !/^[a-zA-Z]+=/.test(w));
    const opts = new Map(rest.filter((w) => /^[a-zA-Z]+=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] as const));
    switch (cmd) {
      case 'group':
        this.group(args, opts);
        break;
      case 'start':
        for (const a of args.filter((a) => a !== 'amnesiac')) this.need().start(memberId(a), { amnesiac: args.includes('amnesiac') });
        break;
      case 'restart': {
        const who = this.one(args.filter((a) => a !== 'amnesiac'));
        const sim = this.need();
        if (sim.instance(who)?.up) throw new TranscriptError(`restart ${who}: it is running (crash it first)`);
        sim.start(who, { amnesiac: args.includes('amnesiac') });
        break;
      }
      case 'crash':
      case 'leave': {
        const sim = this.need();
        for (const id of this.names(args)) (cmd === 'crash' ? sim.crash(id) : sim.leave(id));
        break;
      }
      case 'pause':
      case 'clock': {
        // pause m1 MS: its process stalls; clock m1 +MS: its wall clock steps (monotonic time untouched).
        const who = this.one(args.slice(0, 1));
        const ms = this.number(args[1], `${cmd} MEMBER ${cmd === 'pause' ? 'MS' : '+MS'}`);
        if (cmd === 'pause') this.need().pause(who, ms);
        else this.need().stepClock(who, ms);
        break;
      }
      case 'partition': {
        const sides = rest.join(' ').split('|').map((s) => s.split(/[\s,]+/).filter(Boolean).map(memberId));
        if (sides.length < 2 || sides.some((s) => s.length === 0)) throw new TranscriptError('partition a,b | c: at least two non-empty sides');
        this.need().partition(...sides);
        break;
      }
      case 'cut': {
        const m = /^([^-]+)->(.+)$/.exec(args[0] ?? '');
        if (!m) throw new TranscriptError('cut FROM->TO');
        this.need().cutOneWay(memberId(m[1] as string), memberId(m[2] as string));
        break;
      }
      case 'heal':
        this.need().heal();
        break;
      case 'net':
        this.net(args, opts);
        break;
      case 'advance':
        this.need().runFor(this.number(args[0], 'advance MS'));
        break;
      case 'stabilize':
        this.stabilize(opts);
        break;
      case 'deliver':
      case 'drop':
        this.deliverOrDrop(cmd, opts);
        break;
      case 'pending':
        for (const h of this.held) this.line(`${h.from} -> ${h.to}  ${formatBody(h.env)}`);
        if (this.held.length === 0) this.line('nothing held');
        break;
      case 'poll':
        this.poll(args, opts);
        break;
      case 'vote': {
        const who = this.one(args.slice(0, 1));
        const yes = args[2] === 'yes';
        if (!args[1] || (args[2] !== 'yes' && args[2] !== 'no')) throw new TranscriptError('vote MEMBER BALLOT yes|no');
        const r = this.need().vote(who, ballotId(args[1]), yes);
        if (r instanceof Error) this.line(`error: ${r.name}: ${r.message}`);
        else if (r === false) this.line('vote not sent');
        break;
      }
      case 'status':
        this.status(args);
        break;
      case 'show':
        for (const [k, v] of opts) {
          if (k === 'heartbeats' && (v === 'changes' || v === 'all' || v === 'none')) this.show.heartbeats = v;
          else if ((k === 'recv' || k === 'persist' || k === 'repeats') && (v === 'on' || v === 'off')) this.show[k] = v === 'on';
          else throw new TranscriptError(`show: unknown setting ${k}=${v}`);
        }
        break;
      default:
        throw new TranscriptError(`unknown command '${cmd}'; the commands are:\n${COMMANDS}`);
    }
    this.reportViolations();
    return this.out.length ? this.out.map(shorten) : ['ok'];
  }

  // ------------------------------------------------------------ commands

  private group(args: string[], opts: Map<string, string>): void {
    if (this.sim) throw new TranscriptError('group: there is a group already');
    const preset = (opts.get('timers') ?? 'riaps') as TimerPreset;
    if (!(preset in TIMER_PRESETS)) throw new TranscriptError(`group: unknown timers ${preset}`);
    this.delay = Number(opts.get('delay') ?? 2);
    const trace = new TapTrace((r) => this.record(r));
    this.sim = new Simulator({
      seed: Number(opts.get('seed') ?? 7),
      minSize: Number(opts.get('minSize') ?? 2),
      timers: { ...TIMER_PRESETS[preset] },
      network: { loss: 0, duplicate: 0, delayMin: this.delay, delayMax: this.delay },
      skewMs: 0,
      stopOnViolation: false,
      trace,
      ...(this.factory ? { factory: this.factory } : {}),
      shape: (env, from, to) => {
        if (!this.holding || from === to) return null;
        this.held.push({ env, from, to });
        return [];
      },
    });
    for (const a of args) this.sim.start(memberId(a));
  }

  private net(args: string[], opts: Map<string, string>): void {
    const mode = args[0];
    if (mode === 'hold') this.holding = true;
    else if (mode === 'auto') {
      // What is still held is delivered now, then the network carries messages itself again.
      this.holding = false;
      if (this.held.length) this.deliverOrDrop('deliver', new Map());
    } else throw new TranscriptError('net hold | net auto [loss=P]');
    if (opts.has('loss')) this.need().setNetwork({ loss: Number(opts.get('loss')) });
  }

  private stabilize(opts: Map<string, string>): void {
    const sim = this.need();
    if (this.holding) {
      for (let round = 0; this.held.length > 0; round++) {
        if (round >= 100) throw new TranscriptError('stabilize: still messages after 100 rounds');
        this.deliverOrDrop('deliver', new Map());
      }
      return;
    }
    const limit = Number(opts.get('limit') ?? 20_000);
    const at = runUntilTrue(sim, () => agreedLeader(sim) !== null, limit);
    const l = agreedLeader(sim);
    if (at === null || l === null) this.line(`no agreed leader after ${limit} ms`);
    else this.line(`agreed leader ${l} term ${sim.member(l).term()} at ${at}`);
  }

  private deliverOrDrop(cmd: 'deliver' | 'drop', opts: Map<string, string>): void {
    const sim = this.need();
    const from = opts.get('from'), to = opts.get('to'), type = opts.get('type');
    const match = (h: Held) => (!from || h.from === memberId(from)) && (!to || h.to === memberId(to)) && (!type || h.env.body.type === type);
    const now = this.held.filter(match);
    this.held = this.held.filter((h) => !match(h));
    for (const h of now) {
      const inst = sim.instance(h.to);
      const line = `${String(sim.now()).padStart(6)} ${h.to} <- ${h.from}  ${formatBody(h.env)}`;
      if (cmd === 'drop') this.line(`${line}  DROPPED`);
      else if (!inst?.up) this.line(`${line}  LOST (${h.to} is not running)`);
      else if (!sim.network.connected(h.from, h.to)) this.line(`${line}  LOST (cut)`);
      else {
        this.line(line);
        sim.deliver(h.to, h.env);
      }
    }
    if (now.length === 0) this.line('nothing held matches');
  }

  private poll(args: string[], opts: Map<string, string>): void {
    const who = this.one(args.slice(0, 1));
    const kind = args[1] as PollKind;
    if (kind !== 'majority' && kind !== 'consensus') throw new TranscriptError('poll MEMBER majority|consensus [action] [in=MS] [timeout=MS]');
    const sim = this.need();
    const inst = sim.instance(who);
    const action = args.includes('action');
    const r = sim.requestPoll(who, {
      kind,
      subject: action ? 'action' : 'value',
      ...(action && inst ? { when: sim.instantOf(inst).wall + Number(opts.get('in') ?? 3000) } : {}),
      ...(opts.has('timeout') ? { timeoutMs: Number(opts.get('timeout')) } : {}),
    });
    // Printed after the member's own outputs (its PollRequest), as the caller sees the id returned.
    if (r instanceof Error) this.line(`error: ${r.name}: ${r.message}`);
    else if (typeof r === 'string') this.line(`ballot ${r}`);
    else this.line(`${who} is not running`);
  }

  private status(args: string[]): void {
    const sim = this.need();
    const ids = args.length ? this.names(args) : sim.ids();
    for (const id of ids) {
      const inst = sim.instance(id);
      if (!inst) throw new TranscriptError(`status: no member ${id}`);
      if (!inst.up) {
        this.line(`${id} ${inst.left ? 'left' : 'crashed'}`);
        continue;
      }
      const m = inst.member;
      const c = m.config();
      this.line(`${id} ${m.role()} term=${m.term()} leader=${m.leader() ?? '-'} members=[${m.members().join(',')}] cfg=${c.term}.${c.version}[${c.voters.join(',')}]`);
    }
  }

  // ------------------------------------------------------------ rendering

  private record(r: TraceRecord): void {
    const at = String(r.t).padStart(6);
    switch (r.kind) {
      case 'send': {
        const body = formatBody(r.env);
        if (HEARTBEATS.has(r.env.body.type)) {
          if (this.show.heartbeats === 'none') return;
          const key = `${r.member}>${r.env.to}:${r.env.body.type}`;
          const same = this.lastHeartbeat.get(key) === body;
          this.lastHeartbeat.set(key, body);
          if (same && this.show.heartbeats === 'changes') return;
        }
        const b = r.env.body;
        if (!this.show.repeats && 'ballotId' in b) {
          // Poll messages are repeated until they have done their job (§5 rule 6): the first says it.
          const key = `${r.member}>${r.env.to}:${b.type}:${b.ballotId}`;
          if (this.pollMessagesShown.has(key)) return;
          this.pollMessagesShown.add(key);
        }
        return this.line(`${at} ${r.member} -> ${r.env.to || '*'}  ${body}`);
      }
      case 'recv':
        if (this.show.recv && !this.holding) this.line(`${at} ${r.member} <- ${r.env.from}  ${formatBody(r.env)}`);
        return;
      case 'event':
        return this.line(`${at} ${r.member} !! ${formatEvent(r.event as AppEvent)}`);
      case 'persist':
        if (this.show.persist) this.line(`${at} ${r.member} :: ${persistText(r.state)}`);
        return;
      case 'role':
        return this.line(`${at} ${r.member} == ${r.role} term=${r.term} leader=${r.leader ?? '-'}`);
      case 'note':
        return; // the command line itself says what was done
    }
  }

  private reportViolations(): void {
    const v = this.sim?.checker.violations ?? [];
    for (; this.violationsShown < v.length; this.violationsShown++) {
      const x = v[this.violationsShown];
      if (x) this.line(`VIOLATION at ${x.t} [${x.rule}] ${x.text}`);
    }
  }

  private line(text: string): void {
    this.out.push(text.replace(/\s+$/, ''));
  }

  // ------------------------------------------------------------ helpers

  private need(): Simulator {
    if (!this.sim) throw new TranscriptError('no group yet: start with `group m1 m2 m3`');
    return this.sim;
  }

  private names(args: string[], count?: number): MemberId[] {
    if (count !== undefined && args.length !== count) throw new TranscriptError(`expected ${count} member name(s), got '${args.join(' ')}'`);
    if (args.length === 0) throw new TranscriptError('a member name is needed');
    return args.map(memberId);
  }

  private one(args: string[]): MemberId {
    return this.names(args, 1)[0] as MemberId;
  }

  private number(s: string | undefined, usage: string): number {
    const n = Number(s);
    if (s === undefined || !Number.isFinite(n)) throw new TranscriptError(`usage: ${usage}`);
    return n;
  }

  private substitute(word: string): string {
    if (!word.includes('$leader')) return word;
    const leaders = this.need().up().filter((i) => i.member.role() === 'leader');
    if (leaders.length !== 1) throw new TranscriptError(`$leader: ${leaders.length} leaders now`);
    return word.replaceAll('$leader', (leaders[0] as { id: string }).id);
  }
}

// ------------------------------------------------------------ files

export interface Block {
  /** 1-based line of the command. */
  line: number;
  /** Comment and blank lines before the command, as written. */
  preamble: string[];
  command: string;
  /** The output written in the file (null: none yet, a new command). */
  expected: string[] | null;
}

export function parseTranscript(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.replace(/\n$/, '').split('\n');
  const blocks: Block[] = [];
  let preamble: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.trim() === '' || l.startsWith('#')) {
      preamble.push(l);
      continue;
    }
    // Blank lines only separate blocks: a rewrite puts exactly one between them.
    while (preamble[0]?.trim() === '') preamble.shift();
    const block: Block = { line: i + 1, preamble, command: l, expected: null };
    preamble = [];
    if (lines[i + 1] === '----') {
      block.expected = [];
      for (i += 2; i < lines.length && (lines[i] as string).trim() !== ''; i++) block.expected.push(lines[i] as string);
      // The blank line that ends the output belongs to the block.
    }
    blocks.push(block);
  }
  while (preamble[0]?.trim() === '') preamble.shift();
  return { blocks, trailer: preamble };
}

export function renderTranscript(blocks: ReadonlyArray<Block & { actual: string[] }>, trailer: readonly string[]): string {
  const out: string[] = [];
  for (const b of blocks) out.push(...b.preamble, b.command, '----', ...b.actual, '');
  out.push(...trailer);
  while (out.length && out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}

/** Run a transcript; each block gets the output the commands produce now. A command error is its output. */
export function runTranscript(text: string, factory?: MemberFactory): { blocks: Array<Block & { actual: string[] }>; trailer: string[]; rendered: string } {
  const { blocks, trailer } = parseTranscript(text);
  const runner = new TranscriptRunner(factory);
  const done = blocks.map((b) => {
    let actual: string[];
    try {
      actual = runner.exec(b.command);
    } catch (err) {
      if (!(err instanceof TranscriptError)) throw err;
      actual = err.message.split('\n').map((l) => `transcript error: ${l}`);
    }
    return { ...b, actual };
  });
  return { blocks: done, trailer, rendered: renderTranscript(done, trailer) };
}
