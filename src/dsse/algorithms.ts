/**
 * The one table of signature algorithms (docs/dsse.md, README.md#command-line; the habit of jose's `jws_algorithms`).
 * Nothing else in the product lists algorithms: key parsing, signing, verifying, key generation
 * and the CLI's `--alg` names all read this table.
 */
import type { KeyObject } from 'node:crypto';
import { MIN_HMAC_KEY_BYTES } from '../conventions/index.js';

/** How an algorithm signs: a shared-secret MAC, or a public-key signature. */
export type AlgorithmFamily = 'hmac' | 'eddsa' | 'ecdsa' | 'rsa-pss';

/** What the product knows about one algorithm. */
export interface AlgorithmSpec {
  readonly family: AlgorithmFamily;
  /** The digest given to `crypto.sign`/`verify` (`null` for Ed25519, which hashes internally). */
  readonly hash: 'sha256' | 'sha384' | null;
  /** Name of the algorithm for `stella-gateway dsse keygen --alg`. */
  readonly cliName: string;
  /** Node's `asymmetricKeyType` values of keys of this algorithm (empty for HMAC). */
  readonly keyTypes: readonly string[];
  /** Node's `namedCurve` for ECDSA (OpenSSL's name). */
  readonly namedCurve?: string;
  /** Byte length of one ECDSA coordinate, for raw r‖s (IEEE P1363) signatures. */
  readonly coordinateBytes?: number;
}

/** Every supported algorithm. RSA keys of either Node key type are used with PSS (README.md#command-line). */
export const ALGORITHMS = {
  'hmac-sha256': { family: 'hmac', hash: 'sha256', cliName: 'hmac-sha256', keyTypes: [] },
  ed25519: { family: 'eddsa', hash: null, cliName: 'ed25519', keyTypes: ['ed25519'] },
  'ecdsa-p256-sha256': { family: 'ecdsa', hash: 'sha256', cliName: 'ecdsa-p256', keyTypes: ['ec'], namedCurve: 'prime256v1', coordinateBytes: 32 },
  'ecdsa-p384-sha384': { family: 'ecdsa', hash: 'sha384', cliName: 'ecdsa-p384', keyTypes: ['ec'], namedCurve: 'secp384r1', coordinateBytes: 48 },
  'rsa-pss-sha256': { family: 'rsa-pss', hash: 'sha256', cliName: 'rsa-pss', keyTypes: ['rsa', 'rsa-pss'] },
} as const satisfies Record<string, AlgorithmSpec>;

/** A supported signature algorithm. */
export type Algorithm = keyof typeof ALGORITHMS;

/** Every algorithm name, in table order. */
export const ALGORITHM_NAMES = Object.keys(ALGORITHMS) as Algorithm[];

/** HMAC-SHA256 secrets shorter than the hash output weaken the MAC (RFC 2104 §3); docs/dsse.md#keys. The conventions floor's key-file limit. */
export const MIN_HMAC_SECRET_BYTES = MIN_HMAC_KEY_BYTES;

/** RSA moduli below 2048 bits are no longer acceptable for new signatures (NIST SP 800-131A). */
export const MIN_RSA_MODULUS_BITS = 2048;

/** The modulus size `generateKey('rsa-pss-sha256')` uses. */
export const RSA_KEYGEN_MODULUS_BITS = 3072;

/** Looks an algorithm up by its `--alg` name (`ecdsa-p256`, `rsa-pss`, …). */
export function algorithmByCliName(name: string): Algorithm | undefined {
  return ALGORITHM_NAMES.find((alg) => ALGORITHMS[alg].cliName === name);
}

/**
 * The algorithm an asymmetric key is used with, following its type (README.md#command-line), or `undefined`
 * when the product does not use such keys (other curves, DSA, X25519, small RSA moduli).
 */
export function algorithmForKey(key: KeyObject): Algorithm | undefined {
  const type = key.asymmetricKeyType;
  if (type === undefined) return undefined;
  const details = key.asymmetricKeyDetails ?? {};
  for (const alg of ALGORITHM_NAMES) {
    const spec: AlgorithmSpec = ALGORITHMS[alg];
    if (!spec.keyTypes.includes(type)) continue;
    if (spec.namedCurve !== undefined && details.namedCurve !== spec.namedCurve) continue;
    if (spec.family === 'rsa-pss' && (details.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) continue;
    return alg;
  }
  return undefined;
}
