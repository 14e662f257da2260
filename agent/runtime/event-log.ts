/**
 * A bounded record of recent group events, for `GET /events` (the demo's narrator
 * and the bench-cluster scenarios read it) — never for the protocol itself.
 *
 * It sits on the message hot path (every delivered message is logged), so adding is
 * cheap: a ring of fixed capacity, no copy of the entry, and byte fields (payloads,
 * topics) kept as they are. They are rendered as text only when someone reads the log
 * (`since`), once per entry. The bytes kept are bounded (`byteBudget`): past it, the
 * oldest entries' bytes are let go and show as `<N bytes>`, so a fast stream of large
 * messages neither pins memory nor costs a preview per message.
 */
import { createRequire } from 'node:module';

/** MessagePack for previews, loaded when the log is first read with bytes in it, not at start. */
let msgpack: typeof import('@msgpack/msgpack') | null = null;
const decode = (bytes: Uint8Array): unknown => (msgpack ??= createRequire(import.meta.url)('@msgpack/msgpack') as typeof import('@msgpack/msgpack')).decode(bytes);

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

/** An entry as added: like LoggedEvent, but byte fields may still be raw. */
export type EventEntry = Omit<LoggedEvent, 'seq'>;

interface Slot {
  entry: LoggedEvent;
  /** Raw bytes still held by this entry (0 once rendered or let go). */
  bytes: number;
}

export const DEFAULT_EVENT_CAPACITY = 2000;
export const DEFAULT_EVENT_BYTE_BUDGET = 1024 * 1024;

export class EventLog {
  private readonly ring: Array<Slot | undefined>;
  /** Index of the oldest slot. */
  private head = 0;
  private size = 0;
  private seq = 0;
  private heldBytes = 0;
  /** Slots older than this (by seq) hold no raw bytes any more. */
  private releasedUpTo = 0;

  constructor(
    private readonly capacity = DEFAULT_EVENT_CAPACITY,
    private readonly byteBudget = DEFAULT_EVENT_BYTE_BUDGET,
  ) {
    this.ring = new Array<Slot | undefined>(capacity);
  }

  /** Adds `entry` as it is (the caller hands it over: it must not change it afterwards). */
  add(entry: EventEntry): void {
    const e = entry as LoggedEvent;
    e.seq = ++this.seq;
    let bytes = 0;
    for (const k in e) {
      const v = e[k];
      if (v instanceof Uint8Array) bytes += v.byteLength;
    }
    let slot: Slot;
    if (this.size === this.capacity) {
      // Overwrite the oldest, reusing its slot object.
      slot = this.ring[this.head]!;
      this.heldBytes -= slot.bytes;
      slot.entry = e;
      slot.bytes = bytes;
      this.head = (this.head + 1) % this.capacity;
    } else {
      slot = { entry: e, bytes };
      this.ring[(this.head + this.size) % this.capacity] = slot;
      this.size++;
    }
    this.heldBytes += bytes;
    if (this.heldBytes > this.byteBudget) this.release();
  }

  /** Events with seq > `after`, oldest first (byte fields rendered as text). */
  since(after = 0): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    const oldest = this.seq - this.size + 1;
    const from = Math.max(0, after + 1 - oldest);
    for (let i = from; i < this.size; i++) {
      const slot = this.ring[(this.head + i) % this.capacity]!;
      if (slot.bytes > 0) this.render(slot, preview);
      out.push(slot.entry);
    }
    return out;
  }

  /** Lets go of the oldest entries' bytes until the budget holds again. */
  private release(): void {
    const oldest = this.seq - this.size + 1;
    let i = Math.max(0, this.releasedUpTo - oldest);
    for (; i < this.size && this.heldBytes > this.byteBudget; i++) {
      const slot = this.ring[(this.head + i) % this.capacity]!;
      if (slot.bytes > 0) this.render(slot, sizeOnly);
    }
    this.releasedUpTo = oldest + i;
  }

  private render(slot: Slot, how: (b: Uint8Array) => string): void {
    const e = slot.entry;
    for (const k in e) {
      const v = e[k];
      if (v instanceof Uint8Array) e[k] = how(v);
    }
    this.heldBytes -= slot.bytes;
    slot.bytes = 0;
  }
}

const sizeOnly = (bytes: Uint8Array): string => `<${bytes.length} bytes>`;

/** Payload bytes as text: the MessagePack value (JSON, at most 200 characters) if they are one, else their size. */
export function preview(bytes: Uint8Array): string {
  // 0xc1 is the one byte MessagePack never uses; an empty payload is no value either.
  if (bytes.length === 0 || bytes[0] === 0xc1) return sizeOnly(bytes);
  try {
    const v = decode(bytes);
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    if (typeof s !== 'string') return sizeOnly(bytes);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return sizeOnly(bytes);
  }
}
