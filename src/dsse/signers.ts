/**
 * Signers and verifiers over PAE bytes for every algorithm of the table (docs/dsse.md). Both are
 * interfaces with async methods so a KMS or HSM can implement them; the ones made here use
 * node:crypto and never a hand-written primitive.
 */
import { constants, createHmac, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ALGORITHMS, MIN_HMAC_SECRET_BYTES } from './algorithms.js';
import type { Algorithm, AlgorithmSpec } from './algorithms.js';
import { DsseError } from './errors.js';
import type { KeyMaterial } from './keys.js';

/** Signs PAE bytes. */
export interface Signer {
  /** The keyid written into the envelope (a hint for verifiers). */
  readonly keyid: string;
  readonly algorithm: Algorithm;
  /** Signs the PAE bytes; ECDSA signatures are DER. */
  sign(pae: Buffer): Promise<Buffer>;
  /**
   * Optional: signs the PAE given as its header and its payload, the same bytes as `sign` over
   * their concatenation. A signer that can stream (HMAC) offers it so `signEnvelope` need not
   * build the PAE (docs/dsse.md#memory).
   */
  signParts?(head: Buffer, payload: Uint8Array): Promise<Buffer>;
}

/** Verifies a signature over PAE bytes with one key. */
export interface Verifier {
  /** The keyid signatures of this key are expected to carry; narrows which verifiers are tried. */
  readonly keyid: string;
  readonly algorithm: Algorithm;
  /** Stable identity of the key (`sha256:` of the SPKI or of the HMAC secret); thresholds count these. */
  readonly keyId: string;
  /** Resolves `false` for a wrong or malformed signature; never rejects for bad signature bytes. */
  verify(pae: Buffer, sig: Buffer): Promise<boolean>;
}

/**
 * Salt length for RSA-PSS signatures: the digest length, as RFC 8017 §9.1 recommends and JOSE's
 * PS256 uses. Verification auto-detects the salt length so signatures of other tools verify.
 */
const PSS_SIGN = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } as const;
const PSS_VERIFY = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO } as const;

/**
 * Makes a signer from a private or secret key.
 *
 * @param keyid the hint written into signatures; defaults to the key's `keyId`.
 * @throws {TypeError} for a public key.
 * @throws {DsseError} `DSSE_KEY_INVALID` for an HMAC secret under 32 bytes.
 */
export function createSigner(key: KeyMaterial, keyid: string = key.keyId): Signer {
  const algorithm = key.algorithm;
  switch (key.type) {
    case 'secret': {
      const secret = checkedSecret(key.secret);
      const signParts = (head: Buffer, payload: Uint8Array): Buffer => createHmac('sha256', secret).update(head).update(payload).digest();
      const signer: Signer = {
        keyid,
        algorithm,
        sign: async (pae) => createHmac('sha256', secret).update(pae).digest(),
        signParts: async (head, payload) => signParts(head, payload),
      };
      LOCAL_SIGN_PARTS.set(signer, signParts);
      return signer;
    }
    case 'private': {
      const spec: AlgorithmSpec = ALGORITHMS[key.algorithm];
      const privateKey = key.privateKey;
      const options = spec.family === 'rsa-pss' ? PSS_SIGN : spec.family === 'ecdsa' ? ({ dsaEncoding: 'der' } as const) : {};
      return { keyid, algorithm, sign: async (pae) => cryptoSign(spec.hash, pae, { key: privateKey, ...options }) };
    }
    case 'public':
      throw new TypeError('a public key cannot sign');
    default:
      throw new TypeError(`unknown key type ${String(key satisfies never)}`);
  }
}

/**
 * Makes a verifier from any key material (a private key verifies with its public half).
 *
 * @param keyid the keyid signatures by this key carry; defaults to the key's `keyId`.
 */
