/**
 * Loads what a service needs from its topology entry (docs/services.md, README.md#command-line `serve`): hop MAC keys, the
 * scanners' DSSE verification keys, the locker's receipt key, the store and the replay cache.
 * Every failure here is a configuration error (exit 2), reported with the file or field it names.
 */
import { MtlsCertificateProvider } from '../../pki/provider.js';
import { existsSync } from 'node:fs';
import { createVerifier, loadKeyFile, type KeyMaterial, type Signer, type Verifier } from '../../dsse/index.js';
import { createSigner } from '../../dsse/index.js';
import type { ScannerKeyring } from '../../provenance/envelope.js';
import { loadHopKeyring, type HopKeyring } from '../../provenance/keys.js';
import { loadV2Keyring, type V2Keyring } from '../../provenance/v2/keys.js';
import type { ReplayCache } from '../../provenance/replay/cache.js';
import { PostgresReplayCache } from '../../provenance/replay/postgres.js';
import { SqliteReplayCache, replayFileFor } from '../../provenance/replay/sqlite.js';
import { StellaError } from '../../errors/base.js';
import { SERVICE_START_ERRORS } from './problems.js';
import { defaultSqliteFile, openStoreForService } from '../../storage/index.js';
import type { EvidenceStore } from '../../storage/types.js';
import type { ResolvedService, ResolvedTopology } from '../../topology/resolve.js';

/** A service cannot start: a missing or unusable key, file or setting. */
export class ServiceConfigError extends StellaError {
  readonly code = 'service-config';

  /** {@link SERVICE_START_ERRORS}. */
  get registry(): typeof SERVICE_START_ERRORS {
    return SERVICE_START_ERRORS;
  }
}

/** Everything `serve` loads before it builds the app. */
export interface ServiceRuntime {
  service: ResolvedService;
  hopKeys: HopKeyring;
  /** The v2 verification keys of the hops in front (public keys; secrets of hmac-sha256 hops only). */
  v2Keys: V2Keyring;
  /** Each scanner's DSSE verification keys, by scanner id (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 9). */
  scannerKeys: ScannerKeyring;
  /** Present for an evidence-locker. */
  receiptSigner: Signer | null;
  store: EvidenceStore;
  replayCache: ReplayCache;
}

/**
 * The scanners' verification keys, per scanner: each signing key's `publicFile` when given, else
 * the key file itself (an HMAC secret, or a private key whose public half verifies). The keyid is
 * the `kid`. A key listed for two scanners is refused: it could not say which of them signed.
 */
export async function loadScannerKeyring(topology: ResolvedTopology): Promise<ScannerKeyring> {
  const keyring = new Map<string, Verifier[]>();
  const owner = new Map<string, string>();
  for (const scanner of topology.scanners) {
    const verifiers: Verifier[] = [];
    for (const key of scanner.signing.keys) {
      const file = key.publicFile ?? key.file;
      let material: KeyMaterial;
      try {
        material = await loadKeyFile(file);
      } catch (error) {
        throw new ServiceConfigError(`scanners.${scanner.id}.signing.keys.${key.kid}: ${file}: ${(error as Error).message}`, { cause: error });
      }
      const other = owner.get(material.keyId);
      if (other !== undefined && other !== scanner.id) {
        throw new ServiceConfigError(`scanners.${scanner.id}.signing.keys.${key.kid}: ${file} is the same key as one of scanner ${other}; a key must bind one scanner`);
      }
      owner.set(material.keyId, scanner.id);
      verifiers.push(createVerifier(material, key.kid));
    }
    keyring.set(scanner.id, verifiers);
  }
  return keyring;
}

