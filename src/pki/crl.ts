/**
 * CRLs as this CA publishes them and as the parts that check revocation themselves read them
 * (rather than through a TLS stack): the forward-auth stamper behind a Caddy edge (Caddy 2.6 applies
 * no CRL to client certificates, docs/gateways/caddy.md).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { KeyObject, sign } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { normalizeSerial, PKI_ALGORITHMS, x509, type CryptoKey } from './x509.js';

/**
 * Drops the empty `crlEntryExtensions` lists `X509CrlGenerator` writes for entries without an
 * extension, and signs the corrected list again with the same key and algorithm. RFC 5280 §5.1
 * declares the field `OPTIONAL` and §5.3 says it is present only with an extension in it; PKI.js
 * refuses a CRL holding an empty one (docs/operations/certificates.md "Revocation"). A CRL with no
 * such entry is returned as it was.
 *
 * @example crl = await withoutEmptyEntryExtensions(generated.rawData, ca.key)
 */
export async function withoutEmptyEntryExtensions(der: ArrayBuffer, signingKey: CryptoKey): Promise<ArrayBuffer> {
  // @peculiar/asn1-schema reads an empty SEQUENCE OF back as an absent field and writes an absent
  // field not at all, so a parse and a serialization drop exactly those lists: when that changes
  // the bytes, the list is signed again.
  const list = AsnConvert.parse(der, CertificateList);
  if (Buffer.from(AsnConvert.serialize(list)).equals(Buffer.from(der))) return der;
  const tbs = Buffer.from(AsnConvert.serialize(list.tbsCertList));
  // The same algorithm the generator used (PKI_ALGORITHMS.signing), DER-encoded as X.509 wants it.
  const hash = PKI_ALGORITHMS.signing.hash as string;
  const signature = sign(hash.replace('-', '').toLowerCase(), tbs, { key: KeyObject.from(signingKey), dsaEncoding: 'der' });
  list.signature = new Uint8Array(signature).buffer;
  return AsnConvert.serialize(list);
}

/**
 * The revoked serials (normalized lowercase hex) of every CRL in a PEM file. Serials are matched
 * without their issuer: this CA draws them at random from 128 bits, so two CAs of one bundle do
 * not share one.
 */
export function revokedSerials(crlPem: string): Set<string> {
  const serials = new Set<string>();
  const blocks = crlPem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
  for (const block of blocks) {
    const crl = new x509.X509Crl(block);
    for (const entry of crl.entries) serials.add(normalizeSerial(entry.serialNumber));
  }
  return serials;
}

/** A revocation list that follows its file: re-read whenever the file's modification time changes. */
export interface RevocationList {
  isRevoked(serial: string): boolean;
  /** Re-reads the file if it changed; resolves once the current contents are in use. */
  refresh(): Promise<void>;
  stop(): void;
}

/** How often {@link watchRevocationList} looks at the CRL file. */
export const DEFAULT_CRL_POLL_INTERVAL_MS = 5_000;

/**
 * Loads a CRL file and keeps it current by polling its modification time.
 *
 * @throws when the file cannot be read or parsed at start (a revocation check must not start blind).
 * @example
 * const crl = await watchRevocationList(topology.pki.crl);
 * if (crl.isRevoked(cert.serialNumber)) refuse();
 */
export async function watchRevocationList(file: string, pollIntervalMs = DEFAULT_CRL_POLL_INTERVAL_MS): Promise<RevocationList> {
  let serials = revokedSerials(await readFile(file, 'utf8'));
  let mtimeMs = (await stat(file)).mtimeMs;
  const refresh = async (): Promise<void> => {
    const now = (await stat(file)).mtimeMs;
    if (now === mtimeMs) return;
    // A file caught half-written (a publisher that does not rename) keeps the previous list.
    serials = revokedSerials(await readFile(file, 'utf8'));
    mtimeMs = now;
  };
  const timer = setInterval(() => void refresh().catch(() => undefined), pollIntervalMs);
  timer.unref();
  return {
    isRevoked: (serial) => serials.has(normalizeSerial(serial)),
    refresh,
    stop: () => clearInterval(timer),
  };
}
