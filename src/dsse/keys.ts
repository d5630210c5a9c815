/**
 * Key material (README.md#command-line, docs/CONVENTIONS.md "Key files"): a tagged union over the
 * {@link ALGORITHMS} table. A PEM file is asymmetric (PKCS#8 private or SPKI public, the algorithm
 * following the key type); any other file is an HMAC-SHA256 secret held as base64 text.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ALGORITHMS, MIN_HMAC_SECRET_BYTES, RSA_KEYGEN_MODULUS_BITS, algorithmForKey } from './algorithms.js';
import type { Algorithm } from './algorithms.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { DsseError } from './errors.js';

/** An algorithm that uses a key pair. */
export type AsymmetricAlgorithm = Exclude<Algorithm, 'hmac-sha256'>;

/** Usable key material; `keyId` is its stable identity (see {@link keyIdOf}). */
export type KeyMaterial =
  | { readonly type: 'secret'; readonly algorithm: 'hmac-sha256'; readonly secret: Buffer; readonly keyId: string }
  | { readonly type: 'private'; readonly algorithm: AsymmetricAlgorithm; readonly privateKey: KeyObject; readonly publicKey: KeyObject; readonly keyId: string }
  | { readonly type: 'public'; readonly algorithm: AsymmetricAlgorithm; readonly publicKey: KeyObject; readonly keyId: string };

/** Options of {@link parseKeyFile}. */
export interface ParseKeyOptions {
  /** Reject keys of any other algorithm. */
  algorithm?: Algorithm;
  /** Reject keys of any other kind (e.g. `'private'` for a signing key). */
  type?: KeyMaterial['type'];
}

const PEM = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END \1-----$/;

// Domain separation: an HMAC key id must never equal a hash an attacker sees elsewhere.
const HMAC_KEY_ID_CONTEXT = 'stella-gateway/dsse/hmac-key-id/v1\0';

/**
 * Parses the bytes of a key file.
 *
 * @throws {DsseError} `DSSE_KEY_INVALID` for other PEM labels (convert with
 *   `openssl pkcs8 -topk8 -nocrypt` or `openssl pkey -pubout`), unsupported key types or curves,
 *   RSA below 2048 bits, invalid base64, or an HMAC secret under 32 bytes.
 */
export function parseKeyFile(bytes: Uint8Array, opts: ParseKeyOptions = {}): KeyMaterial {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('parseKeyFile expects bytes');
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').trim();
  const key = text.startsWith('-----BEGIN ') ? parsePem(text) : hmacKey(text);
  if (opts.algorithm !== undefined && key.algorithm !== opts.algorithm) {
    throw invalid(`key is ${key.algorithm}, expected ${opts.algorithm}`);
  }
  if (opts.type !== undefined && key.type !== opts.type) throw invalid(`key is a ${key.type} key, expected a ${opts.type} key`);
  return key;
}

/** Wraps a raw HMAC-SHA256 secret (≥ 32 bytes) as key material. */
export function hmacKeyFromSecret(secret: Uint8Array): KeyMaterial {
  if (secret.byteLength < MIN_HMAC_SECRET_BYTES) {
    throw invalid(`HMAC secret of ${secret.byteLength} bytes; at least ${MIN_HMAC_SECRET_BYTES} are required`);
  }
  const copy = Buffer.from(secret);
  return { type: 'secret', algorithm: 'hmac-sha256', secret: copy, keyId: keyIdOf(copy, true) };
}

/** Wraps a Node `KeyObject` (private or public) as key material. */
export function keyFromKeyObject(key: KeyObject): KeyMaterial {
  if (key.type === 'secret') return hmacKeyFromSecret(key.export());
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const algorithm = algorithmForKey(publicKey);
  if (algorithm === undefined || algorithm === 'hmac-sha256') {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    throw invalid(`unsupported key type ${publicKey.asymmetricKeyType ?? '?'}${curve ? ` (${curve})` : ''} or size`);
  }
  const keyId = keyIdOf(publicKey.export({ type: 'spki', format: 'der' }), false);
  return key.type === 'private' ? { type: 'private', algorithm, privateKey: key, publicKey, keyId } : { type: 'public', algorithm, publicKey, keyId };
}

/**
 * Generates a fresh key for `dsse keygen`: PEM PKCS#8 private and SPKI public for asymmetric
 * algorithms, base64 text of 32 random bytes for HMAC.
 */
export function generateKey(alg: Algorithm): { private: string; public?: string } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  switch (alg) {
    case 'hmac-sha256':
      return { private: encodeBase64(randomBytes(MIN_HMAC_SECRET_BYTES)) };
    case 'ed25519': {
      const pair = generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
      return { private: pair.privateKey, public: pair.publicKey };
    }
    case 'ecdsa-p256-sha256':
    case 'ecdsa-p384-sha384': {
      const pair = generateKeyPairSync('ec', { namedCurve: ALGORITHMS[alg].namedCurve, publicKeyEncoding, privateKeyEncoding });
      return { private: pair.privateKey, public: pair.publicKey };
    }
    case 'rsa-pss-sha256': {
      // A plain rsaEncryption key: every tool reads it, and README.md#command-line maps RSA keys to PSS.
      const pair = generateKeyPairSync('rsa', { modulusLength: RSA_KEYGEN_MODULUS_BITS, publicKeyEncoding, privateKeyEncoding });
      return { private: pair.privateKey, public: pair.publicKey };
    }
    default:
      throw new TypeError(`unknown algorithm ${String(alg satisfies never)}`);
  }
}

/**
 * The stable identity of a key, `sha256:<hex>`: over the SPKI DER for asymmetric keys (the same
 * for a private key and its public half), over a domain-separated secret for HMAC keys.
 */
export function keyIdOf(material: Uint8Array, isSecret: boolean): string {
  const hash = createHash('sha256');
  if (isSecret) hash.update(HMAC_KEY_ID_CONTEXT);
  return `sha256:${hash.update(material).digest('hex')}`;
}

function parsePem(text: string): KeyMaterial {
  const match = PEM.exec(text);
  if (!match) throw invalid('a key file must hold exactly one PEM block');
  const label = match[1];
  try {
    if (label === 'PRIVATE KEY') return keyFromKeyObject(createPrivateKey({ key: text, format: 'pem' }));
    if (label === 'PUBLIC KEY') return keyFromKeyObject(createPublicKey({ key: text, format: 'pem' }));
  } catch (error) {
    if (error instanceof DsseError) throw error;
    throw new DsseError('DSSE_KEY_INVALID', `unreadable ${label}: ${(error as Error).message}`, { cause: error });
  }
  throw invalid(`PEM "${label}" is not supported: use PKCS#8 "PRIVATE KEY" or SPKI "PUBLIC KEY"`);
}

function hmacKey(text: string): KeyMaterial {
  let secret: Buffer;
  try {
    secret = decodeBase64Strict(text);
  } catch (error) {
    throw new DsseError('DSSE_KEY_INVALID', 'an HMAC key file must hold base64 text', { cause: error });
  }
  return hmacKeyFromSecret(secret);
}

function invalid(message: string): DsseError {
  return new DsseError('DSSE_KEY_INVALID', message);
}
