/**
 * CURVE (ZeroMQ RFC 26) on the transport's sockets, and how a received message learns
 * which node sent it.
 *
 * Roles: our PUB and ROUTER are CURVE servers (they bind; every client handshake goes to
 * the ZAP handler, which admits only the allow-list). Our SUBs and DEALERs are CURVE
 * clients of the peer they dial, with that peer's public key as server key: the handshake
 * then proves the other end holds the secret of the key we chose from the allow-list.
 *
 * Identity per message, which neither ZAP nor zeromq.js gives us (security/zap.ts):
 * - bus: one SUB per peer instead of one SUB for all. Everything a SUB receives comes from
 *   the single server it dialled, so it is from the node that key belongs to.
 * - direct: every message is `[sender name, tag, frame]` with an HMAC tag under the static
 *   X25519 secret of sender and receiver (security/direct-auth.ts).
 */
import { Z85_KEY_RE } from '../security/z85.js';

export interface TransportCurve {
  /** Our keypair (Z85). */
  publicKey: string;
  secretKey: string;
  /** ZAP domain of our server sockets (the ZAP handler dispatches on it). */
  zapDomain: string;
  /** Tags our directed frames and checks the tags of received ones. */
  direct: {
    /** Our node name, sent with every directed frame. */
    readonly name: string;
    tag(receiverKey: string, frame: Uint8Array): Uint8Array;
    /** The sender's node name if `tag` is valid for it, else null. */
    verify(sender: Uint8Array, tag: Uint8Array, frame: Uint8Array): string | null;
  };
}

/** A peer's bus in secure mode: whom we dial it as. */
export interface CurvePeer {
  /** The node the key belongs to (from the allow-list): every message on this link is its. */
  name: string;
  /** Its public key, our SUB's `curveServerKey`. */
  serverKey: string;
}

export function checkCurveKey(key: unknown, what: string): string | null {
  return typeof key === 'string' && Z85_KEY_RE.test(key) ? null : `${what} must be a 40-character Z85 CURVE key`;
}

export function curveServerOptions(c: TransportCurve): { curveServer: true; curveSecretKey: string; curvePublicKey: string; zapDomain: string } {
  return { curveServer: true, curveSecretKey: c.secretKey, curvePublicKey: c.publicKey, zapDomain: c.zapDomain };
}

export function curveClientOptions(c: TransportCurve, serverKey: string): { curveServerKey: string; curvePublicKey: string; curveSecretKey: string } {
  return { curveServerKey: serverKey, curvePublicKey: c.publicKey, curveSecretKey: c.secretKey };
}
