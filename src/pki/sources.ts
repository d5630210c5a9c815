/**
 * Where a provider gets its material (docs/operations/certificates.md): the embedded local CA, or files an external
 * issuer (cert-manager, step, Vault agent) writes and renews. The enrollment source lives in
 * `enrollment/client.ts`.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { issueCertificate } from './issue.js';
import { pkiPaths } from './store.js';
import { pemBlocks } from './x509.js';
import type { PkiRole } from './profile.js';
import type { RawMaterial, TlsMaterial } from './validate.js';

/** How often watched files are polled by default (stat-polling survives atomic renames). */
export const DEFAULT_FILE_POLL_INTERVAL_MS = 1000;

/** Certificates from the local CA directory (the embedded default). */
export interface LocalCaSource {
  kind: 'local-ca';
  dir: string;
  role: PkiRole;
  name: string;
  dns?: string[];
  ip?: string[];
  ttlSeconds?: number;
}

/** Files written by an external issuer; re-read when they change. */
export interface FilesSource {
  kind: 'files';
  /** Leaf, optionally followed by intermediates. */
  cert: string;
  key: string;
  /** Trust bundle. */
  ca: string;
  /** Intermediates when not appended to `cert`. */
  chain?: string;
  crl?: string;
  watch: true;
  pollIntervalMs?: number;
}

/** The product's own enrollment endpoint (CSR + bootstrap token, then mTLS re-enroll). */
export interface EnrollmentSource {
  kind: 'enrollment';
  /** Base URL of the endpoint, e.g. `https://pki.internal:8600` (routes under `/pki/v1/`). */
  url: string;
  /** One-time token for the first certificate (`pki token`). */
  bootstrapToken: string;
  /** PEM text of the CA bundle that verifies the endpoint's server certificate. */
  ca: string;
  /** Optional SNI / hostname to verify when `url` uses an IP address. */
  serverName?: string;
}

/** The tagged union of provider sources. */
export type MtlsSource = LocalCaSource | FilesSource | EnrollmentSource;

/** What the provider needs from a source. */
export interface CertificateSource {
  /** Fresh key + chain + trust; `current` is the material in use (enrollment renews with it). */
  obtain(current: TlsMaterial | null): Promise<RawMaterial>;
  /** Only the trust bundle and CRL (reloaded on their own schedule). */
  loadTrust(): Promise<{ ca: string; crl?: string }>;
  /** Calls `onChange` when the underlying files change; returns the unsubscribe function. */
  watch?(onChange: () => void): () => void;
  /** True when `obtain` only re-reads what an external issuer wrote. */
  readonly external: boolean;
}

/** A source backed by the local CA directory. */
export function localCaSource(source: LocalCaSource, clock: () => Date): CertificateSource {
  const loadTrust = async () => {
    const paths = pkiPaths(source.dir);
    return { ca: await readFile(paths.caBundle, 'utf8'), crl: await readFile(paths.crl, 'utf8') };
  };
  return {
    external: false,
    async obtain() {
      const leaf = await issueCertificate({ ...source, write: false, clock });
      const trust = await loadTrust();
      return { key: leaf.keyPem ?? '', chain: leaf.chainPem, ca: leaf.caBundlePem, crl: trust.crl };
    },
    loadTrust,
  };
}

/** A source reading files an external issuer renews. */
export function filesSource(source: FilesSource): CertificateSource {
  const loadTrust = async () => ({
    ca: await readFile(source.ca, 'utf8'),
    ...(source.crl ? { crl: await readFile(source.crl, 'utf8') } : {}),
  });
  return {
    external: true,
    async obtain() {
      const [cert, key, chain, trust] = await Promise.all([
        readFile(source.cert, 'utf8'),
        readFile(source.key, 'utf8'),
        source.chain ? readFile(source.chain, 'utf8') : Promise.resolve(''),
        loadTrust(),
      ]);
      // cert may hold the leaf alone or leaf + intermediates; chain.pem repeats a leaf that may be
      // the previous one while an issuer rewrites the files. Take the leaf from cert only and
      // just the CA certificates from both, each once.
      const [leaf = '', ...rest] = pemBlocks(cert);
      const intermediates = [...new Set([...rest, ...pemBlocks(chain)])].filter((p) => p !== leaf && isCaCertificate(p));
      return { key, chain: [leaf, ...intermediates].join(''), ...trust };
    },
    loadTrust,
    watch(onChange) {
      const interval = source.pollIntervalMs ?? DEFAULT_FILE_POLL_INTERVAL_MS;
      const files = [source.cert, source.key, source.ca, ...(source.chain ? [source.chain] : []), ...(source.crl ? [source.crl] : [])];
      const listener = (curr: { mtimeMs: number; ino: number }, prev: { mtimeMs: number; ino: number }): void => {
        if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino) onChange();
      };
      for (const f of files) watchFile(f, { interval, persistent: false }, listener);
      return () => {
        for (const f of files) unwatchFile(f, listener);
      };
    },
  };
}

function isCaCertificate(pem: string): boolean {
  try {
    return new X509Certificate(pem).ca;
  } catch {
    return false;
  }
}
