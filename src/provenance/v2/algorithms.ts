/**
 * The v2 signature algorithms (docs/provenance.md#v2-algorithms): the one table that signs and
 * verifies them, node:crypto only. ECDSA signatures are raw r‖s (RFC 9421 §3.3.4), HMAC tags are
 * compared in constant time.
 */
import { createHmac, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { V2StampAlg } from './profile.js';

/** How one algorithm signs and verifies a signature base. */
export interface V2Algorithm {
  /** Length in bytes of a signature of this algorithm. */
  signatureBytes: number;
  /** The kind of key object a verifier holds: a public key, or the shared secret. */
  verifyKeyType: 'public' | 'secret';
  sign(key: KeyObject, base: Buffer): Buffer;
  verify(key: KeyObject, base: Buffer, signature: Buffer): boolean;
}

function hmac(key: KeyObject, base: Buffer): Buffer {
  return createHmac('sha256', key).update(base).digest();
}

/** alg name → implementation (RFC 9421 §3.3). Nothing else lists the algorithms' behaviour. */
export const V2_ALGORITHMS: Readonly<Record<V2StampAlg, V2Algorithm>> = {
  ed25519: {
    signatureBytes: 64,
    verifyKeyType: 'public',
    sign: (key, base) => sign(null, base, key),
    verify: (key, base, signature) => verify(null, base, key, signature),
  },
  'ecdsa-p256-sha256': {
    signatureBytes: 64,
    verifyKeyType: 'public',
    // RFC 9421 §3.3.4: the signature is r‖s, 32 bytes each, not DER.
    sign: (key, base) => sign('sha256', base, { key, dsaEncoding: 'ieee-p1363' }),
    verify: (key, base, signature) => verify('sha256', base, { key, dsaEncoding: 'ieee-p1363' }, signature),
  },
  'hmac-sha256': {
    signatureBytes: 32,
    verifyKeyType: 'secret',
    sign: (key, base) => hmac(key, base),
    verify: (key, base, signature) => {
      const expected = hmac(key, base);
      return expected.byteLength === signature.byteLength && timingSafeEqual(expected, signature);
    },
  },
};

/** Whether `name` is an algorithm of the profile. */
export function isV2Alg(name: unknown): name is V2StampAlg {
  return typeof name === 'string' && Object.hasOwn(V2_ALGORITHMS, name);
}
