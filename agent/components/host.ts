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

/**
 * A component that could not be brought up, and at which stage: `missing` (no such module
 * file), `load` (the module threw or does not parse), `export` (no class under the configured
 * export name), `construct` (its constructor threw). The CLI turns these into one line and
 * an exit code (see README "Exit codes").
 */
export class ComponentError extends Error {
  override name = 'ComponentError';
  constructor(
    message: string,
    readonly stage: 'missing' | 'load' | 'export' | 'construct',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Load a component module and find its class; throws ComponentError. */
export async function loadComponentClass(config: Pick<ComponentConfig, 'name' | 'module' | 'export'>): Promise<new (ctx: ComponentContext) => ComponentInstance> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(config.module).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(config.module)) {
      throw new ComponentError(`component ${config.name}: module ${config.module} does not exist`, 'missing', { cause: err });
    }
    throw new ComponentError(`component ${config.name}: module ${config.module} failed to load: ${e.name}: ${e.message.split('\n')[0]}`, 'load', { cause: err });
  }
  const Cls = mod[config.export];
  if (typeof Cls !== 'function') {
    const classes = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    throw new ComponentError(
      `component ${config.name}: ${config.module} has no exported class "${config.export}" (it exports ${classes.length ? classes.map((k) => `"${k}"`).join(', ') : 'no classes'}); set the component's export field to the class's export name`,
      'export',
    );
  }
  return Cls as new (ctx: ComponentContext) => ComponentInstance;
}

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
  actionSkipped: 'onActionSkipped',
  memberJoined: 'onMemberJoined',
  memberLeft: 'onMemberLeft',
  leaderElected: 'onLeaderElected',
  leaderExited: 'onLeaderExited',
};

/** The handler methods a component may have, typed by event: `onMessage(group, msg)`, … */
export type ComponentHandlers = {
  [K in GroupEventName as `on${Capitalize<K>}`]?: (group: Group, ...args: GroupEventMap[K]) => unknown;
};

/**
 * What a hosted component class implements (every method optional):
 * `export default class Sensor implements Component { constructor(ctx: ComponentContext) {…} }`.
 */
export interface Component extends ComponentHandlers {
  onActivate?(): unknown;
  onDeactivate?(): unknown;
}

/** A component's class, as the module exports it. */
export type ComponentClass = new (ctx: ComponentContext) => Component;

/** A component instance as the host sees it: the handlers, looked up by name. */
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
    const Cls = await loadComponentClass(this.config);
    const coordinator = new HostedCoordinator(this.agent, this.config.name, (g) => this.wire(g));
    const groups: Record<string, Group> = {};
    for (const g of this.config.groups) {
      const [type, instance] = g.name.split('.') as [string, string];
      groups[g.name] = coordinator.joinGroup(type, instance, { minSize: g.minSize, timers: g.timers, timed: g.timed, deliverToSelf: g.deliverToSelf, adapt: g.adapt === false ? false : {}, clock: g.clock, timersReason: g.timersReason, ...(g.autoTimers && { autoTimers: g.autoTimers }) });
    }
    const ctx: ComponentContext = { name: this.config.name, coordinator, groups, settings: this.config.settings, log: this.log };
    try {
      this.instance = new Cls(ctx);
    } catch (err) {
      throw new ComponentError(`component ${this.config.name}: its constructor threw: ${(err as Error).message}`, 'construct', { cause: err });
    }
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
