/**
 * Persistence of each member's hard state ({term, votedFor}) and incarnation, so a
 * restarted member can neither vote twice in a term nor be mistaken for a ghost.
 *
 * Layout: `<stateDir>/<node>/<group>+<component>.json`, one record per member, plus
 * `<stateDir>/<node>/members.json`, the manifest of the records that exist. Every
 * write goes to a temporary file that is fsync'd, renamed over the old one, and the
 * directory is fsync'd too: after a power cut a record is either the old one or the
 * new one, never empty. Each record carries a checksum, so truncation and bit-rot
 * are detected; a damaged or vanished record is an error ({@link StateFileError}),
 * never a silent reset, because a reset is how a member votes twice in one term.
 */
import * as nodeFs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CohortError } from '../core/errors.js';
import type { HardState } from '../core/events.js';
import { isComponentName, isGroupName, isMemberId, isNodeName, nodeNameProblem } from '../core/names.js';

export interface StoredMember {
  incarnation: number;
  hardState: HardState;
  /**
   * The member starts without a vote record it should have had (its record was damaged
   * or lost and reset with `--reset-state`, or state is kept in memory): the core must
   * not grant real votes until that is safe (docs/protocol.md §4.4). A brand-new member
   * (nothing recorded for it) is not amnesiac.
   */
  amnesiac: boolean;
}

export interface HardStateStore {
  /** Load the previous record and claim the next incarnation (persisted at once). Throws {@link StateFileError}. */
  claim(group: string, component: string): StoredMember;
  /** Durably record `state`; throws when it could not (then nothing that depends on it may be sent). */
  save(group: string, component: string, state: HardState): void;
}

/** A state file that is damaged, missing or unwritable. The message names the file, the problem and the way out. */
export class StateFileError extends CohortError {
  override name = 'StateFileError';
  constructor(
    readonly file: string,
    readonly problem: string,
    advice = 'move it aside to start this member with no vote record (it then abstains from elections for a while), or start the agent with --reset-state, which does that for you',
  ) {
    super(`state file ${file}: ${problem}; ${advice}`);
  }
}

/** Incarnations must grow across restarts even without a clock (boards without an RTC) or without a disk. */
function nextIncarnation(previous: number): number {
  return Math.max(previous + 1, Date.now());
}

/**
 * In memory: nothing survives the process. Every claim is amnesiac, the first one too,
 * because this process cannot know whether a previous one voted in the current term.
 */
export class MemoryHardStateStore implements HardStateStore {
  private readonly records = new Map<string, { incarnation: number; hardState: HardState }>();
  claim(group: string, component: string): StoredMember {
    const key = `${group}\0${component}`;
    const prev = this.records.get(key);
    const rec = { incarnation: nextIncarnation(prev?.incarnation ?? 0), hardState: prev?.hardState ?? { term: 0, votedFor: null } };
    this.records.set(key, rec);
    return { ...rec, amnesiac: true };
  }
  save(group: string, component: string, state: HardState): void {
    const key = `${group}\0${component}`;
    const rec = this.records.get(key);
    this.records.set(key, { incarnation: rec?.incarnation ?? 0, hardState: { ...state } });
  }
}

/** The fs calls the file store makes; injectable so tests can make a write fail. */
export type StoreFs = Pick<typeof nodeFs, 'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'readFileSync' | 'mkdirSync' | 'unlinkSync'>;

export interface FileHardStateStoreOptions {
  /** The state directory; records live in `<dir>/<node>/`. */
  dir: string;
  /** This agent's node id: part of every record, so two agents sharing a dir never share a record. */
  node: string;
  /** Move damaged or lost records aside (`<file>.damaged-<time>`) and start those members amnesiac, instead of failing. */
  resetState?: boolean;
  /** Told about every record moved aside or found missing under resetState (the agent logs a warning). */
  warn?: (message: string, file: string) => void;
  fs?: StoreFs;
}

export const RECORD_FORMAT = 1;
const MANIFEST = 'members.json';
const MAX_COUNTER = 2 ** 48;

/** JSON with keys sorted at every level: the text the checksum covers. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const checksum = (body: Record<string, unknown>) => `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;

/** Add a checksum over the rest. */
export function seal(body: Record<string, unknown>): string {
  return `${JSON.stringify({ ...body, checksum: checksum(body) })}\n`;
}

const isCounter = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_COUNTER;

interface ManifestEntry {
  group: string;
  component: string;
}

