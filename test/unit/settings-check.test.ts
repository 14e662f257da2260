/**
 * Heartbeats carry the sender's group settings; a member with a different minSize or protocol
 * timers is a configuration error, reported (counted, rate-limited per sender) and nothing else
 * (docs/protocol.md §6).
 */
import t from 'tap';
import { GroupMember } from '../../agent/core/member.js';
import type { AppEvent, Instant, Output } from '../../agent/core/events.js';
import { PROTOCOL_VERSION, type Envelope } from '../../agent/core/messages.js';
import { DEFAULT_TIMERS, type TimerSettings } from '../../agent/core/timers.js';
import { MISMATCH_REPORT_MS } from '../../agent/core/settings-check.js';

const G = 'G.1';
const at = (mono: number): Instant => ({ mono, wall: 1_700_000_000_000 + mono });

function member(): GroupMember {
  const m = new GroupMember({ group: G, id: 'a', incarnation: 1, minSize: 2, timers: DEFAULT_TIMERS, random: { next: () => 0.5 } });
  m.start(at(0));
  m.takeOutputs();
  return m;
}
const heartbeat = (from: string, minSize: number, timers: TimerSettings = DEFAULT_TIMERS): Envelope => ({
  version: PROTOCOL_VERSION,
  group: G,
  from,
  incarnation: 1,
  term: 0,
  to: '',
  body: { type: 'memberHeartbeat', timers, minSize, sentAt: 0, leader: '', endpoint: '' },
});
const mismatches = (out: Output[]) => out.flatMap((o) => (o.type === 'event' && o.event.type === 'configMismatch' ? [o.event as Extract<AppEvent, { type: 'configMismatch' }>] : []));

t.test('matching settings are silent; consensusTimeout is only a default and may differ', async (t) => {
  const a = member();
  a.receive(heartbeat('b', 2), at(10));
  a.receive(heartbeat('c', 2, { ...DEFAULT_TIMERS, consensusTimeout: 5000 }), at(20));
  t.same(mismatches(a.takeOutputs()), []);
  t.equal(a.counters.configMismatches, 0);
});

t.test('a different minSize is reported once per sender, counted on every heartbeat, and again after a minute', async (t) => {
  const a = member();
  a.receive(heartbeat('b', 3), at(10));
  t.same(mismatches(a.takeOutputs()), [{ type: 'configMismatch', member: 'b', differences: ['minSize 3 (ours 2)'] }]);
  for (let k = 1; k <= 5; k++) a.receive(heartbeat('b', 3), at(10 + k * 1000));
  t.same(mismatches(a.takeOutputs()), [], 'not repeated within the minute');
  t.equal(a.counters.configMismatches, 6, 'every mismatching heartbeat counted');
  // Keep b alive (heartbeats every second) until the minute has passed.
  const out: Output[] = [];
  for (let mono = 6010; mono <= 10 + MISMATCH_REPORT_MS; mono += 1000) {
    a.receive(heartbeat('b', 3), at(mono));
    out.push(...a.takeOutputs());
  }
  t.equal(mismatches(out).length, 1, 'reported again once the minute is over');
  t.equal(a.size(), 2, 'the member stays in the group: the mismatch changes nothing else');
});

t.test('incompatible timers name each difference; a change of what differs is reported at once', async (t) => {
  const a = member();
  a.receive(heartbeat('b', 2, { ...DEFAULT_TIMERS, peerTimeout: 1200, electionMax: 800, electionMin: 500, heartbeat: 200 }), at(10));
  const [first] = mismatches(a.takeOutputs());
  t.same(first?.differences, ['heartbeat 200 ms (ours 1000 ms)', 'electionMin 500 ms (ours 1500 ms)', 'electionMax 800 ms (ours 2000 ms)', 'peerTimeout 1200 ms (ours 3000 ms)']);
  a.receive(heartbeat('b', 4, { ...DEFAULT_TIMERS, peerTimeout: 1200, electionMax: 800, electionMin: 500, heartbeat: 200 }), at(20));
  t.equal(mismatches(a.takeOutputs()).length, 1, 'minSize now differs too: reported at once');
  a.receive(heartbeat('b', 2), at(30));
  a.receive(heartbeat('b', 4), at(40));
  t.equal(mismatches(a.takeOutputs()).length, 1, 'fixed, then broken again: reported again');
});

t.test('leader heartbeats are checked too, and the follower still follows', async (t) => {
  const a = member();
  a.receive({ version: PROTOCOL_VERSION, group: G, from: 'b', incarnation: 1, term: 1, to: '', body: { type: 'leaderHeartbeat', config: { term: 1, version: 1, voters: ['a', 'b'] }, committedVersion: 1, endpoint: '', timers: DEFAULT_TIMERS, minSize: 3, sentAt: 0 } }, at(10));
  t.equal(mismatches(a.takeOutputs()).length, 1);
  t.equal(a.leader(), 'b');
});

t.test('a group on auto accepts every preset auto may choose (scaled or not); a fixed group flags them', async (t) => {
  const lan = { heartbeat: 200, electionMin: 500, electionMax: 800, peerTimeout: 1200, consensusTimeout: 1000 };
  const riaps = DEFAULT_TIMERS;
  const slow = { heartbeat: 2500, electionMin: 3750, electionMax: 5000, peerTimeout: 7500, consensusTimeout: 3750 };
  const auto = new GroupMember({ group: G, id: 'a', incarnation: 1, minSize: 2, timers: lan, acceptedTimers: [riaps, slow], random: { next: () => 0.5 } });
  auto.start(at(0));
  auto.takeOutputs();
  auto.receive(heartbeat('b', 2, riaps), at(10));
  auto.receive(heartbeat('c', 2, { ...slow, heartbeat: 5000, electionMin: 7500, electionMax: 10000, peerTimeout: 15000 }), at(20));
  auto.receive(heartbeat('d', 2, lan), at(30));
  t.same(mismatches(auto.takeOutputs()), [], 'riaps, slow x2 and lan: no mismatch');
  auto.receive(heartbeat('e', 2, { ...lan, electionMin: 600 }), at(40));
  t.equal(mismatches(auto.takeOutputs()).length, 1, 'timers that are no auto preset are still flagged');
  const fixed = new GroupMember({ group: G, id: 'a', incarnation: 1, minSize: 2, timers: lan, random: { next: () => 0.5 } });
  fixed.start(at(0));
  fixed.takeOutputs();
  fixed.receive(heartbeat('b', 2, riaps), at(10));
  t.equal(mismatches(fixed.takeOutputs()).length, 1, 'a group fixed on lan flags a member running riaps');
});
