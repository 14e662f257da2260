/**
 * The RIAPS `Coordinator`: one per component; it creates the component's Group
 * objects. Joining the same (type, instance) twice returns the same Group.
 */
import type { Agent, JoinOptions } from '../runtime/agent.js';
import type { Group } from './group.js';

export class Coordinator {
  constructor(
    private readonly agent: Agent,
    readonly component: string,
  ) {}

  joinGroup(type: string, instance: string, opts: JoinOptions = {}): Group {
    return this.agent.join(this.component, type, instance, opts);
  }

  getGroup(type: string, instance: string): Group | undefined {
    return this.agent.getGroup(this.component, type, instance);
  }

  leaveGroup(group: Group): Promise<void> {
    return group.leave();
  }

  groupName(type: string, instance: string): string {
    return `${type}.${instance}`;
  }
}
