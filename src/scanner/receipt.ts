/**
 * Checking the locker's traversal receipt (SPEC §8): a DSSE envelope signed by the locker's
 * Ed25519 key whose in-toto Statement names the submitted envelope's SHA-256 as subject.
 *
 * A receipt that verifies proves the locker accepted *this* envelope; the worker marks an item
 * delivered only after such a receipt is stored (when a receipt key is configured).
 */
import { existsSync } from 'node:fs';
import { IN_TOTO_PAYLOAD_TYPE, createVerifier, loadKeyFile, parseEnvelope, parseStatement, verifyEnvelope } from '../dsse/index.js';
import type { ReceiptVerifier } from './deliver.js';
import { ScannerError } from './errors.js';

/** predicateType of a traversal receipt (SPEC §8). */
export const TRAVERSAL_RECEIPT_PREDICATE_TYPE = 'https://stella-ops.org/attestations/gateway-traversal/v1';

/**
 * A verifier for receipts signed by the key whose SPKI PEM is in `publicKeyFile`.
 *
 * @throws ScannerError `SCANNER_CONFIG` when the file is not a public key.
 */
export async function receiptVerifierFromFile(publicKeyFile: string): Promise<ReceiptVerifier> {
  let key;
  try {
    key = await loadKeyFile(publicKeyFile);
  } catch (error) {
    throw new ScannerError('SCANNER_CONFIG', `receipt key ${publicKeyFile}: ${(error as Error).message}`, { cause: error });
  }
  if (key.type === 'secret') throw new ScannerError('SCANNER_CONFIG', `receipt key ${publicKeyFile} must be a PEM public key`);
  const verifier = createVerifier(key.type === 'private' ? { type: 'public', algorithm: key.algorithm, publicKey: key.publicKey, keyId: key.keyId } : key);
  return async (receipt, envelopeSha256) => {
    const verified = await verifyEnvelope(parseEnvelope(receipt), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [verifier] });
    const statement = parseStatement(verified.payload);
    if (statement.predicateType !== TRAVERSAL_RECEIPT_PREDICATE_TYPE) {
      throw new Error(`receipt predicateType ${JSON.stringify(statement.predicateType)} is not a traversal receipt`);
    }
    if (!statement.subject.some((s) => s.digest.sha256 === envelopeSha256)) {
      throw new Error(`receipt does not cover envelope sha256:${envelopeSha256}`);
    }
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