export function createVerifier(key: KeyMaterial, keyid: string = key.keyId): Verifier {
  const { algorithm, keyId } = key;
  switch (key.type) {
    case 'secret': {
      const secret = checkedSecret(key.secret);
      const verify = (pae: Buffer, sig: Buffer): boolean => verifyMac(secret, pae, sig);
      const verifier: Verifier = { keyid, algorithm, keyId, verify: async (pae, sig) => verify(pae, sig) };
      LOCAL_VERIFY.set(verifier, verify);
      return verifier;
    }
    case 'private':
    case 'public': {
      const publicKey = key.publicKey;
      const spec: AlgorithmSpec = ALGORITHMS[key.algorithm];
      return { keyid, algorithm, keyId, verify: async (pae, sig) => verifySignature(spec, publicKey, pae, sig) };
    }
    default:
      throw new TypeError(`unknown key type ${String(key satisfies never)}`);
  }
}

/** HMAC-SHA256 check in constant time (docs/dsse.md); a length mismatch reveals only the length. */
export function verifyMac(secret: Buffer, pae: Buffer, sig: Buffer): boolean {
  const expected = createHmac('sha256', secret).update(pae).digest();
  return sig.length === expected.length && timingSafeEqual(sig, expected);
}

function verifySignature(spec: AlgorithmSpec, key: KeyObject, pae: Buffer, sig: Buffer): boolean {
  switch (spec.family) {
    case 'eddsa':
      return safeVerify(() => cryptoVerify(null, pae, key, sig));
    case 'rsa-pss':
      return safeVerify(() => cryptoVerify(spec.hash, pae, { key, ...PSS_VERIFY }, sig));
    case 'ecdsa': {
      // docs/dsse.md: DER (what Go, Python and Node emit) and raw r‖s (IEEE P1363, WebCrypto, JOSE).
      // A DER signature is never exactly 2n bytes in practice, but try both when it is.
      const der = () => safeVerify(() => cryptoVerify(spec.hash, pae, { key, dsaEncoding: 'der' }, sig));
      if (sig.length !== 2 * (spec.coordinateBytes ?? 0)) return der();
      return safeVerify(() => cryptoVerify(spec.hash, pae, { key, dsaEncoding: 'ieee-p1363' }, sig)) || der();
    }
    case 'hmac':
      return false;
    default:
      throw new TypeError(`unknown algorithm family ${String(spec.family satisfies never)}`);
  }
}

/**
 * The synchronous HMAC functions behind the signers and verifiers made here, keyed by the exact
 * object returned (a wrapper or copy of it is not found, so an override is always honoured).
 * `signEnvelope` and `verifyEnvelope` call them directly: the result is the same as awaiting the
 * async method, without a promise and a microtask per signature (bench/README.md, "Where the time
 * goes").
 */
const LOCAL_SIGN_PARTS = new WeakMap<Signer, (head: Buffer, payload: Uint8Array) => Buffer>();
const LOCAL_VERIFY = new WeakMap<Verifier, (pae: Buffer, sig: Buffer) => boolean>();

/** The synchronous `signParts` of an HMAC signer made by {@link createSigner}, else undefined. */
export function localSignParts(signer: Signer): ((head: Buffer, payload: Uint8Array) => Buffer) | undefined {
  return LOCAL_SIGN_PARTS.get(signer);
}

/** The synchronous `verify` of an HMAC verifier made by {@link createVerifier}, else undefined. */
export function localVerify(verifier: Verifier): ((pae: Buffer, sig: Buffer) => boolean) | undefined {
  return LOCAL_VERIFY.get(verifier);
}

/** Key material can be built by hand; a short secret must not slip past parseKeyFile's rule. */
function checkedSecret(secret: Buffer): Buffer {
  if (!Buffer.isBuffer(secret) || secret.length < MIN_HMAC_SECRET_BYTES) {
    throw new DsseError('DSSE_KEY_INVALID', `HMAC secrets need at least ${MIN_HMAC_SECRET_BYTES} bytes`);
  }
  return secret;
}

/** OpenSSL throws on some malformed signatures (bad DER); that is a failed verification. */
function safeVerify(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
