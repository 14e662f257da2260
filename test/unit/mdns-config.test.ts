import t from 'tap';
import { ConfigError, validateConfig } from '../../agent/config.js';

const pick = (raw: Record<string, unknown>) => {
  const c = validateConfig({ node: 'n', ...raw });
  return { discovery: c.discovery, interface: c.interface, peers: c.peers };
};

t.test('discovery defaults: static when peers are listed (npm start), mdns otherwise', async (t) => {
  t.same(pick({}), { discovery: 'mdns', interface: null, peers: [] });
  t.same(pick({ peers: '127.0.0.1:7001,127.0.0.1:7002' }), { discovery: 'static', interface: null, peers: ['127.0.0.1:7001', '127.0.0.1:7002'] });
  t.same(pick({ discovery: 'static' }), { discovery: 'static', interface: null, peers: [] }, 'a lone agent may ask for static');
  t.same(pick({ discovery: 'mdns', interface: 'eth0' }), { discovery: 'mdns', interface: 'eth0', peers: [] });
  t.same(pick({ interface: '10.0.0.7' }).interface, '10.0.0.7');
  t.same(pick({ interface: 'eth0.100' }).interface, 'eth0.100', 'a VLAN interface name');
  t.same(pick({ interface: '' }).interface, null);
  t.same(pick({ interface: null }).interface, null);
});

t.test('discovery and interface errors name the field', async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ discovery: 'dns' }, /^discovery must be mdns or static, got "dns"/],
    [{ discovery: 1 }, /^discovery must be mdns or static/],
    [{ discovery: 'mdns', peers: ['a:1'] }, /peers are only used by static discovery/],
    [{ peers: ['a:1'], interface: 'eth0' }, /interface is only used by mdns discovery, and discovery is static \(peers are listed\)/],
    [{ discovery: 'static', interface: 'eth0' }, /interface is only used by mdns discovery/],
    [{ interface: 'fe80::1' }, /IPv6 is not supported/],
    [{ interface: '10.0.0.256' }, /interface must be an interface name \(like eth0\) or an IPv4 address, got "10.0.0.256"/],
    [{ interface: 'a very long name' }, /interface must be an interface name/],
    [{ interface: 'abcdefghijklmnop' }, /interface must be an interface name/],
    [{ interface: 'eth/0' }, /interface must be an interface name/],
    [{ interface: 7 }, /^interface must be a non-empty string/],
  ];
  for (const [raw, msg] of bad) t.throws(() => validateConfig({ node: 'n', ...raw }), { name: 'ConfigError', message: msg }, JSON.stringify(raw));
  t.throws(() => validateConfig({ node: 'n', discovry: 'mdns' }), ConfigError, 'a misspelt field is still unknown');
});
