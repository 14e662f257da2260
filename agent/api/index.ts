/**
 * The public API: `import { Agent, Coordinator } from '<package>'`. Everything a TypeScript
 * application or hosted-component author needs to type their code is exported here.
 */
export { Agent, defaultProbeMs, type AgentOptions, type AgentStatus, type AgentDrops, type GroupStatus, type JoinOptions, type MemberInfo, type NodeIdClash } from '../runtime/agent.js';
export { Coordinator } from './coordinator.js';
export { Group, type VoteOptions } from './group.js';
export type * from './events.js';
export type { Component, ComponentClass, ComponentContext, ComponentHandlers, ComponentInstance } from '../components/host.js';
export type { LoggedEvent } from '../runtime/event-log.js';
export type { ActionFiring } from '../runtime/action-timer.js';
export type { Clock } from '../runtime/clock.js';
export type { MemberId, PollKind } from '../core/messages.js';
export { BadArgumentsError, CohortError, LeftGroupError, NoLeaderError, NotLeaderError } from '../core/errors.js';
export { TimerSettingsError, TIMER_PRESETS, DEFAULT_TIMERS, type TimerSettings } from '../core/timers.js';
export { FileHardStateStore, MemoryHardStateStore, StateFileError, type HardStateStore, type FileHardStateStoreOptions } from '../runtime/hard-state-store.js';
export { StaticDiscovery } from '../../discovery/static.js';
export { MdnsDiscovery } from '../../discovery/mdns.js';
export type { Discovery, PeerAdvert } from '../../discovery/discovery.js';
export { encodeObject, decodeObject } from './objects.js';
