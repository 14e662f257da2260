import type { NetworkInterfaceInfo } from 'node:os';
import t from 'tap';
import {
  acceptsSource,
  advertFromAnswer,
  bonjourOptions,
  buildTxt,
  inSubnet,
  MdnsDiscovery,
  mdnsOptionsFor,
  MdnsOptionsError,
  parseTxt,
  pickAddress,
  resolveScope,
  type InterfaceTable,
  type MdnsAnswer,
} from '../../discovery/mdns.js';

const KEY = 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7'; // a Z85 CURVE public key (40 chars)

function v4(address: string, cidr: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal, cidr };
}
const IFACES: InterfaceTable = {
  lo: [v4('127.0.0.1', '127.0.0.1/8', true), { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 }],
  eth0: [v4('10.0.0.7', '10.0.0.7/24')],
  wlan0: [{ address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:02', internal: false, cidr: 'fe80::1/64', scopeid: 3 }],
};

t.test('buildTxt publishes node, version, ports and key as strings', async (t) => {
  t.same(buildTxt({ node: 'board-7', bus: 'tcp://10.0.0.7:7001', direct: 'tcp://10.0.0.7:7002', protocol: 1, publicKey: KEY }), {
    node: 'board-7',
    v: '1',
    bus: '7001',
    direct: '7002',
    pk: KEY,
  });
  t.same(buildTxt({ node: 'a', bus: 'tcp://127.0.0.1:5' }), { node: 'a', bus: '5' }, 'optional fields are left out');
  t.same(buildTxt({ node: 'a', bus: 'tcp://[::1]:6', protocol: 2 }), { node: 'a', v: '2', bus: '6' });
  t.throws(() => buildTxt({ node: 'a.b', bus: 'tcp://h:1' }), MdnsOptionsError, 'a dotted node id would be mangled by DNS-SD');
  t.throws(() => buildTxt({ node: 'a', bus: 'tcp://h:0' }), { name: 'MdnsOptionsError', message: /bus endpoint/ });
  t.throws(() => buildTxt({ node: 'a', bus: 'ipc:///tmp/x' }), { message: /bus endpoint/ });
  t.throws(() => buildTxt({ node: 'a', bus: 'tcp://h:1', publicKey: 'short' }), { message: /Z85/ });
  t.throws(() => buildTxt({ node: 'a', bus: 'tcp://h:1', protocol: 1.5 }), { message: /protocol/ });
});

t.test('parseTxt round-trips buildTxt and validates every known key', async (t) => {
  const txt = buildTxt({ node: 'n_1', bus: 'tcp://h:7001', direct: 'tcp://h:7002', protocol: 1, publicKey: KEY });
  t.same(parseTxt(txt), { ok: true, value: { node: 'n_1', busPort: 7001, directPort: 7002, protocol: 1, publicKey: KEY } });
  t.same(parseTxt({ node: 'x', bus: '65535', future: 'whatever' }), { ok: true, value: { node: 'x', busPort: 65535 } }, 'unknown keys are ignored');
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /no TXT/],
    [null, /no TXT/],
    ['node=x', /no TXT/],
    [[], /no TXT/],
    [{}, /node/],
    [{ bus: '1' }, /node/],
    [{ node: '', bus: '1' }, /node/],
    [{ node: 'a b', bus: '1' }, /node/],
    [{ node: 'x'.repeat(101), bus: '1' }, /node/],
    [{ node: 7, bus: '1' }, /node/],
    [{ node: 'x' }, /bus/],
    [{ node: 'x', bus: '0' }, /bus/],
    [{ node: 'x', bus: '65536' }, /bus/],
    [{ node: 'x', bus: '12ab' }, /bus/],
    [{ node: 'x', bus: ' 1' }, /bus/],
    [{ node: 'x', bus: 7001 }, /bus/],
    [{ node: 'x', bus: '1', v: 'one' }, /v/],
    [{ node: 'x', bus: '1', v: '-1' }, /v/],
    [{ node: 'x', bus: '1', v: '' }, /v/],
    [{ node: 'x', bus: '1', direct: '99999' }, /direct/],
    [{ node: 'x', bus: '1', pk: 'not a key' }, /pk/],
    [{ node: 'x', bus: '1', pk: `${KEY}x` }, /pk/],
  ];
  for (const [txt, reason] of bad) {
    const r = parseTxt(txt);
    t.equal(r.ok, false, JSON.stringify(txt));
    if (!r.ok) t.match(r.reason, reason, `${JSON.stringify(txt)}: reason`);
  }
});

