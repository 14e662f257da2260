/** The `floodLimits` config field: defaults, partial overrides, and clear errors. */
import t from 'tap';
import { ConfigError, validateConfig } from '../../agent/config.js';
import { FLOOD_DEFAULTS } from '../../agent/security/flood-guard.js';

const base = { node: 'x', stateDir: 'none' };

t.test('floodLimits: defaults, partial override, errors naming the field', async (t) => {
  t.same(validateConfig(base).floodLimits, FLOOD_DEFAULTS, 'absent: the defaults');
  t.same(validateConfig({ ...base, floodLimits: { dataPerSecond: 5000, dataBurst: 10000 } }).floodLimits, { ...FLOOD_DEFAULTS, dataPerSecond: 5000, dataBurst: 10000 }, 'a chatty application raises the data limit');
  t.throws(() => validateConfig({ ...base, floodLimits: 500 }), { name: 'ConfigError', message: /floodLimits must be a mapping of dataPerSecond, dataBurst, controlPerSecond, controlBurst/ });
  t.throws(() => validateConfig({ ...base, floodLimits: { dataRate: 5 } }), ConfigError);
  t.throws(() => validateConfig({ ...base, floodLimits: { dataPerSecond: 0 } }), { message: /floodLimits\.dataPerSecond/ });
  t.throws(() => validateConfig({ ...base, floodLimits: { dataPerSecond: 2000 } }), { message: /floodLimits\.dataBurst \(1000\) must be at least dataPerSecond \(2000\)/ });
  t.throws(() => validateConfig({ ...base, floodLimits: { controlBurst: 10 } }), { message: /controlBurst \(10\) must be at least controlPerSecond \(1000\)/ });
});
