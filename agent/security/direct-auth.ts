/**
 * Who sent a directed message. Our ROUTER's ZAP handler admits only allow-listed keys,
 * but neither libzmq's ZAP reply nor zeromq.js tells us, per message, which admitted key
 * a ROUTER message came from (see zap.ts). So in secure mode every directed message
 * carries its sender's node name and a tag only that node (and the receiver) can make:
 *
 *   tag = HMAC-SHA256(K, name ‖ 0x00 ‖ frame)[0..16),  K = SHA-256("cohort direct v1" ‖ X25519(s_A, P_B))
 *
 * K is the static Diffie-Hellman secret of sender and receiver, so it needs no exchange:
 * both compute it from their own secret key and the other's allow-listed public key. The
 * link itself is CURVE-encrypted, so nobody outside the pair sees a tag to replay.
 */
import { createHash, createHmac, diffieHellman, timingSafeEqual, type KeyObject } from 'node:crypto';
import { x25519PrivateKey, x25519PublicKey } from './cert.js';

export const DIRECT_TAG_BYTES = 16;
const CONTEXT = Buffer.from('cohort direct v1');
const SEPARATOR = Buffer.from([0]);

export class DirectAuth {
  private readonly secret: KeyObject;
  private readonly pairKeys = new Map<string, Buffer>();
  private readonly nameBytes: Buffer;

  constructor(
    /** Our node name, sent with every directed message. */
    readonly name: string,
    secretKey: string,
    /** Keys the node `name` may speak with (the allow-list's answer). */
    private readonly keysOf: (name: string) => string[],
  ) {
    this.secret = x25519PrivateKey(secretKey);
    this.nameBytes = Buffer.from(name);
  }

  /** Forget cached pair keys (the allow-list changed). */
  reset(): void {
    this.pairKeys.clear();
  }

  /** The tag for a frame we send to the holder of `receiverKey`. */
  tag(receiverKey: string, frame: Uint8Array): Buffer {
    return this.mac(receiverKey, this.nameBytes, frame);
  }

  /** Whether `tag` proves `sender` (a node name from the message) sent `frame` to us. */
  verify(sender: Uint8Array, tag: Uint8Array, frame: Uint8Array): string | null {
    if (tag.length !== DIRECT_TAG_BYTES || sender.length === 0 || sender.length > 255) return null;
    const name = Buffer.from(sender).toString('utf8');
    for (const key of this.keysOf(name)) {
      if (timingSafeEqual(this.mac(key, sender, frame), tag)) return name;
    }
    return null;
  }

  private mac(peerKey: string, name: Uint8Array, frame: Uint8Array): Buffer {
    let k = this.pairKeys.get(peerKey);
    if (!k) {
      const shared = diffieHellman({ privateKey: this.secret, publicKey: x25519PublicKey(peerKey) });
      k = createHash('sha256').update(CONTEXT).update(shared).digest();
      // Bounded by the allow-list (keysOf answers only admitted keys) plus the keys we dial.
      if (this.pairKeys.size > 4096) this.pairKeys.clear();
      this.pairKeys.set(peerKey, k);
    }
    return createHmac('sha256', k).update(name).update(SEPARATOR).update(frame).digest().subarray(0, DIRECT_TAG_BYTES);
  }
}
