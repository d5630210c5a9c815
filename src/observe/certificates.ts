/**
 * `stella_certificate_expiry_timestamp_seconds` (docs/operations/running.md#metrics): the
 * `notAfter` of every certificate a part has loaded — its own chain and its trust bundle — read
 * at each scrape from what the part serves now, so a certificate swapped in by the live reload
 * (`pki.reloadSeconds`, docs/operations/certificates.md) shows at the next scrape. Alert on
 * `stella_certificate_expiry_timestamp_seconds - time() < 7 * 86400`.
 */
import { Gauge, type Registry } from 'prom-client';
import { inspectCertificate, type CertificateSummary } from '../pki/inspect.js';
import { pemBlocks } from '../pki/x509.js';

/** The gauge's name. */
export const CERTIFICATE_EXPIRY_METRIC = 'stella_certificate_expiry_timestamp_seconds';

/** PEM texts a part has loaded now; either may be absent (a stamper on a Unix socket has none). */
export interface LoadedCertificates {
  /** Leaf first, then intermediates: what the part presents. */
  chain?: string;
  /** The CA bundle the part trusts. */
  ca?: string;
}

/** What the gauge's `role` label says a certificate is to the part. */
export type CertificateRole = 'leaf' | 'intermediate' | 'trust-anchor';

/**
 * Registers the gauge for one part. `loaded` is called at each scrape; parsed certificates are
 * cached by PEM text, so a scrape parses only what changed.
 */
export function registerCertificateExpiry(registry: Registry, part: string, loaded: () => LoadedCertificates): void {
  const cache = new Map<string, CertificateSummary | null>();
  const summary = (pem: string): CertificateSummary | null => {
    if (!cache.has(pem)) {
      let parsed: CertificateSummary | null = null;
      try {
        parsed = inspectCertificate(pem);
      } catch {
        parsed = null; // a block the part's own loader accepted cannot fail here; never fail a scrape for it
      }
      cache.set(pem, parsed);
    }
    return cache.get(pem) ?? null;
  };
  new Gauge({
    name: CERTIFICATE_EXPIRY_METRIC,
    help: 'notAfter (Unix seconds) of each certificate the part has loaded now: its own chain and its trust bundle.',
    labelNames: ['part', 'role', 'subject', 'serial'] as const,
    registers: [registry],
    collect() {
      this.reset();
      let now: LoadedCertificates;
      try {
        now = loaded();
      } catch {
        now = {}; // nothing loaded yet (the provider is starting): no series rather than a failed scrape
      }
      const rows: Array<[CertificateRole, string]> = [
        ...pemBlocks(now.chain ?? '').map((pem, index): [CertificateRole, string] => [index === 0 ? 'leaf' : 'intermediate', pem]),
        ...pemBlocks(now.ca ?? '').map((pem): [CertificateRole, string] => ['trust-anchor', pem]),
      ];
      const seen = new Set(rows.map(([, pem]) => pem));
      for (const pem of cache.keys()) if (!seen.has(pem)) cache.delete(pem);
      for (const [role, pem] of rows) {
        const cert = summary(pem);
        if (cert) this.set({ part, role, subject: cert.subject, serial: cert.serial }, Math.floor(cert.notAfter.getTime() / 1000));
      }
    },
  });
}