export class FileHardStateStore implements HardStateStore {
  /** `<dir>/<node>`: this agent's records. */
  readonly dir: string;
  private readonly node: string;
  private readonly resetState: boolean;
  private readonly warn: (message: string, file: string) => void;
  private readonly fs: StoreFs;
  private readonly incarnations = new Map<string, number>();
  private manifest: ManifestEntry[] | null = null;
  /** The manifest itself was damaged and reset: a missing record may have been lost. */
  private manifestReset = false;
  private tmpSeq = 0;

  constructor(opts: FileHardStateStoreOptions) {
    if (!isNodeName(opts.node)) throw new CohortError(`node name ${nodeNameProblem(opts.node)}`);
    this.node = opts.node;
    this.dir = join(opts.dir, opts.node);
    this.resetState = opts.resetState ?? false;
    this.warn = opts.warn ?? (() => {});
    this.fs = opts.fs ?? nodeFs;
    try {
      this.fs.mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new StateFileError(this.dir, `cannot create the state directory (${(err as Error).message})`, 'check the --state-dir path and its permissions');
    }
  }

  /** The record file of one member. Group names are `Type.instance`, component names `[A-Za-z0-9_-]`: `+` separates them unambiguously. */
  file(group: string, component: string): string {
    if (!isGroupName(group) || !isComponentName(component)) throw new CohortError(`bad group or component name: ${JSON.stringify(group)}, ${JSON.stringify(component)}`);
    return join(this.dir, `${group}+${component}.json`);
  }

