/**
 * The process-wide ZAP handler comes and goes with its domains (agents starting and
 * stopping in one process: tests, the demo, bench:curve). libzmq releases the inproc
 * name asynchronously, so registering right after the last domain went away used to
 * fail with EADDRINUSE.
 */
import t from 'tap';
import { zapHandler } from '../../agent/security/zap.js';

t.test('a domain registered right after the last one went away binds the handler again', async (t) => {
  for (let i = 0; i < 5; i++) {
    const domain = `zap-test-${i}`;
    await zapHandler.register(domain, () => ({ admit: false, reason: 'test' }));
    zapHandler.unregister(domain);
  }
  t.pass('five register/unregister cycles in a row');
});
