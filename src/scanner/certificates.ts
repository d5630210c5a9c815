/**
 * Where the worker's client certificate comes from (docs/operations/certificates.md): the PKI's `MtlsCertificateProvider`,
 * started from the topology.
 *
 * * `local-ca` (the embedded default): the worker issues its own leaf from `<pki.dir>` for role
 *   `scanner` and its scanner id, and renews it in the background. Needs the CA directory on the
 *   worker's machine (the demo, a single-host setup).
 * * `files`: `scanner.tls` (default `<pki.dir>/issued/scanner/<id>/`) written by an external
 *   issuer (cert-manager, step, Vault agent, `pki issue`), watched and re-read on change. Every
 *   new certificate is validated by the provider (key matches, chain verifies, not expired)
 *   before it is used.
 *
 * The default is `files` when the topology names `scanner.tls` explicitly, `local-ca` otherwise.
 */
import { MtlsCertificateProvider } from '../pki/provider.js';
import type { MtlsSource } from '../pki/sources.js';
import type { ResolvedScanner, ResolvedTopology } from '../topology/resolve.js';
import type { ClientCredentials } from './credentials.js';
import { ScannerError } from './errors.js';

/** The certificate sources `scanner submit|run --cert-source` accepts. */
export const CERTIFICATE_SOURCES = ['local-ca', 'files'] as const;
/** A certificate source of the worker. */
export type CertificateSourceKind = (typeof CERTIFICATE_SOURCES)[number];

/** How often `files` are checked for a new certificate. */
export const DEFAULT_CERT_POLL_INTERVAL_MS = 1_000;

/** A started provider seen as {@link ClientCredentials}, and how to stop its timers. */
export interface StartedCredentials {
  credentials: ClientCredentials;
  source: CertificateSourceKind;
  stop(): void;
}

/** The source used when none is asked for (see the module comment). */
export function defaultCertificateSource(topology: ResolvedTopology, scannerId: string): CertificateSourceKind {
  return topology.source.scanners.find((s) => s.id === scannerId)?.tls ? 'files' : 'local-ca';
}

/**
 * Starts a provider for `scanner`. Resolves once the first certificate is validated.
 *
 * @throws ScannerError `SCANNER_CONFIG` when no usable certificate can be obtained (the PKI
 *   error's code and message are kept in the message and `cause`).
 */
export async function startScannerCredentials(
  topology: ResolvedTopology,
  scanner: ResolvedScanner,
  kind: CertificateSourceKind,
  options: { pollIntervalMs?: number | undefined } = {},
): Promise<StartedCredentials> {
  const source: MtlsSource =
    kind === 'local-ca'
      ? { kind: 'local-ca', dir: topology.pki.dir, role: 'scanner', name: scanner.id }
      : {
          kind: 'files', cert: scanner.tls.cert, key: scanner.tls.key, chain: scanner.tls.chain, ca: topology.pki.caBundle,
          watch: true, pollIntervalMs: options.pollIntervalMs ?? DEFAULT_CERT_POLL_INTERVAL_MS,
        };
  const provider = new MtlsCertificateProvider({ source });
  try {
    await provider.start();
  } catch (error) {
    provider.stop();
    const code = (error as { code?: unknown }).code;
    throw new ScannerError('SCANNER_CONFIG', `scanner ${scanner.id}: no client certificate from ${kind}: ${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`, { cause: error });
  }
  return { credentials: provider, source: kind, stop: () => provider.stop() };
}