  claim(group: string, component: string): StoredMember {
    const path = this.file(group, component);
    const manifest = this.loadManifest();
    const listed = manifest.some((e) => e.group === group && e.component === component);
    let prev: { incarnation: number; hardState: HardState } | null = null;
    let amnesiac = false;
    let text: string | null = null;
    try {
      text = this.fs.readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.damaged(path, `cannot be read (${(err as Error).message})`);
        amnesiac = true;
      } else if (listed) {
        this.damaged(path, `state for ${this.node}/${component} in group ${group} was recorded but its file is gone`, false);
        amnesiac = true;
      } else {
        // Not listed: a first start, unless the manifest that would have listed it was damaged and reset.
        amnesiac = this.manifestReset;
      }
    }
    if (text !== null) {
      const problem = this.check(text, group, component);
      if (typeof problem === 'string') {
        this.damaged(path, problem);
        amnesiac = true;
      } else prev = problem;
    }
    const rec: StoredMember = {
      incarnation: nextIncarnation(prev?.incarnation ?? 0),
      hardState: prev?.hardState ?? { term: 0, votedFor: null },
      amnesiac,
    };
    this.write(path, this.record(group, component, rec.incarnation, rec.hardState));
    this.incarnations.set(`${group}\0${component}`, rec.incarnation);
    // Listed only once its file exists: a crash in between leaves an unlisted record, not a false alarm.
    if (!listed) {
      manifest.push({ group, component });
      this.writeManifest(manifest);
    }
    return rec;
  }

  save(group: string, component: string, state: HardState): void {
    const incarnation = this.incarnations.get(`${group}\0${component}`);
    if (incarnation === undefined) throw new CohortError(`save before claim for ${group} ${component}`);
    this.write(this.file(group, component), this.record(group, component, incarnation, state));
  }

  private record(group: string, component: string, incarnation: number, hardState: HardState): string {
    const hs: Record<string, unknown> = { term: hardState.term, votedFor: hardState.votedFor };
    // An amnesiac member's quarantine and vote floor are part of its vote record (docs/protocol.md §4.4).
    if (hardState.quarantined) hs.quarantined = true;
    if (hardState.voteFloor !== undefined) hs.voteFloor = hardState.voteFloor;
    return seal({ format: RECORD_FORMAT, node: this.node, group, component, incarnation, hardState: hs });
  }

  /** The parsed record, or what is wrong with it. */
  private check(text: string, group: string, component: string): { incarnation: number; hardState: HardState } | string {
    if (text.trim() === '') return 'is empty (a write was cut short, e.g. by a power cut)';
    const body = this.parseSealed(text);
    if (typeof body === 'string') return body;
    if (body.node !== this.node) return `belongs to node ${JSON.stringify(body.node)}, not ${JSON.stringify(this.node)}`;
    if (body.group !== group || body.component !== component) return `holds ${JSON.stringify(body.group)}/${JSON.stringify(body.component)}, not group ${group} component ${component}`;
    if (!isCounter(body.incarnation)) return `has an absurd incarnation ${JSON.stringify(body.incarnation)}`;
    const hs = body.hardState as Record<string, unknown> | null | undefined;
    if (typeof hs !== 'object' || hs === null) return 'has no hardState';
    if (!isCounter(hs.term)) return `has an absurd term ${JSON.stringify(hs.term)}`;
    if (hs.votedFor !== null && !isMemberId(hs.votedFor)) return `has an absurd votedFor ${JSON.stringify(hs.votedFor)} (not a member id <node>/<component>)`;
    if (hs.quarantined !== undefined && hs.quarantined !== true) return `has an absurd quarantined flag ${JSON.stringify(hs.quarantined)}`;
    if (hs.voteFloor !== undefined && !isCounter(hs.voteFloor)) return `has an absurd voteFloor ${JSON.stringify(hs.voteFloor)}`;
    const hardState: HardState = { term: hs.term, votedFor: hs.votedFor as string | null };
    if (hs.quarantined === true) hardState.quarantined = true;
    if (hs.voteFloor !== undefined) hardState.voteFloor = hs.voteFloor as number;
    return { incarnation: body.incarnation, hardState };
  }

  /** JSON with a matching checksum and the known format, or what is wrong. */
  private parseSealed(text: string): Record<string, unknown> | string {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return `is not valid JSON (truncated or overwritten; ${text.length} bytes)`;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'is not a JSON object';
    const { checksum: sum, ...body } = doc as Record<string, unknown>;
    if (typeof sum !== 'string') return 'has no checksum (not written by this version of Cohort)';
    if (sum !== checksum(body)) return 'fails its checksum (the contents were changed or damaged)';
    if (body.format !== RECORD_FORMAT) return `has format ${JSON.stringify(body.format)}, this agent reads format ${RECORD_FORMAT}`;
    return body;
  }

  /** A damaged record: an error, or under resetState moved aside with a warning. */
  private damaged(path: string, problem: string, exists = true): void {
    if (!this.resetState) {
      throw exists
        ? new StateFileError(path, problem)
        : new StateFileError(path, problem, 'start the agent with --reset-state to start this member with no vote record (it then abstains from elections for a while)');
    }
    if (exists) {
      const aside = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      try {
        this.fs.renameSync(path, aside);
        this.syncDir();
      } catch (err) {
        throw new StateFileError(path, `${problem}, and it cannot be moved aside (${(err as Error).message})`, 'move it aside by hand');
      }
      this.warn(`state file ${path} ${problem}: moved aside to ${aside}; the member starts amnesiac`, path);
    } else {
      this.warn(`state file ${path}: ${problem}; the member starts amnesiac`, path);
    }
  }

  private loadManifest(): ManifestEntry[] {
    if (this.manifest) return this.manifest;
    const path = join(this.dir, MANIFEST);
    let text: string | null = null;
    try {
      text = this.fs.readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.damaged(path, `cannot be read (${(err as Error).message})`);
    }
    this.manifest = [];
    if (text === null) return this.manifest;
    const body = text.trim() === '' ? 'is empty (a write was cut short, e.g. by a power cut)' : this.parseSealed(text);
    const entries = typeof body === 'string' ? body : body.node !== this.node ? `belongs to node ${JSON.stringify(body.node)}, not ${JSON.stringify(this.node)}` : body.members;
    const valid = Array.isArray(entries) && entries.every((e: unknown) => {
      const m = e as Partial<ManifestEntry> | null;
      return typeof m === 'object' && m !== null && isGroupName(m.group) && isComponentName(m.component);
    });
    if (!valid) {
      this.damaged(path, typeof entries === 'string' ? entries : 'has a malformed member list');
      this.manifestReset = true;
      return this.manifest;
    }
    this.manifest = (entries as ManifestEntry[]).map((e) => ({ group: e.group, component: e.component }));
    return this.manifest;
  }

  private writeManifest(members: ManifestEntry[]): void {
    this.write(join(this.dir, MANIFEST), seal({ format: RECORD_FORMAT, node: this.node, members }));
  }

  /** Temp file, fsync, rename over, fsync the directory. Throws StateFileError. */
  private write(path: string, data: string): void {
    const fs = this.fs;
    // A unique temp name: two processes that (wrongly) share a node id never write into one temp file.
    const tmp = `${path}.tmp-${process.pid}-${++this.tmpSeq}`;
    try {
      const fd = fs.openSync(tmp, 'w', 0o644);
      try {
        const buf = Buffer.from(data, 'utf8');
        for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, path);
      this.syncDir();
    } catch (err) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // never created, or already renamed
      }
      if (err instanceof StateFileError) throw err;
      throw new StateFileError(path, `cannot be written (${(err as Error).message})`, 'check the disk and the --state-dir permissions');
    }
  }

  private syncDir(): void {
    const fd = this.fs.openSync(this.dir, 'r');
    try {
      this.fs.fsyncSync(fd);
    } finally {
      this.fs.closeSync(fd);
    }
  }
}
