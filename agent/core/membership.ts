/**
 * The member table: who is in the group, by heartbeat (or any message).
 * A member counts itself (as in RIAPS). Incarnations tell a restarted member
 * (same id, higher incarnation) from a stale ghost (lower incarnation), and
 * tombstones keep a member that said goodbye from being resurrected by its own
 * delayed messages.
 */
import type { MemberId } from './messages.js';

export interface MemberRecord {
  id: MemberId;
  incarnation: number;
  /** Monotonic ms of the last message heard from it. */
  lastHeard: number;
  /** Where its agent takes directed messages, as last advertised. */
  endpoint: string;
}

export type HeardResult = 'joined' | 'refreshed' | 'restarted' | 'stale';

/** How long a goodbye is remembered: far longer than any message can be in flight. */
const TOMBSTONE_MS = 60_000;

export class MemberTable {
  private readonly records = new Map<MemberId, MemberRecord>();
  private readonly tombstones = new Map<MemberId, { incarnation: number; until: number }>();

  constructor(private readonly self: MemberId) {}

  /** Record that `id` was heard at `now`. Returns what that means for membership. */
  heard(id: MemberId, incarnation: number, now: number): HeardResult {
    const tomb = this.tombstones.get(id);
    if (tomb) {
      if (incarnation <= tomb.incarnation && now < tomb.until) return 'stale';
      this.tombstones.delete(id);
    }
    const rec = this.records.get(id);
    if (!rec) {
      this.records.set(id, { id, incarnation, lastHeard: now, endpoint: '' });
      return 'joined';
    }
    if (incarnation < rec.incarnation) return 'stale';
    rec.lastHeard = Math.max(rec.lastHeard, now);
    if (incarnation > rec.incarnation) {
      rec.incarnation = incarnation;
      return 'restarted';
    }
    return 'refreshed';
  }

  setEndpoint(id: MemberId, endpoint: string): void {
    const rec = this.records.get(id);
    if (rec && endpoint) rec.endpoint = endpoint;
  }

  /** Remove a member that said goodbye; its older messages are ignored from now on. */
  depart(id: MemberId, incarnation: number, now: number): boolean {
    this.tombstones.set(id, { incarnation, until: now + TOMBSTONE_MS });
    return this.records.delete(id);
  }

  /**
   * Remove and return the members (never self) silent for longer than `peerTimeout`: one value,
   * or per member (each peer is judged by the timers it advertises).
   */
  expire(now: number, peerTimeout: PeerTimeout): MemberId[] {
    const gone: MemberId[] = [];
    for (const rec of this.records.values()) {
      if (rec.id !== this.self && now - rec.lastHeard > timeoutOf(peerTimeout, rec.id)) gone.push(rec.id);
    }
    for (const id of gone) this.records.delete(id);
    for (const [id, tomb] of this.tombstones) if (now >= tomb.until) this.tombstones.delete(id);
    return gone.sort();
  }

  /** Earliest monotonic time at which some member could expire (Infinity if none). */
  nextExpiry(peerTimeout: PeerTimeout): number {
    let next = Infinity;
    for (const rec of this.records.values()) {
      if (rec.id !== this.self) next = Math.min(next, rec.lastHeard + timeoutOf(peerTimeout, rec.id) + 1);
    }
    return next;
  }

  has(id: MemberId): boolean {
    return this.records.has(id);
  }

  get(id: MemberId): MemberRecord | undefined {
    return this.records.get(id);
  }

  /** Sorted ids of the current members (self included once joined). */
  ids(): MemberId[] {
    return [...this.records.keys()].sort();
  }

  /** Members heard within `window` ms of `now` (self always counts). */
  alive(now: number, window: PeerTimeout): MemberId[] {
    return this.ids().filter((id) => id === this.self || now - (this.records.get(id)?.lastHeard ?? -Infinity) <= timeoutOf(window, id));
  }

  get size(): number {
    return this.records.size;
  }
}

/** A silence bound: one for all, or per member. */
export type PeerTimeout = number | ((member: MemberId) => number);

function timeoutOf(t: PeerTimeout, member: MemberId): number {
  return typeof t === 'number' ? t : t(member);
}