t.test('pickAddress prefers where the answer came from over the advertised list', async (t) => {
  t.equal(pickAddress({ address: '127.0.0.1', family: 'IPv4' }, ['192.0.2.2']), '127.0.0.1', 'loopback source, NIC address advertised');
  t.equal(pickAddress({ address: '10.77.0.3' }, ['172.17.0.1', '10.77.0.3']), '10.77.0.3');
  t.equal(pickAddress({ address: '::ffff:10.0.0.9' }, []), '10.0.0.9', 'IPv4-mapped source');
  t.equal(pickAddress({ address: 'fe80::2%eth0' }, ['10.0.0.2']), 'fe80::2%eth0', 'a source that reached us beats a listed address');
  t.equal(pickAddress(undefined, ['fe80::1', '10.0.0.2', '10.0.0.3']), '10.0.0.2', 'no source: first IPv4');
  t.equal(pickAddress({ address: '' }, ['fe80::1']), 'fe80::1', 'no source, no IPv4: first listed');
  t.equal(pickAddress(undefined, []), null);
});

t.test('advertFromAnswer builds endpoints on the source address', async (t) => {
  const answer: MdnsAnswer = {
    name: 'board-7',
    port: 7001,
    txt: { node: 'board-7', v: '1', bus: '7001', direct: '7002', pk: KEY },
    referer: { address: '127.0.0.1', family: 'IPv4' },
    addresses: ['192.0.2.2'],
  };
  t.same(advertFromAnswer(answer), {
    ok: true,
    value: { node: 'board-7', bus: 'tcp://127.0.0.1:7001', direct: 'tcp://127.0.0.1:7002', protocol: 1, publicKey: KEY },
  });
  t.same(advertFromAnswer({ ...answer, txt: { node: 'board-7', bus: '7001' } }), { ok: true, value: { node: 'board-7', bus: 'tcp://127.0.0.1:7001' } });
  t.same(advertFromAnswer({ ...answer, referer: { address: 'fe80::2' } }), {
    ok: true,
    value: { node: 'board-7', bus: 'tcp://[fe80::2]:7001', direct: 'tcp://[fe80::2]:7002', protocol: 1, publicKey: KEY },
  });
  t.same(advertFromAnswer({ ...answer, name: 'BOARD-7' }).ok, true, 'DNS names are case-insensitive');
  const bad: Array<[MdnsAnswer, RegExp]> = [
    [{ ...answer, txt: undefined }, /no TXT/],
    [{ ...answer, name: 'other' }, /does not match TXT node/],
    [{ ...answer, name: undefined }, /does not match TXT node/],
    [{ ...answer, port: 7009 }, /SRV port 7009 does not match TXT bus 7001/],
    [{ ...answer, referer: undefined, addresses: [] }, /no address/],
  ];
  for (const [a, reason] of bad) {
    const r = advertFromAnswer(a);
    t.equal(r.ok, false);
    if (!r.ok) t.match(r.reason, reason);
  }
});

t.test('resolveScope: interface names, addresses, loopback', async (t) => {
  t.same(resolveScope({}, IFACES), { kind: 'default' });
  t.same(resolveScope({ interface: '  ' }, IFACES), { kind: 'default' });
  t.same(resolveScope({ loopback: true }, IFACES), { kind: 'loopback' });
  t.same(resolveScope({ interface: 'eth0' }, IFACES), { kind: 'interface', address: '10.0.0.7', cidr: '10.0.0.7/24' });
  t.same(resolveScope({ interface: '10.0.0.7' }, IFACES), { kind: 'interface', address: '10.0.0.7', cidr: '10.0.0.7/24' });
  t.same(resolveScope({ interface: 'lo' }, IFACES), { kind: 'loopback' });
  t.same(resolveScope({ interface: '127.0.0.1' }, IFACES), { kind: 'loopback' });
  t.same(resolveScope({ interface: '127.0.0.1', loopback: true }, IFACES), { kind: 'loopback' });
  t.throws(() => resolveScope({ interface: 'eth9' }, IFACES), { name: 'MdnsOptionsError', message: /"eth9" does not exist \(have: lo 127\.0\.0\.1, eth0 10\.0\.0\.7\)/ });
  t.throws(() => resolveScope({ interface: '10.0.0.8' }, IFACES), { message: /no interface of this machine has that address/ });
  t.throws(() => resolveScope({ interface: 'wlan0' }, IFACES), { message: /wlan0 has no IPv4 address/ });
  t.throws(() => resolveScope({ interface: 'fe80::1' }, IFACES), { message: /IPv6 is not supported/ });
  t.throws(() => resolveScope({ interface: 'eth0', loopback: true }, IFACES), { message: /contradict/ });
  // The constructor resolves (and so validates) the scope at once.
  t.throws(() => new MdnsDiscovery({ interface: 'eth9', networkInterfaces: () => IFACES }), MdnsOptionsError);
  t.throws(() => new MdnsDiscovery({ loopback: true, requeryMs: -1 }), { message: /requeryMs/ });
  t.same(new MdnsDiscovery({ interface: 'eth0', networkInterfaces: () => IFACES }).scope, { kind: 'interface', address: '10.0.0.7', cidr: '10.0.0.7/24' });
});

