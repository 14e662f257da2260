/** The public API: `import { Agent, Coordinator } from 'cohort'`. */
export { Agent, type AgentOptions, type AgentStatus, type GroupStatus, type JoinOptions } from '../runtime/agent.js';
export { Coordinator } from './coordinator.js';
export { Group, type VoteOptions } from './group.js';
export type * from './events.js';
export { BadArgumentsError, CohortError, LeftGroupError, NoLeaderError, NotLeaderError } from '../core/errors.js';
export { TimerSettingsError, TIMER_PRESETS, DEFAULT_TIMERS, type TimerSettings } from '../core/timers.js';
export { FileHardStateStore, MemoryHardStateStore, type HardStateStore } from '../runtime/hard-state-store.js';
export { StaticDiscovery } from '../../discovery/static.js';
export { MdnsDiscovery } from '../../discovery/mdns.js';
export type { Discovery, PeerAdvert } from '../../discovery/discovery.js';
export { encodeObject, decodeObject } from './objects.js';
