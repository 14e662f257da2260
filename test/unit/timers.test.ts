import t from 'tap';
import { DEFAULT_TIMERS, TIMER_PRESETS, TimerSettingsError, validateTimers } from '../../agent/core/timers.js';
import { quorumSize } from '../../agent/core/quorum.js';
import { decide } from '../../agent/core/polls.js';

t.test('defaults are the RIAPS GROUP_PARAMETERS', async (t) => {
  t.same(DEFAULT_TIMERS, { heartbeat: 1000, electionMin: 1500, electionMax: 2000, peerTimeout: 3000, consensusTimeout: 1500 });
  t.same(validateTimers({}), DEFAULT_TIMERS);
  for (const [name, preset] of Object.entries(TIMER_PRESETS)) t.same(validateTimers(preset), preset, `preset ${name} is valid`);
});

t.test('each broken ordering rule is named', async (t) => {
  const cases: Array<[Record<string, number>, RegExp]> = [
    [{ heartbeat: 1500 }, /heartbeat \(1500\) must be < electionMin \(1500\)/],
    [{ electionMin: 2000 }, /electionMin \(2000\) must be < electionMax \(2000\)/],
    [{ peerTimeout: 2000 }, /electionMax \(2000\) must be < peerTimeout \(2000\)/],
  ];
  for (const [bad, re] of cases) t.throws(() => validateTimers(bad), { name: 'TimerSettingsError', message: re });
  // RIAPS's consensusTimeout < electionMax rule is deliberately dropped.
  t.equal(validateTimers({ consensusTimeout: 5000 }).consensusTimeout, 5000);
});

t.test('bad values and unknown names are rejected', async (t) => {
  for (const v of [0, -1, 1.5, NaN, '100', null]) {
    t.throws(() => validateTimers({ heartbeat: v as never }), TimerSettingsError, `heartbeat=${String(v)}`);
  }
  t.throws(() => validateTimers({ hearbeat: 100 }), /unknown timer "hearbeat"/);
});

t.test('quorum is a majority, never below minSize', async (t) => {
  t.equal(quorumSize(1, 1), 1);
  t.equal(quorumSize(2, 1), 2);
  t.equal(quorumSize(2, 2), 2);
  t.equal(quorumSize(3, 2), 2);
  t.equal(quorumSize(5, 2), 3);
  t.equal(quorumSize(5, 4), 4);
  t.equal(quorumSize(3, 4), 4, 'impossible: fewer voters than minSize');
});

t.test('polls decide as soon as the outcome is certain', async (t) => {
  t.equal(decide('majority', 5, 3, 0), 'yes');
  t.equal(decide('majority', 5, 2, 2), null);
  t.equal(decide('majority', 5, 2, 3), 'no');
  t.equal(decide('majority', 4, 2, 2), 'no', 'a tie is not a majority');
  t.equal(decide('majority', 4, 2, 1), null);
  t.equal(decide('consensus', 3, 2, 0), null);
  t.equal(decide('consensus', 3, 0, 1), 'no');
  t.equal(decide('consensus', 3, 3, 0), 'yes');
});