/** The locker's receipt signer: an Ed25519 PKCS#8 private key (docs/services.md). */
export async function loadReceiptSigner(service: ResolvedService): Promise<Signer> {
  if (!service.receiptKey) throw new ServiceConfigError(`services.${service.id}.receiptKey: an evidence-locker needs an Ed25519 receipt key`);
  try {
    const key = await loadKeyFile(service.receiptKey, { algorithm: 'ed25519', type: 'private' });
    return createSigner(key, `${service.id}-receipt`);
  } catch (error) {
    throw new ServiceConfigError(`services.${service.id}.receiptKey: ${service.receiptKey}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Loads the runtime of one service. The replay cache is as durable as the store and lives where
 * it does (docs/provenance.md#5-replay-and-clock-rules): in PostgreSQL when the store is, so a replay to another instance
 * on the same database is still caught (docs/provenance.md#5-replay-and-clock-rules); beside the SQLite file otherwise, so a
 * replay after a restart is.
 */
export async function loadServiceRuntime(topology: ResolvedTopology, serviceId: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<ServiceRuntime> {
  const service = topology.services.find((s) => s.id === serviceId);
  if (!service) throw new ServiceConfigError(`no service "${serviceId}" in topology ${topology.name} (services: ${topology.services.map((s) => s.id).join(', ')})`);
  let hopKeys: HopKeyring;
  let v2Keys: V2Keyring;
  try {
    // Only the hops in front of this service: a key it does not need is a key it cannot leak.
    hopKeys = await loadHopKeyring(topology, service.chain.map((hop) => hop.id));
    v2Keys = await loadV2Keyring(topology, service.chain.map((hop) => hop.id));
  } catch (error) {
    throw new ServiceConfigError((error as Error).message, { cause: error });
  }
  const scannerKeys = await loadScannerKeyring(topology);
  for (const [scannerId, verifiers] of scannerKeys) {
    if (service.envelopeThreshold > verifiers.length) {
      throw new ServiceConfigError(`services.${service.id}.envelopeThreshold: ${service.envelopeThreshold} but scanner ${scannerId} has only ${verifiers.length} key(s)`);
    }
  }
  const receiptSigner = service.kind === 'evidence-locker' ? await loadReceiptSigner(service) : null;
  const store = await openStoreForService(service, topology.baseDir, env);
  let replayCache: ReplayCache;
  try {
    replayCache = await openReplayCache(service, topology.baseDir, env);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { service, hopKeys, v2Keys, scannerKeys, receiptSigner, store, replayCache };
}

/** The replay cache that matches the service's storage kind (the guard of an oci-registry opens its own the same way). */
export async function openReplayCache(service: ResolvedService, baseDir: string, env: Readonly<Record<string, string | undefined>>): Promise<ReplayCache> {
  const storage = service.storage;
  switch (storage?.kind) {
    case 'postgres': {
      const url = storage.url.startsWith('env:') ? env[storage.url.slice(4)] : storage.url;
      const cache = new PostgresReplayCache({ connectionString: url });
      try {
        await cache.migrate();
      } catch (error) {
        await cache.close();
        throw error;
      }
      return cache;
    }
    case 'sqlite':
    case undefined: {
      const file = replayFileFor(storage?.file ?? defaultSqliteFile(baseDir, service.id));
      try {
        return new SqliteReplayCache({ file });
      } catch (error) {
        throw new ServiceConfigError(`services.${service.id}: cannot open the replay cache ${file}: ${(error as Error).message}`, { cause: error });
      }
    }
  }
}

/**
 * The server certificate, CA bundle and CRL of a service's mTLS listener, read from the files and
 * re-read when they change; shared by `serve` and `guard`.
 */
export function serviceCertificateProvider(topology: ResolvedTopology, service: { tls: { chain: string; key: string } }): MtlsCertificateProvider {
  return new MtlsCertificateProvider({
    source: {
      kind: 'files',
      cert: service.tls.chain,
      key: service.tls.key,
      ca: topology.pki.caBundle,
      ...(fileExists(topology.pki.crl) ? { crl: topology.pki.crl } : {}),
      watch: true,
    },
    // docs/operations/certificates.md#revocation: a republished CRL or bundle is in use within this.
    trustReloadIntervalMs: topology.pki.reloadSeconds * 1000,
  });
}

/** True when a file exists (the CRL is optional until `pki init` wrote one). */
export function fileExists(path: string): boolean {
  return existsSync(path);
}
