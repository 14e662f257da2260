/**
 * Drives one pure {@link GroupMember} with real time: every input goes through
 * {@link MemberDriver.step}, which drains the outputs in order (persist before
 * the sends that depend on it) and re-arms the single timer at the core's next
 * deadline. This is the only place where the core meets the event loop.
 */
import type { AppEvent, HardState, Instant } from '../core/events.js';
import type { GroupMember } from '../core/member.js';
import type { Envelope } from '../core/messages.js';
import type { Clock } from './clock.js';

export interface MemberSinks {
  send(env: Envelope, from: MemberDriver): void;
  persist(state: HardState, from: MemberDriver): void;
  event(event: AppEvent, from: MemberDriver): void;
}

export class MemberDriver {
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;
  /** Persists that failed (the sink threw), since the start. */
  persistFailures = 0;
  /** Consecutive failed persists, 0 after a success: a sink logs when this is 0 (a new burst), not on every failure. */
  persistFailureBurst = 0;
  /** Sends dropped because a persist before them failed. */
  unsent = 0;

  constructor(
    readonly core: GroupMember,
    readonly component: string,
    private readonly clock: Clock,
    private readonly sinks: MemberSinks,
  ) {}

  start(): void {
    this.step((core, now) => core.start(now));
  }

  /** Run one input against the core, then carry out what it asks for. Returns the input's result. */
  step<T>(input: (core: GroupMember, now: Instant) => T): T {
    if (this.closed) return input(this.core, this.clock.now());
    try {
      return input(this.core, this.clock.now());
    } finally {
      this.drain();
    }
  }

  private drain(): void {
    const outputs = this.core.takeOutputs();
    // Persist and send first, in order; application handlers run after, so a handler that
    // calls back into the group can never get ahead of a vote the core already promised.
    // Persist, then speak: once a persist fails, nothing later in this batch is sent (those
    // messages may carry the vote that is not on disk). The core already counts the vote as
    // cast, so staying silent is safe; the next persist carries the whole state and retries it.
    let unpersisted = false;
    for (const out of outputs) {
      if (unpersisted) {
        if (out.type === 'send') this.unsent++;
        continue;
      }
      if (out.type === 'send') this.sinks.send(out.envelope, this);
      else if (out.type === 'persist') {
        try {
          this.sinks.persist(out.state, this);
          this.persistFailureBurst = 0;
        } catch {
          // The sink logs (rate-limited, see persistFailureBurst); here it is counted and the batch stops.
          this.persistFailures++;
          this.persistFailureBurst++;
          unpersisted = true;
        }
      }
    }
    this.arm();
    for (const out of outputs) if (out.type === 'event') this.sinks.event(out.event, this);
  }

  private arm(): void {
    if (this.closed) return;
    const at = this.core.nextDeadline();
    if (at === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === Infinity) return;
    const delay = Math.max(0, Math.ceil(at - this.clock.now().mono));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.step((core, now) => core.tick(now));
    }, delay);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
