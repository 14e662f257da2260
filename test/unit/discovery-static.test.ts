import t from 'tap';
import type { Discovery, PeerAdvert } from '../../discovery/discovery.js';
import { parsePeerEndpoint, PeerEntryError } from '../../discovery/peer-endpoint.js';
import { PeerTable } from '../../discovery/peer-table.js';
import { parsePeerList, StaticDiscovery } from '../../discovery/static.js';

const noLocal = { localAddresses: [] };

function record(d: Discovery): Array<['up' | 'down', PeerAdvert]> {
  const events: Array<['up' | 'down', PeerAdvert]> = [];
  d.on('up', (p) => events.push(['up', p]));
  d.on('down', (p) => events.push(['down', p]));
  return events;
}

t.test('parsePeerList splits on commas and whitespace', async (t) => {
  t.same(parsePeerList('a:1,b:2  c:3\n\td:4 , ,e:5,'), ['a:1', 'b:2', 'c:3', 'd:4', 'e:5']);
  t.same(parsePeerList(''), []);
  t.same(parsePeerList('  , \n'), []);
  t.same(parsePeerList('tcp://10.0.0.1:5001'), ['tcp://10.0.0.1:5001']);
});

t.test('parsePeerEndpoint accepts host:port and tcp:// forms and normalises them', async (t) => {
  t.same(parsePeerEndpoint('127.0.0.1:5001'), { host: '127.0.0.1', port: 5001, endpoint: 'tcp://127.0.0.1:5001' });
  t.same(parsePeerEndpoint('tcp://Board-3.local:05002').endpoint, 'tcp://board-3.local:5002');
  t.same(parsePeerEndpoint(' TCP://host:1 ').endpoint, 'tcp://host:1');
  t.same(parsePeerEndpoint('host:65535').port, 65535);
  t.same(parsePeerEndpoint('[::1]:5001'), { host: '::1', port: 5001, endpoint: 'tcp://[::1]:5001' });
  t.same(parsePeerEndpoint('tcp://[fe80::1%eth0]:7').endpoint, 'tcp://[fe80::1%eth0]:7');
});

t.test('invalid entries fail with an error naming the entry', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['host', /missing :port/],
    ['host:', /port "" is not a number/],
    [':5001', /missing host/],
    ['host:0', /port 0 is out of range/],
    ['host:65536', /port 65536 is out of range/],
    ['host:99999999', /not a number/],
    ['host:abc', /port "abc" is not a number/],
    ['host:-1', /not a number/],
    ['udp://host:5001', /scheme udp/],
    ['http://host:5001', /scheme http/],
    ['tcp://host:5001/path', /not a number/],
    ['::1:5001', /IPv6 address must be in brackets/],
    ['[::1]', /\[address\]:port/],
    ['[zz]:5001', /not an IPv6 address/],
    ['ho st:5001', /not a host name/],
    ['*:5001', /not a host name/],
    ['user@host:5001', /not a host name/],
  ];
  for (const [entry, reason] of bad) {
    const err = t.throws(() => parsePeerEndpoint(entry), PeerEntryError, entry) as unknown as PeerEntryError;
    t.match(err.message, reason, `${entry}: reason`);
    t.ok(err.message.includes(JSON.stringify(entry)), `${entry}: message names the entry`);
    t.equal(err.entry, entry);
  }
  // The constructor validates every entry and names the bad one.
  t.throws(() => new StaticDiscovery(['a:1', 'b:70000', 'c:3'], noLocal), { name: 'PeerEntryError', message: /"b:70000"/ });
});

t.test("start emits 'up' for every listed peer, node = endpoint", async (t) => {
  const d = new StaticDiscovery(parsePeerList('127.0.0.1:5001, tcp://10.1.2.3:5002 board7:5003'), noLocal);
  const events = record(d);
  await d.start({ node: 'me', bus: 'tcp://127.0.0.1:6000' });
  t.same(events, [
    ['up', { node: 'tcp://127.0.0.1:5001', bus: 'tcp://127.0.0.1:5001' }],
    ['up', { node: 'tcp://10.1.2.3:5002', bus: 'tcp://10.1.2.3:5002' }],
    ['up', { node: 'tcp://board7:5003', bus: 'tcp://board7:5003' }],
  ]);
  await t.rejects(d.start({ node: 'me', bus: 'tcp://127.0.0.1:6000' }), /already started/);
  await d.stop();
  t.equal(events.length, 3, "stop emits no 'down'");
  // A restart reports everyone again.
  await d.start({ node: 'me', bus: 'tcp://127.0.0.1:6000' });
  t.equal(events.length, 6);
  await d.stop();
});

