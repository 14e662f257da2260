/**
 * The live allow-list: the peers' certificates in a directory (like czmq's zcertstore),
 * re-read when the directory changes (fs.watch) and every few seconds anyway (fs.watch
 * misses changes on some filesystems, and an editor's rename dance can hide one), so a
 * board is added or removed without restarting anything.
 *
 * Trust comes from here only: a key is admitted if and only if a `.key` file holds it,
 * and it speaks for the node its certificate names. The agent's own key is always admitted
 * under its own name (its own bus loops back to it).
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { scanAllowList, type AllowedKey, type OwnKeys } from './keys.js';

export interface AllowListChange {
  added: AllowedKey[];
  removed: AllowedKey[];
}

export interface AllowListLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const ALLOW_RESCAN_MS = 5_000;

export class AllowList extends EventEmitter<{ change: [AllowListChange] }> {
  private byKey = new Map<string, AllowedKey>();
  private byName = new Map<string, AllowedKey[]>();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private problemsSeen = new Set<string>();

  /** Loads the directory now; throws SecurityConfigError if it cannot be listed. Files
   *  that cannot be used are skipped and logged (and refused at start by the caller's choice). */
  constructor(
    readonly dir: string,
    private readonly own: OwnKeys,
    private readonly log: AllowListLogger,
  ) {
    super();
    this.apply(this.scan());
    this.loaded = true;
  }

  private loaded = false;

  /** Problems found by the first scan (the CLI refuses to start on them). */
  readonly initialProblems: { file: string; reason: string }[] = [];

  /** Starts watching the directory and the periodic rescan. */
  watch(rescanMs = ALLOW_RESCAN_MS): void {
    if (this.timer) return;
    try {
      this.watcher = watch(this.dir, () => this.soon());
      this.watcher.on('error', () => {});
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'cannot watch the allow-list directory; relying on the periodic rescan');
    }
    this.timer = setInterval(() => this.reload(), rescanMs);
    this.timer.unref();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = this.debounce = null;
  }

  /** The node a key speaks for, or undefined if it is not admitted. */
  nameOf(publicKey: string): string | undefined {
    if (publicKey === this.own.publicKey) return this.own.name;
    return this.byKey.get(publicKey)?.name;
  }

  /** The key to dial for `name` (with two, during a rotation, the newer file's). */
  keyFor(name: string): string | undefined {
    if (name === this.own.name) return this.own.publicKey;
    const keys = this.byName.get(name);
    return keys?.reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a)).publicKey;
  }

  /** Every key `name` may speak with. */
  keysOf(name: string): string[] {
    if (name === this.own.name) return [this.own.publicKey];
    return (this.byName.get(name) ?? []).map((k) => k.publicKey);
  }

  list(): AllowedKey[] {
    return [...this.byKey.values()];
  }

  /** Re-reads the directory and emits 'change' if the admitted set changed. */
  reload(): void {
    let scan: AllowedKey[];
    try {
      scan = this.scan();
    } catch (err) {
      // The directory vanished or became unreadable: admit nobody but ourselves, loudly.
      this.log.warn({ err: (err as Error).message, dir: this.dir }, 'allow-list directory unreadable: admitting no peers until it is back');
      scan = [];
    }
    this.apply(scan);
  }

  private soon(): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.reload();
    }, 100);
    this.debounce.unref();
  }

  private scan(): AllowedKey[] {
    const { keys, problems } = scanAllowList(this.dir);
    for (const k of keys) {
      if (k.name === this.own.name && k.publicKey !== this.own.publicKey) problems.push({ file: k.file, reason: `names this node (${k.name}) with another key: an old key of ours, or an impostor` });
    }
    const fresh = new Set<string>();
    for (const p of problems) {
      const id = `${p.file}\0${p.reason}`;
      fresh.add(id);
      if (!this.problemsSeen.has(id)) this.log.warn({ file: p.file, reason: p.reason }, 'allow-list: certificate skipped (not admitted)');
      if (!this.loaded && this.initialProblems.length < 100) this.initialProblems.push(p);
    }
    this.problemsSeen = fresh;
    // Our own key is ours whatever the directory says; a copy of it there is just redundant.
    return keys.filter((k) => k.publicKey !== this.own.publicKey && k.name !== this.own.name);
  }

  private apply(keys: AllowedKey[]): void {
    const next = new Map(keys.map((k) => [k.publicKey, k]));
    const added = keys.filter((k) => this.byKey.get(k.publicKey)?.name !== k.name);
    const removed = [...this.byKey.values()].filter((k) => next.get(k.publicKey)?.name !== k.name);
    this.byKey = next;
    this.byName = new Map();
    for (const k of keys) this.byName.set(k.name, [...(this.byName.get(k.name) ?? []), k]);
    if (added.length > 0 || removed.length > 0) {
      if (this.listenerCount('change') > 0) this.log.info({ added: added.map((k) => k.name), removed: removed.map((k) => k.name) }, 'allow-list changed');
      this.emit('change', { added, removed });
    }
  }
}
