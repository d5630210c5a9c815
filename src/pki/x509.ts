/**
 * The one place that wires @peculiar/x509 to Node's WebCrypto and names the algorithms the PKI
 * uses (STYLE: one table per concept). Pure helpers for PEM, fingerprints and key export.
 */
import 'reflect-metadata';
import { createHash, createPrivateKey, KeyObject, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { PkiError } from './errors.js';

x509.cryptoProvider.set(webcrypto);

export { x509 };

/** WebCrypto key types from Node (the project compiles without the DOM lib). */
export type CryptoKey = webcrypto.CryptoKey;
/** A WebCrypto key pair. */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Key and signature algorithms of the CA and of locally generated leaves (docs/operations/certificates.md: P-256). */
export const PKI_ALGORITHMS = {
  keyGen: { name: 'ECDSA', namedCurve: 'P-256' } as webcrypto.EcKeyGenParams,
  signing: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
} as const;

/** Public keys the enrollment endpoint accepts in a CSR (PKI_WEAK_KEY otherwise). */
export const ACCEPTED_KEYS = {
  ec: new Set(['P-256', 'P-384']),
  rsaMinBits: 2048,
  edwards: new Set(['Ed25519']),
} as const;

/** Generates an extractable ECDSA P-256 key pair with Node's WebCrypto. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(PKI_ALGORITHMS.keyGen, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** A private CryptoKey as PKCS#8 PEM (docs/CONVENTIONS.md: keys are PKCS#8 PEM). */
export function privateKeyToPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Imports a PKCS#8 PEM private key (the CA's own) for signing. */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, PKI_ALGORITHMS.keyGen, false, ['sign']) as Promise<CryptoKey>;
}

/** The PEM blocks of a given label, in order. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return (text.match(re) ?? []).map((b) => `${b}\n`);
}

/** DER bytes of the first certificate of a PEM text, or the bytes themselves if already DER. */
export function certificateDer(derOrPem: string | Uint8Array): Buffer {
  if (typeof derOrPem !== 'string') return Buffer.from(derOrPem);
  const first = pemBlocks(derOrPem)[0];
  if (!first) throw new PkiError('PKI_CERT_INVALID', 'no PEM CERTIFICATE block found');
  return Buffer.from(new NodeX509(first).raw);
}

/**
 * `sha256:` + lowercase hex of the DER: the format of the provenance `peer` param (docs/provenance.md).
 *
 * @example certificateFingerprint(readFileSync('cert.pem', 'utf8')) // 'sha256:9b1e…'
 */
export function certificateFingerprint(derOrPem: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(certificateDer(derOrPem)).digest('hex')}`;
}

/** Lowercase hex serial without leading zero bytes, as the CLI and CRL code compare it. */
export function normalizeSerial(serial: string): string {
  const hex = serial.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^(00)+/, '');
  return hex === '' ? '0' : hex;
}
