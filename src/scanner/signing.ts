/**
 * Signing for the worker (docs/dsse.md, docs/scanner.md): the in-toto Statement with the traversal intent, signed
 * with every signing key of the scanner (keyid = the key's `kid` from the topology).
 *
 * Key files are read at signing time, not once at start: a rotated signing key file is picked up
 * by the next envelope without restarting a long-running `scanner run`.
 */
import {
  IN_TOTO_PAYLOAD_TYPE,
  buildScanArtifactStatement,
  createSigner,
  loadKeyFile,
  serializeEnvelopeBytes,
  serializeStatement,
  signEnvelope,
} from '../dsse/index.js';
import type { Signer } from '../dsse/index.js';
import type { EnvelopeFactory } from './deliver.js';

/** A signing key of a scanner, as resolved from the topology (`scanners[].signing.keys`). */
export interface SigningKeyRef {
  kid: string;
  /** HMAC base64 secret, or a PKCS#8 PEM private key (README.md#command-line). */
  file: string;
}

/** Loads one signer per key; public keys and unreadable files fail with the DSSE library's codes. */
export async function loadSigners(keys: readonly SigningKeyRef[]): Promise<Signer[]> {
  if (keys.length === 0) throw new TypeError('loadSigners: a scanner needs at least one signing key');
  return Promise.all(
    keys.map(async (k) => {
      const material = await loadKeyFile(k.file);
      if (material.type === 'public') throw new TypeError(`${k.file}: a public key cannot sign (kid ${k.kid})`);
      return createSigner(material, k.kid);
    }),
  );
}

/**
 * The envelope factory the delivery code calls at send time: statement → DSSE envelope signed by
 * every key → exact JSON bytes that are posted (and frozen in the outbox).
 *
 * @example
 * const create = keyFileEnvelopeFactory(scanner.signing.keys);
 * const bytes = await create({ artifact: { name: 'sbom.json', sha256 }, intent });
 */
export function keyFileEnvelopeFactory(keys: readonly SigningKeyRef[]): EnvelopeFactory {
  return async (input) => {
    const signers = await loadSigners(keys);
    const statement = buildScanArtifactStatement(input);
    const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), signers);
    return serializeEnvelopeBytes(envelope);
  };
}
