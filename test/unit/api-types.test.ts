/**
 * The public API exports what a TypeScript author needs: a component typed with
 * `Component`/`ComponentContext` (test/fixtures/typed-sensor.ts, typechecked with the
 * project) is hosted by an agent and receives typed events; the runtime exports exist.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import * as api from '../../agent/api/index.js';
import { ComponentHost } from '../../agent/components/host.js';
import { instances } from '../fixtures/typed-sensor.js';

t.test('the package exports its classes and errors', async (t) => {
  for (const name of ['Agent', 'Coordinator', 'Group', 'StaticDiscovery', 'MdnsDiscovery', 'FileHardStateStore', 'MemoryHardStateStore', 'NoLeaderError', 'NotLeaderError', 'LeftGroupError', 'BadArgumentsError', 'CohortError', 'StateFileError', 'TimerSettingsError', 'encodeObject', 'decodeObject', 'defaultProbeMs']) {
    t.equal(typeof (api as Record<string, unknown>)[name], 'function', `${name} is exported`);
  }
  t.ok(api.TIMER_PRESETS.riaps && api.DEFAULT_TIMERS, 'timer presets');
});

t.test('a typed component is hosted and gets its events; whenLeader resolves', async (t) => {
  const agent = new api.Agent({ node: 'typed', probeMs: 0 });
  await agent.start();
  t.teardown(() => agent.stop());
  const module = fileURLToPath(new URL('../fixtures/typed-sensor.ts', import.meta.url));
  const host = new ComponentHost(agent, { name: 'sensor', module, export: 'default', groups: [{ name: 'Solo.one', minSize: 1, timers: api.TIMER_PRESETS.lan, timed: false, deliverToSelf: true }], settings: { period: 250 } });
  await host.activate();
  const sensor = instances.at(-1)!;
  t.ok(sensor, 'the host made an instance of the typed class');
  t.same(sensor.seen.slice(0, 1), ['activate Solo.one 250'], 'context: groups and settings');
  const group = agent.getGroup('sensor', 'Solo', 'one')!;
  const leader = await group.whenLeader(10_000);
  t.equal(leader, 'typed/sensor', 'whenLeader: the lone member of a minSize-1 group leads');
  group.sendObject({ reading: 21.5 });
  await new Promise((r) => setTimeout(r, 100));
  t.ok(sensor.seen.includes('message {"reading":21.5}'), 'typed onMessage');
  t.ok(sensor.seen.includes('joined Solo.one typed/sensor'), 'typed onMemberJoined');
  await host.deactivate();
  await group.leave();
  await t.rejects(group.whenLeader(100), api.LeftGroupError, 'whenLeader after leaving rejects');
});

t.test('whenLeader times out with NoLeaderError', async (t) => {
  const agent = new api.Agent({ node: 'lonely', probeMs: 0 });
  await agent.start();
  t.teardown(() => agent.stop());
  const group = agent.coordinator('c').joinGroup('Wait', 'here', { minSize: 2, timers: api.TIMER_PRESETS.lan });
  await t.rejects(group.whenLeader(300), api.NoLeaderError);
});
