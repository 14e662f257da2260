/**
 * Persistence of each member's hard state ({term, votedFor}) and incarnation, so a
 * restarted member can neither vote twice in a term nor be mistaken for a ghost.
 * One small JSON file per (group, component), replaced atomically (write + rename).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HardState } from '../core/events.js';

export interface StoredMember {
  incarnation: number;
  hardState: HardState;
}

export interface HardStateStore {
  /** Load the previous record and claim the next incarnation (persisted at once). */
  claim(group: string, component: string): StoredMember;
  save(group: string, component: string, state: HardState): void;
}

/** Incarnations must grow across restarts even without a clock (boards without an RTC) or without a disk. */
function nextIncarnation(previous: number): number {
  return Math.max(previous + 1, Date.now());
}

export class MemoryHardStateStore implements HardStateStore {
  private readonly records = new Map<string, StoredMember>();
  claim(group: string, component: string): StoredMember {
    const key = `${group}\0${component}`;
    const prev = this.records.get(key);
    const rec = { incarnation: nextIncarnation(prev?.incarnation ?? 0), hardState: prev?.hardState ?? { term: 0, votedFor: null } };
    this.records.set(key, rec);
    return rec;
  }
  save(group: string, component: string, state: HardState): void {
    const key = `${group}\0${component}`;
    const rec = this.records.get(key);
    this.records.set(key, { incarnation: rec?.incarnation ?? 0, hardState: { ...state } });
  }
}

export class FileHardStateStore implements HardStateStore {
  private readonly incarnations = new Map<string, number>();
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private file(group: string, component: string): string {
    // Group names are [A-Za-z0-9_.-]; component names are validated the same way by the config.
    return join(this.dir, `${group}--${component.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  claim(group: string, component: string): StoredMember {
    let prev: Partial<StoredMember> = {};
    try {
      prev = JSON.parse(readFileSync(this.file(group, component), 'utf8')) as Partial<StoredMember>;
    } catch {
      // No record (first start) or unreadable: start afresh; the incarnation still grows via the clock.
    }
    const term = Number.isInteger(prev.hardState?.term) ? (prev.hardState!.term as number) : 0;
    const votedFor = typeof prev.hardState?.votedFor === 'string' ? prev.hardState.votedFor : null;
    const rec: StoredMember = { incarnation: nextIncarnation(Number.isInteger(prev.incarnation) ? (prev.incarnation as number) : 0), hardState: { term, votedFor } };
    this.incarnations.set(`${group}\0${component}`, rec.incarnation);
    this.write(group, component, rec);
    return rec;
  }

  save(group: string, component: string, state: HardState): void {
    this.write(group, component, { incarnation: this.incarnations.get(`${group}\0${component}`) ?? 0, hardState: state });
  }

  private write(group: string, component: string, rec: StoredMember): void {
    const path = this.file(group, component);
    writeFileSync(`${path}.tmp`, JSON.stringify(rec));
    renameSync(`${path}.tmp`, path);
  }
}
