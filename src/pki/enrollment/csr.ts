/**
 * Checks a PKCS#10 CSR (RFC 2986) arriving at the enrollment endpoint: it parses, its
 * self-signature verifies (proof of possession of the key), its key meets policy, and its CN —
 * when it has one — is the identity the token or the presented certificate allows. The
 * identity, DNS and IP SANs always come from the server side, never from the CSR.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { PkiError } from '../errors.js';
import { ACCEPTED_KEYS, x509 } from '../x509.js';

/** Largest CSR accepted, in bytes of PEM text. */
export const MAX_CSR_BYTES = 8192;

/** A CSR that passed every check. */
export interface CheckedCsr {
  publicKey: KeyObject;
  commonName: string | null;
}

/** Parses and checks a CSR given as PEM text (untrusted input). */
export async function checkCsr(input: unknown, expectedName: string): Promise<CheckedCsr> {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_CSR_BYTES) {
    throw new PkiError('PKI_CSR_INVALID', `csr must be a PEM string of at most ${MAX_CSR_BYTES} bytes`);
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(input);
  } catch (error) {
    throw new PkiError('PKI_CSR_INVALID', 'the CSR cannot be parsed as PKCS#10', { cause: error });
  }
  let signatureOk = false;
  try {
    signatureOk = await csr.verify();
  } catch (error) {
    throw new PkiError('PKI_WEAK_KEY', 'the CSR key or signature algorithm is not supported', { cause: error });
  }
  if (!signatureOk) throw new PkiError('PKI_CSR_INVALID', 'the CSR signature does not verify');
  const publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  checkKeyPolicy(publicKey);
  const commonName = csr.subjectName.getField('CN')[0] ?? null;
  if (commonName !== null && commonName !== expectedName) {
    throw new PkiError('PKI_IDENTITY_MISMATCH', `the CSR asks for CN=${commonName}; this enrollment is for ${expectedName}`);
  }
  return { publicKey, commonName };
}

/** EC P-256/P-384, RSA ≥ 2048 bits or Ed25519; anything else is PKI_WEAK_KEY. */
function checkKeyPolicy(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };
  if (type === 'ec' && ACCEPTED_KEYS.ec.has((curves[details.namedCurve ?? ''] ?? '') as 'P-256')) return;
  if (type === 'rsa' && (details.modulusLength ?? 0) >= ACCEPTED_KEYS.rsaMinBits) return;
  if (type === 'ed25519') return;
  const what = type === 'rsa' ? `RSA ${details.modulusLength ?? '?'} bits` : `${type ?? 'unknown'} ${details.namedCurve ?? ''}`.trim();
  throw new PkiError('PKI_WEAK_KEY', `key ${what} is below policy (EC P-256/P-384, RSA ≥ ${ACCEPTED_KEYS.rsaMinBits}, Ed25519)`);
}
