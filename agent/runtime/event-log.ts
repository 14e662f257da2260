/**
 * A bounded record of recent group events, for `GET /events` (the demo's narrator
 * and the bench-cluster scenarios read it) — never for the protocol itself.
 */
export interface LoggedEvent {
  seq: number;
  /** Wall-clock epoch ms when it happened on this agent. */
  at: number;
  group: string;
  /** The member of this agent that saw it (the member an event is about is `subject`). */
  member: string;
  type: string;
  [field: string]: unknown;
}

export class EventLog {
  private readonly entries: LoggedEvent[] = [];
  private seq = 0;

  constructor(private readonly capacity = 2000) {}

  add(entry: Omit<LoggedEvent, 'seq'>): void {
    this.entries.push({ ...entry, seq: ++this.seq } as LoggedEvent);
    if (this.entries.length > this.capacity) this.entries.shift();
  }

  /** Events with seq > `after`, oldest first. */
  since(after = 0): LoggedEvent[] {
    return this.entries.filter((e) => e.seq > after);
  }
}