t.test('bonjourOptions: loopback stays on 127.0.0.1, an interface binds the wildcard', async (t) => {
  t.same(bonjourOptions({ kind: 'default' }), {}, 'default: bonjour picks (never in tests outside a namespace)');
  t.same(bonjourOptions({ kind: 'loopback' }), { interface: '127.0.0.1', bind: '0.0.0.0' });
  t.same(bonjourOptions({ kind: 'interface', address: '10.0.0.7', cidr: null }), { interface: '10.0.0.7', bind: '0.0.0.0' });
});

t.test('acceptsSource keeps answers in scope', async (t) => {
  t.ok(acceptsSource({ kind: 'loopback' }, '127.0.0.1'));
  t.ok(acceptsSource({ kind: 'loopback' }, '127.1.2.3'));
  t.ok(acceptsSource({ kind: 'loopback' }, '::ffff:127.0.0.1'));
  t.notOk(acceptsSource({ kind: 'loopback' }, '192.0.2.2'), 'a LAN answer heard on the wildcard socket');
  t.notOk(acceptsSource({ kind: 'loopback' }, undefined));
  const eth0 = { kind: 'interface', address: '10.0.0.7', cidr: '10.0.0.7/24' } as const;
  t.ok(acceptsSource(eth0, '10.0.0.200'));
  t.notOk(acceptsSource(eth0, '10.0.1.1'));
  t.notOk(acceptsSource(eth0, '127.0.0.1'));
  t.ok(acceptsSource({ kind: 'interface', address: '10.0.0.7', cidr: null }, '172.16.0.1'), 'unknown subnet: accept');
  t.ok(acceptsSource({ kind: 'default' }, '172.16.0.1'));
  t.ok(acceptsSource({ kind: 'default' }, undefined));
});

t.test('inSubnet', async (t) => {
  t.ok(inSubnet('10.0.0.1', '10.0.0.0/24'));
  t.ok(inSubnet('10.0.0.255', '10.0.0.7/24'));
  t.notOk(inSubnet('10.0.1.0', '10.0.0.7/24'));
  t.ok(inSubnet('1.2.3.4', '0.0.0.0/0'));
  t.ok(inSubnet('192.168.1.5', '192.168.1.5/32'));
  t.notOk(inSubnet('192.168.1.6', '192.168.1.5/32'));
  t.notOk(inSubnet('fe80::1', 'fe80::/64'), 'IPv6 is not handled');
  t.notOk(inSubnet('10.0.0.1', '10.0.0.0/33'));
  t.notOk(inSubnet('10.0.0.1', 'garbage'));
});

t.test('mdnsOptionsFor: the scope follows what the agent binds or advertises', async (t) => {
  t.same(mdnsOptionsFor('127.0.0.1', null, IFACES), { loopback: true }, 'an agent on loopback is only reachable from this machine');
  t.same(mdnsOptionsFor('localhost', undefined, IFACES), { loopback: true });
  t.same(mdnsOptionsFor('10.0.0.7', null, IFACES), { interface: '10.0.0.7' }, 'an address of this machine: announce there');
  t.same(mdnsOptionsFor('10.0.0.8', null, IFACES), {}, 'not ours (NAT?): bonjour default');
  t.same(mdnsOptionsFor('board-7.lan', null, IFACES), {}, 'a host name: bonjour default');
  t.same(mdnsOptionsFor('127.0.0.1', 'eth0', IFACES), { interface: 'eth0' }, 'a configured interface wins');
});

t.test('node ids longer than a DNS label cannot be published', async (t) => {
  t.same(buildTxt({ node: 'n'.repeat(63), bus: 'tcp://h:1' }).node, 'n'.repeat(63));
  t.throws(() => buildTxt({ node: 'n'.repeat(64), bus: 'tcp://h:1' }), { name: 'MdnsOptionsError', message: /too long for mDNS \(at most 63/ });
});
