/**
 * The process-wide ZAP handler comes and goes with its domains (agents starting and
 * stopping in one process: tests, the demo, bench:curve). libzmq releases the inproc
 * name asynchronously once server sockets have talked to the handler, so registering
 * right after the last domain went away failed with EADDRINUSE (bench:curve's second
 * secure round did).
 */
import t from 'tap';
import * as zmq from 'zeromq';
import { zapHandler } from '../../agent/security/zap.js';

t.test('a domain registered right after the last one went away binds the handler again', async (t) => {
  const server = zmq.curveKeyPair();
  const client = zmq.curveKeyPair();
  for (let i = 0; i < 4; i++) {
    const domain = `zap-test-${i}`;
    let asked = 0;
    await zapHandler.register(domain, (key) => {
      asked++;
      return key === client.publicKey ? { admit: true, user: 'c' } : { admit: false, reason: 'unknown' };
    });
    const pub = new zmq.Publisher({ linger: 0, curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey, zapDomain: domain });
    await pub.bind('tcp://127.0.0.1:0');
    const sub = new zmq.Subscriber({ linger: 0, curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey });
    sub.connect(pub.lastEndpoint!);
    sub.subscribe('');
    for (let k = 0; k < 100 && asked === 0; k++) await new Promise((r) => setTimeout(r, 10));
    t.ok(asked > 0, `round ${i + 1}: the handler was asked about the handshake`);
    sub.close();
    pub.close();
    zapHandler.unregister(domain);
  }
});
