/**
 * Reading the serials a CRL file revokes, for the parts that check revocation themselves rather
 * than through a TLS stack: the forward-auth stamper behind a Caddy edge (Caddy 2.6 applies no CRL
 * to client certificates, docs/gateways/caddy.md).
 */
import { readFile, stat } from 'node:fs/promises';
import { normalizeSerial, x509 } from './x509.js';

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
