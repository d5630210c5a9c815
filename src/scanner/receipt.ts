/**
 * Checking the locker's traversal receipt (docs/scanner.md) with the evidence area's `verifyReceipt`:
 * signed by the locker's Ed25519 key, and naming the envelope the worker sent as its subject.
 *
 * A receipt that verifies proves the locker accepted *this* envelope; the worker marks an item
 * delivered only after such a receipt is stored (when a receipt key is configured).
 */
import { existsSync } from 'node:fs';
import { loadKeyFile, parseEnvelope } from '../dsse/index.js';
import type { KeyMaterial } from '../dsse/index.js';
import { verifyReceipt } from '../evidence/receipt.js';
import type { ReceiptVerifier } from './deliver.js';
import { ScannerError } from './errors.js';

/**
 * A verifier for receipts signed by the Ed25519 key in `publicKeyFile` (SPKI PEM; a PKCS#8
 * private key is accepted too, its public half is used).
 *
 * @throws ScannerError `SCANNER_CONFIG` when the file is not an Ed25519 key.
 */
export async function receiptVerifierFromFile(publicKeyFile: string): Promise<ReceiptVerifier> {
  let key: KeyMaterial;
  try {
    key = await loadKeyFile(publicKeyFile);
  } catch (error) {
    throw new ScannerError('SCANNER_CONFIG', `receipt key ${publicKeyFile}: ${(error as Error).message}`, { cause: error });
  }
  if (key.type === 'secret' || key.algorithm !== 'ed25519') {
    throw new ScannerError('SCANNER_CONFIG', `receipt key ${publicKeyFile} must be an Ed25519 PEM key (docs/scanner.md)`);
  }
  const publicKey: KeyMaterial = key.type === 'private' ? { type: 'public', algorithm: key.algorithm, publicKey: key.publicKey, keyId: key.keyId } : key;
  return async (receipt, envelopeSha256) => {
    // parseEnvelope applies the DSSE size limits: the receipt is untrusted input until verified.
    await verifyReceipt(parseEnvelope(receipt), { publicKey, expectedEnvelopeSha256: envelopeSha256 });
  };
}

/**
 * The receipt public key to use: an explicit `--receipt-key`, else `<service receiptKey>.pub`
 * when that file exists (the locker's private key stays with the locker), else none.
 */
export function receiptPublicKeyPath(explicit: string | undefined, serviceReceiptKey: string | undefined): string | undefined {
  if (explicit) return explicit;
  if (serviceReceiptKey && existsSync(`${serviceReceiptKey}.pub`)) return `${serviceReceiptKey}.pub`;
  return undefined;
}
