/**
 * The outbox: everything a member says or records goes through here, queued as
 * {@link Output}s for the runtime to drain in order. Envelopes are stamped with
 * the member's identity and current term; a member that has left says nothing more
 * on the wire (its events and hard state still go out, so the runtime can close up).
 */
import type { AppEvent, HardState, Output } from './events.js';
import { PROTOCOL_VERSION, type Body, type Envelope, type MemberId } from './messages.js';

export class Outbox {
  private outputs: Output[] = [];
  private silent = false;

  constructor(
    private readonly group: string,
    private readonly from: MemberId,
    private readonly incarnation: number,
    /** The sender's current term, read when each envelope is made. */
    private readonly term: () => number,
  ) {}

  /** The member has left: from now on it sends nothing (events and persists still flow). */
  silence(): void {
    this.silent = true;
  }

  get silenced(): boolean {
    return this.silent;
  }

  /** To every member of the group (the group bus). */
  broadcast(body: Body): void {
    this.send('', body);
  }

  /** To one member. */
  sendTo(to: MemberId, body: Body): void {
    this.send(to, body);
  }

  emit(event: AppEvent): void {
    this.outputs.push({ type: 'event', event });
  }

  persist(state: HardState): void {
    this.outputs.push({ type: 'persist', state });
  }

  take(): Output[] {
    const out = this.outputs;
    this.outputs = [];
    return out;
  }

  private send(to: MemberId, body: Body): void {
    if (this.silent) return; // a member that has left says nothing more
    const envelope: Envelope = { version: PROTOCOL_VERSION, group: this.group, from: this.from, incarnation: this.incarnation, term: this.term(), to, body };
    this.outputs.push({ type: 'send', envelope });
  }
}
