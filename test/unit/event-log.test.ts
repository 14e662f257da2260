import t from 'tap';
import { encode } from '@msgpack/msgpack';
import { EventLog, preview } from '../../agent/runtime/event-log.js';

const msg = (payload: Uint8Array) => ({ at: 1, group: 'G.a', member: 'n1/agent', type: 'message', from: 'n2/agent', payload });

t.test('payloads are rendered when read: MessagePack as JSON, anything else as its size', async (t) => {
  const log = new EventLog(10);
  log.add(msg(encode({ a: 1 })));
  log.add(msg(encode('hello')));
  log.add(msg(new Uint8Array([0xc1, 1, 2])));
  log.add(msg(new Uint8Array([0x92, 0x01]))); // a truncated array: not MessagePack
  const got = log.since(0).map((e) => e.payload);
  t.same(got, ['{"a":1}', 'hello', '<3 bytes>', '<2 bytes>']);
  t.same(log.since(0).map((e) => e.payload), got, 'the same when read again');
  t.same(log.since(2).map((e) => e.seq), [3, 4]);
});

t.test('the ring keeps the last `capacity` events, in order', async (t) => {
  const log = new EventLog(3);
  for (let i = 0; i < 7; i++) log.add({ at: i, group: 'G.a', member: 'm', type: 'x' });
  t.same(log.since(0).map((e) => e.seq), [5, 6, 7]);
  t.same(log.since(6).map((e) => e.seq), [7]);
  t.same(log.since(7), []);
});

t.test('past the byte budget the oldest payloads are let go and show their size only', async (t) => {
  const log = new EventLog(100, 250);
  for (let i = 0; i < 5; i++) log.add(msg(encode('x'.repeat(98)))); // 100 bytes each
  const got = log.since(0).map((e) => e.payload);
  t.same(got.slice(0, 3), ['<100 bytes>', '<100 bytes>', '<100 bytes>']);
  t.equal(got[3], 'x'.repeat(98));
  t.equal(got[4], 'x'.repeat(98));
});

t.test('long previews are cut at 200 characters', async (t) => {
  t.equal(preview(encode('y'.repeat(300))), `${'y'.repeat(200)}…`);
  t.equal(preview(new Uint8Array(0)), '<0 bytes>');
});