t.test('duplicate entries (after normalisation) are reported once', async (t) => {
  const d = new StaticDiscovery(['host:5001', 'tcp://HOST:5001', 'host:05001'], noLocal);
  const events = record(d);
  await d.start({ node: 'me', bus: 'tcp://127.0.0.1:6000' });
  t.equal(events.length, 1);
  t.equal(d.peers.length, 1);
});

t.test("the agent's own bus endpoint is excluded", async (t) => {
  const list = ['127.0.0.1:5001', '127.0.0.1:5002', 'localhost:5003', '10.0.0.7:5001', '10.0.0.8:5001'];
  const ups = async (bus: string, localAddresses: string[] = []): Promise<string[]> => {
    const d = new StaticDiscovery(list, { localAddresses });
    const seen: string[] = [];
    d.on('up', (p) => seen.push(p.bus));
    await d.start({ node: 'me', bus });
    await d.stop();
    return seen;
  };
  t.same(await ups('tcp://127.0.0.1:5002'), ['tcp://127.0.0.1:5001', 'tcp://localhost:5003', 'tcp://10.0.0.7:5001', 'tcp://10.0.0.8:5001'], 'exact match');
  t.same(await ups('tcp://127.0.0.1:5003'), ['tcp://127.0.0.1:5001', 'tcp://127.0.0.1:5002', 'tcp://10.0.0.7:5001', 'tcp://10.0.0.8:5001'], 'localhost = 127.0.0.1');
  t.same(await ups('tcp://10.0.0.7:5001'), ['tcp://127.0.0.1:5001', 'tcp://127.0.0.1:5002', 'tcp://localhost:5003', 'tcp://10.0.0.8:5001'], 'own address on a fleet-wide list');
  t.same(await ups('tcp://0.0.0.0:5001', ['10.0.0.8']), ['tcp://127.0.0.1:5002', 'tcp://localhost:5003', 'tcp://10.0.0.7:5001'], 'wildcard bind: loopback and local addresses on our port are us');
  t.same(await ups('tcp://*:5001', ['10.0.0.8']), ['tcp://127.0.0.1:5002', 'tcp://localhost:5003', 'tcp://10.0.0.7:5001'], 'zeromq-style wildcard');
  t.same((await ups('tcp://127.0.0.2:5001')).length, 5, 'another loopback address is another agent');
  const d = new StaticDiscovery(list, noLocal);
  await t.rejects(d.start({ node: 'me', bus: 'not an endpoint' }), PeerEntryError);
});

t.test('the default local addresses include loopback', async (t) => {
  const d = new StaticDiscovery(['127.0.0.1:5001', '127.0.0.1:5002']);
  const seen: string[] = [];
  d.on('up', (p) => seen.push(p.bus));
  await d.start({ node: 'me', bus: 'tcp://0.0.0.0:5001' });
  t.same(seen, ['tcp://127.0.0.1:5002']);
});

t.test("PeerTable: a restart with new endpoints is 'down' old then 'up' new", async (t) => {
  const table = new PeerTable();
  const a1: PeerAdvert = { node: 'a', bus: 'tcp://h:1', direct: 'tcp://h:2', protocol: 1 };
  const a2: PeerAdvert = { node: 'a', bus: 'tcp://h:3', direct: 'tcp://h:4', protocol: 1 };
  t.same(table.observe(a1), [{ event: 'up', peer: a1 }]);
  t.same(table.observe({ ...a1 }), [], 'the same advert again is no news');
  t.same(table.observe(a2), [{ event: 'down', peer: a1 }, { event: 'up', peer: a2 }]);
  t.same(table.observe({ ...a2, publicKey: 'k' }).map((c) => c.event), ['down', 'up'], 'a new key is a new agent too');
  t.same(table.list().length, 1);
  t.same(table.withdraw('a').map((c) => c.event), ['down']);
  t.same(table.withdraw('a'), []);
  t.same(table.list(), []);
});
