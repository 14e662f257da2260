/**
 * Hosts application components in the agent, the way a RIAPS actor hosts its
 * components: the config names a module exporting a class; the agent makes one
 * instance, joins the listed groups for it, and routes each group event to the
 * matching handler method. A handler that throws (or rejects) is logged and
 * counted; it never takes the agent down.
 */
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { Coordinator } from '../api/coordinator.js';
import type { GroupEventMap, GroupEventName } from '../api/events.js';
import type { Group } from '../api/group.js';
import type { ComponentConfig } from '../config.js';
import type { Agent, JoinOptions } from '../runtime/agent.js';

export interface ComponentContext {
  name: string;
  coordinator: Coordinator;
  /** The groups listed in the config, by `Type.instance`, already joined. */
  groups: Record<string, Group>;
  settings: Record<string, unknown>;
  log: Logger;
}

type Handler = (group: Group, ...args: unknown[]) => unknown;

/** Group event → component handler method (RIAPS handleX → onX). */
export const HANDLERS: Record<GroupEventName, string> = {
  message: 'onMessage',
  messageToLeader: 'onMessageToLeader',
  messageFromLeader: 'onMessageFromLeader',
  voteRequest: 'onVoteRequest',
  actionVoteRequest: 'onActionVoteRequest',
  voteResult: 'onVoteResult',
  action: 'onAction',
  actionStep: 'onActionStep',
  memberJoined: 'onMemberJoined',
  memberLeft: 'onMemberLeft',
  leaderElected: 'onLeaderElected',
  leaderExited: 'onLeaderExited',
};

export interface ComponentInstance {
  onActivate?(): unknown;
  onDeactivate?(): unknown;
  [handler: string]: unknown;
}

/** A Coordinator that wires every group it joins to the component's handlers. */
class HostedCoordinator extends Coordinator {
  constructor(
    agent: Agent,
    component: string,
    private readonly wire: (g: Group) => void,
  ) {
    super(agent, component);
  }
  override joinGroup(type: string, instance: string, opts: JoinOptions = {}): Group {
    const known = this.getGroup(type, instance);
    const group = super.joinGroup(type, instance, opts);
    if (!known) this.wire(group);
    return group;
  }
}

export class ComponentHost {
  private instance: ComponentInstance | null = null;
  private readonly log: Logger;

  constructor(
    private readonly agent: Agent,
    readonly config: ComponentConfig,
  ) {
    this.log = agent.log.child({ component: config.name });
  }

  async activate(): Promise<void> {
    const mod = (await import(pathToFileURL(this.config.module).href)) as Record<string, unknown>;
    const Cls = mod[this.config.export];
    if (typeof Cls !== 'function') throw new Error(`component ${this.config.name}: ${this.config.module} has no exported class "${this.config.export}"`);
    const coordinator = new HostedCoordinator(this.agent, this.config.name, (g) => this.wire(g));
    const groups: Record<string, Group> = {};
    for (const g of this.config.groups) {
      const [type, instance] = g.name.split('.') as [string, string];
      groups[g.name] = coordinator.joinGroup(type, instance, { minSize: g.minSize, timers: g.timers, timed: g.timed, deliverToSelf: g.deliverToSelf, adapt: g.adapt ? {} : false, clock: g.clock, timersReason: g.timersReason });
    }
    const ctx: ComponentContext = { name: this.config.name, coordinator, groups, settings: this.config.settings, log: this.log };
    this.instance = new (Cls as new (ctx: ComponentContext) => ComponentInstance)(ctx);
    await this.call('onActivate', () => this.instance?.onActivate?.());
  }

  async deactivate(): Promise<void> {
    await this.call('onDeactivate', () => this.instance?.onDeactivate?.());
  }

  private wire(group: Group): void {
    for (const [event, method] of Object.entries(HANDLERS) as Array<[GroupEventName, string]>) {
      group.on(event, (...args: GroupEventMap[typeof event]) => {
        const fn = this.instance?.[method];
        if (typeof fn === 'function') void this.call(method, () => (fn as Handler).call(this.instance, group, ...args));
      });
    }
  }

  private async call(what: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.agent.drops.handlerErrors++;
      this.log.error({ err, handler: what }, 'component handler threw');
    }
  }
}
