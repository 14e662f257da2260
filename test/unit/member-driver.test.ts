/**
 * The driver's side of "persist, then speak": outputs are carried out in order,
 * and once a persist fails nothing later in that batch is sent. A fake core hands
 * out scripted batches; the sinks record what reached them.
 */
import t from 'tap';
import type { GroupMember } from '../../agent/core/member.js';
import type { Output } from '../../agent/core/events.js';
import { PROTOCOL_VERSION, type Envelope } from '../../agent/core/messages.js';
import { MemberDriver } from '../../agent/runtime/member-driver.js';

const envelope = (to: string): Envelope => ({
  version: PROTOCOL_VERSION,
  group: 'G.a',
  from: 'n1/agent',
  incarnation: 1,
  term: 5,
  to,
  body: { type: 'leave' } as unknown as Envelope['body'],
});
const send = (to: string): Output => ({ type: 'send', envelope: envelope(to) });
const persist = (term: number): Output => ({ type: 'persist', state: { term, votedFor: 'n2/agent' } });
const event = (member: string): Output => ({ type: 'event', event: { type: 'memberJoined', member } });

function rig() {
  let batch: Output[] = [];
  const core = { takeOutputs: () => batch.splice(0), nextDeadline: () => Infinity } as unknown as GroupMember;
  const sent: string[] = [];
  const persisted: number[] = [];
  const events: string[] = [];
  let failPersist = false;
  const driver = new MemberDriver(core, 'agent', { now: () => ({ mono: 0, wall: 0 }) }, {
    send: (env) => sent.push(env.to),
    persist: (state) => {
      if (failPersist) throw new Error('EIO');
      persisted.push(state.term);
    },
    event: (e) => events.push(e.type === 'memberJoined' ? e.member : e.type),
  });
  const run = (outputs: Output[]) => {
    batch = outputs;
    driver.step(() => undefined);
  };
  return { driver, run, sent, persisted, events, setFail: (v: boolean) => (failPersist = v) };
}

t.test('a failing persist drops the sends after it, not the ones before, not the events', async (t) => {
  const r = rig();
  r.setFail(true);
  r.run([send('before'), event('e1'), persist(5), send('vote'), send('after'), persist(6), event('e2')]);
  t.same(r.sent, ['before'], 'the send before the failed persist went; the ones after did not');
  t.same(r.events, ['e1', 'e2'], 'events are still delivered');
  t.same(r.persisted, [], 'no later persist in the same batch');
  t.equal(r.driver.persistFailures, 1);
  t.equal(r.driver.persistFailureBurst, 1);
  t.equal(r.driver.unsent, 2);

  r.run([persist(5), send('again')]);
  t.same(r.sent, ['before'], 'still failing: still silent');
  t.equal(r.driver.persistFailures, 2);
  t.equal(r.driver.persistFailureBurst, 2, 'a burst of failures');

  r.setFail(false);
  r.run([persist(6), send('later')]);
  t.same(r.persisted, [6], 'a later drain persists again (the full state, vote included)');
  t.same(r.sent, ['before', 'later'], 'and speaks again');
  t.equal(r.driver.persistFailureBurst, 0, 'the burst is over');
  t.equal(r.driver.persistFailures, 2, 'the total stays');
});

t.test('without failures everything goes, in order', async (t) => {
  const r = rig();
  r.run([persist(1), send('a'), event('e'), send('b'), persist(2), send('c')]);
  t.same(r.persisted, [1, 2]);
  t.same(r.sent, ['a', 'b', 'c']);
  t.same(r.events, ['e']);
  t.equal(r.driver.persistFailures, 0);
});
