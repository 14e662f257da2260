/** Parsing of peer entries (`host:port` or `tcp://host:port`) from configuration. */

export class PeerEntryError extends Error {
  override name = 'PeerEntryError';
  constructor(
    readonly entry: string,
    reason: string,
  ) {
    super(`invalid peer ${JSON.stringify(entry)}: ${reason} (expected host:port or tcp://host:port, port 1..65535)`);
  }
}

export interface PeerEndpoint {
  /** Lower-cased host; an IPv6 address without brackets. */
  host: string;
  port: number;
  /** Normalised `tcp://host:port` (IPv6 in brackets), what zeromq connects to. */
  endpoint: string;
}

const HOSTNAME = /^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$/i;
const IPV6 = /^[0-9a-f:.]+(%[a-z0-9_.-]+)?$/i;

/** Parses one entry; throws PeerEntryError naming the entry and what is wrong with it. */
export function parsePeerEndpoint(entry: string): PeerEndpoint {
  let rest = entry.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    if (scheme[1]?.toLowerCase() !== 'tcp') throw new PeerEntryError(entry, `scheme ${scheme[1]}:// is not supported`);
    rest = rest.slice(scheme[0].length);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const m = /^\[([^\]]*)\]:(.*)$/.exec(rest);
    if (!m) throw new PeerEntryError(entry, 'IPv6 address must be written [address]:port');
    host = m[1] ?? '';
    portText = m[2] ?? '';
    if (!IPV6.test(host)) throw new PeerEntryError(entry, `${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw new PeerEntryError(entry, 'missing :port');
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw new PeerEntryError(entry, 'an IPv6 address must be in brackets, [address]:port');
    if (!HOSTNAME.test(host)) throw new PeerEntryError(entry, host ? `${JSON.stringify(host)} is not a host name or address` : 'missing host');
  }
  if (!/^\d{1,5}$/.test(portText)) throw new PeerEntryError(entry, `port ${JSON.stringify(portText)} is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new PeerEntryError(entry, `port ${port} is out of range`);
  host = host.toLowerCase();
  return { host, port, endpoint: `tcp://${host.includes(':') ? `[${host}]` : host}:${port}` };
}
