/**
 * What happened in a run, for a human reading a failure: a ring of the last
 * events (or every event, when replaying one seed with --verbose). Records keep
 * references and are formatted only when printed, so tracing is cheap when
 * nothing fails.
 */
import type { AppEvent, HardState } from '../../agent/core/events.js';
import type { Body, Envelope } from '../../agent/core/messages.js';

export type TraceRecord =
  | { t: number; kind: 'send'; member: string; env: Envelope }
  | { t: number; kind: 'recv'; member: string; env: Envelope }
  | { t: number; kind: 'event'; member: string; event: AppEvent }
  | { t: number; kind: 'persist'; member: string; state: HardState }
  | { t: number; kind: 'role'; member: string; role: string; term: number; leader: string | null }
  | { t: number; kind: 'note'; member: string; text: string };

export class Trace {
  private readonly ring: (TraceRecord | undefined)[];
  private next = 0;
  private count = 0;

  /** `echo` prints each record as it happens (replay with --verbose). */
  constructor(
    readonly capacity = 200,
    private readonly echo: ((line: string) => void) | null = null,
  ) {
    this.ring = new Array<TraceRecord | undefined>(capacity);
  }

  add(rec: TraceRecord): void {
    this.ring[this.next] = rec;
    this.next = (this.next + 1) % this.capacity;
    this.count++;
    if (this.echo) this.echo(formatRecord(rec));
  }

  note(t: number, member: string, text: string): void {
    this.add({ t, kind: 'note', member, text });
  }

  /** The kept records, oldest first. */
  records(): TraceRecord[] {
    const out: TraceRecord[] = [];
    const n = Math.min(this.count, this.capacity);
    for (let i = 0; i < n; i++) {
      const rec = this.ring[(this.next - n + i + this.capacity) % this.capacity];
      if (rec) out.push(rec);
    }
    return out;
  }

  dump(): string {
    const skipped = Math.max(0, this.count - this.capacity);
    const head = skipped > 0 ? [`... ${skipped} earlier records not kept (replay with --verbose for all)`] : [];
    return [...head, ...this.records().map(formatRecord)].join('\n');
  }
}

const time = (t: number) => `${(t / 1000).toFixed(3).padStart(9)}s`;

export function formatRecord(r: TraceRecord): string {
  const who = r.member.padEnd(4);
  switch (r.kind) {
    case 'send':
      return `${time(r.t)} ${who} -> ${r.env.to || '*'}  ${formatBody(r.env)}`;
    case 'recv':
      return `${time(r.t)} ${who} <- ${r.env.from}  ${formatBody(r.env)}`;
    case 'event':
      return `${time(r.t)} ${who} !! ${formatEvent(r.event)}`;
    case 'persist':
      return `${time(r.t)} ${who} :: persist term=${r.state.term} votedFor=${r.state.votedFor ?? '-'}`;
    case 'role':
      return `${time(r.t)} ${who} == ${r.role} term=${r.term} leader=${r.leader ?? '-'}`;
    case 'note':
      return `${time(r.t)} ${who} ## ${r.text}`;
  }
}

function formatBody(env: Envelope): string {
  const b: Body = env.body;
  const head = `${b.type} t${env.term} i${env.incarnation}`;
  switch (b.type) {
    case 'memberHeartbeat':
      return `${head} leader=${b.leader || '-'}`;
    case 'voteRequest':
      return `${head} ${b.preVote ? 'pre' : 'real'} for t${b.electionTerm} cfg=${b.configTerm}.${b.configVersion}${b.transfer ? ' transfer' : ''}${b.proposedVoters.length ? ` proposed=[${b.proposedVoters.join(',')}]` : ''}`;
    case 'voteReply':
      return `${head} ${b.preVote ? 'pre' : 'real'} t${b.electionTerm} ${b.granted ? 'GRANTED' : 'refused'}`;
    case 'leaderHeartbeat':
      return `${head} cfg=${b.config.term}.${b.config.version}[${b.config.voters.join(',')}] committed=${b.committedVersion}`;
    case 'heartbeatAck':
      return `${head} cfg=${b.configTerm}.${b.configVersion} ${b.accepted ? 'ok' : 'REJECT'}`;
    case 'data':
      return `${head} ${b.channel} ${b.payload.length}B`;
    case 'pollRequest':
      return `${head} ${b.ballotId} ${b.kind}/${b.subject} timeout=${b.timeoutMs}${b.subject === 'action' ? ` when=${b.when}` : ''}`;
    case 'ballot':
      return `${head} ${b.ballotId} ${b.kind}/${b.subject} voters=[${b.voters.join(',')}] remaining=${b.remainingMs}`;
    case 'memberVote':
      return `${head} ${b.ballotId} ${b.yes ? 'yes' : 'no'}`;
    case 'pollResult':
      return `${head} ${b.ballotId} ${b.outcome} tally=${b.tally.yes}y/${b.tally.no}n/${b.tally.voters}${b.reason ? ` reason="${b.reason}"` : ''}`;
    default:
      return head;
  }
}

export function formatEvent(e: AppEvent): string {
  switch (e.type) {
    case 'memberJoined':
      return `memberJoined ${e.member}`;
    case 'memberLeft':
      return `memberLeft ${e.member} (${e.reason})`;
    case 'leaderElected':
    case 'leaderExited':
      return `${e.type} ${e.leader} t${e.term}`;
    case 'message':
    case 'messageToLeader':
    case 'messageFromLeader':
      return `${e.type} from ${e.from}`;
    case 'voteRequest':
      return `voteRequest ${e.ballotId} ${e.kind}/${e.subject} by ${e.requester}${e.canVote ? '' : ' (non-voter)'}`;
    case 'voteResult':
      return `voteResult ${e.ballotId} ${e.outcome} tally=${e.tally.yes}y/${e.tally.no}n/${e.tally.voters}${e.reason ? ` reason="${e.reason}"` : ''}`;
    case 'actionScheduled':
      return `actionScheduled ${e.ballotId} when=${e.when}`;
    case 'configMismatch':
      return `configMismatch ${e.member}: ${e.differences.join(', ')}`;
    case 'left':
      return 'left';
  }
}
