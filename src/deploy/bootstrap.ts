/**
 * `stella-gateway pki bootstrap` (docs/operations/running.md#bootstrap): creates every CA, leaf and
 * key a topology names that is missing, so that `topology validate` passes afterwards:
 *
 * - the CA in `pki.dir` (root + issuing intermediate, the topology's trust domain);
 * - one leaf per scanner (role `scanner`), hop (`gateway`, also its `upstreamTls` when that names
 *   other files) and service (`service`), written to the exact files the topology names, with the
 *   DNS and IP SANs of the part's `serverName` and `listen` (docs/operations/certificates.md);
 * - the hops' MAC keys, the scanners' signing keys (Ed25519 when a `publicFile` is named, else
 *   HMAC) and each locker's Ed25519 receipt key with its `.pub`.
 *
 * Idempotent: what exists is kept. `force` re-issues the leaves and regenerates the keys; the CA
 * is never replaced (that is a rollover: `stella-gateway pki rollover`).
 */
import { replicaAddresses } from '../topology/replicas.js';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { generateKey } from '../dsse/index.js';
import { writeFileAtomic } from '../io/atomic-file.js';
import { parseHostPort, PKI_LAYOUT } from '../conventions/index.js';
import { initPki, issueCertificate, type PkiRole } from '../pki/index.js';
import type { ResolvedTopology } from '../topology/resolve.js';

/** Options of {@link bootstrapTopology}. */
export interface BootstrapOptions {
  /** Re-issue every leaf and regenerate every key, also those that exist. Default false. */
  readonly force?: boolean;
  /** Lifetime of the issued leaves; default the PKI's (24 h). */
  readonly leafTtlSeconds?: number;
}

/** One file (or the CA folder) bootstrap looked at. */
export interface BootstrapStep {
  /** `ca`, `leaf` or `key`. */
  readonly kind: 'ca' | 'leaf' | 'key';
  /** What it is for, e.g. `gateway gw-edge` or `hop gw-edge MAC key edge-2026-11`. */
  readonly subject: string;
  readonly path: string;
  readonly action: 'created' | 'replaced' | 'kept';
}

/**
 * Creates what is missing (everything with `force`, the CA excepted) and lists what it did.
 *
 * @example
 * const steps = await bootstrapTopology(await loadTopology('topology.yaml'));
 * steps.filter((s) => s.action !== 'kept').map((s) => s.path);
 */
export async function bootstrapTopology(topology: ResolvedTopology, options: BootstrapOptions = {}): Promise<BootstrapStep[]> {
  const steps: BootstrapStep[] = [];
  const force = options.force === true;
  const dir = topology.pki.dir;
  if (existsSync(join(dir, PKI_LAYOUT.caBundle))) steps.push({ kind: 'ca', subject: `CA of ${topology.trustDomain}`, path: dir, action: 'kept' });
  else {
    await initPki({ dir, trustDomain: topology.trustDomain });
    steps.push({ kind: 'ca', subject: `CA of ${topology.trustDomain}`, path: dir, action: 'created' });
  }

  const actionFor = (path: string): BootstrapStep['action'] | null => (!existsSync(path) ? 'created' : force ? 'replaced' : null);
  const leaf = async (role: PkiRole, name: string, files: { cert: string; key: string; chain: string }, sans: { dns: string[]; ip: string[] }): Promise<void> => {
    const action = actionFor(files.cert);
    const subject = `${role} ${name}`;
    if (!action) return void steps.push({ kind: 'leaf', subject, path: files.cert, action: 'kept' });
    const issued = await issueCertificate({ dir, role, name, ...sans, ...(options.leafTtlSeconds ? { ttlSeconds: options.leafTtlSeconds } : {}), write: false });
    // The exact files the topology names (they need not be called cert.pem/key.pem/chain.pem).
    await writeFileAtomic(files.key, issued.keyPem ?? '', 0o600);
    await writeFileAtomic(files.chain, issued.chainPem, 0o644);
    if (files.cert !== files.chain) await writeFileAtomic(files.cert, issued.certPem, 0o644);
    steps.push({ kind: 'leaf', subject, path: files.cert, action });
  };
  for (const scanner of topology.scanners) await leaf('scanner', scanner.id, scanner.tls, { dns: [], ip: [] });
  for (const hop of topology.hops) {
    const sans = subjectNames(hop.serverName, hop.listen);
    await leaf('gateway', hop.id, hop.tls, sans);
    if (hop.upstreamTls.cert !== hop.tls.cert) await leaf('gateway', hop.id, hop.upstreamTls, sans);
  }
  // One certificate for every replica of a service (docs/topology.md#replicas): each replica's host is a SAN.
  for (const service of topology.services) await leaf('service', service.id, service.tls, subjectNames(service.serverName, ...replicaAddresses(service)));

  const hmac = async (subject: string, file: string): Promise<void> => {
    const action = actionFor(file);
    if (action) await writeFileAtomic(file, `${generateKey('hmac-sha256').private}\n`, 0o600);
    steps.push({ kind: 'key', subject, path: file, action: action ?? 'kept' });
  };
  const keyPair = async (alg: 'ed25519' | 'ecdsa-p256-sha256', subject: string, file: string, publicFile: string): Promise<void> => {
    const action = actionFor(file);
    if (action) {
      const pair = generateKey(alg);
      await writeFileAtomic(file, pair.private, 0o600);
      await writeFileAtomic(publicFile, pair.public ?? '', 0o644);
    }
    steps.push({ kind: 'key', subject, path: file, action: action ?? 'kept' });
  };
  for (const hop of topology.hops) {
    if (hop.stamp === false) continue;
    for (const key of hop.stamp.keys) await hmac(`hop ${hop.id} MAC key ${key.kid}`, key.file);
    // docs/provenance.md#part-2-version-2: the hop's own signing key; verifiers get the public half.
    const signing = hop.stamp.signing;
    for (const key of signing?.keys ?? []) {
      const subject = `hop ${hop.id} v2 signing key ${key.kid}`;
      if (signing!.alg === 'hmac-sha256') await hmac(subject, key.file);
      else await keyPair(signing!.alg, subject, key.file, key.publicFile ?? `${key.file}.pub`);
    }
  }
  for (const scanner of topology.scanners) {
    for (const key of scanner.signing.keys) {
      if (key.publicFile) await keyPair('ed25519', `scanner ${scanner.id} signing key ${key.kid}`, key.file, key.publicFile);
      else await hmac(`scanner ${scanner.id} signing key ${key.kid}`, key.file);
    }
  }
  for (const service of topology.services) {
    if (service.receiptKey) await keyPair('ed25519', `service ${service.id} receipt key`, service.receiptKey, `${service.receiptKey}.pub`);
    // The SQLite store's folder: the service creates the file, not the folder.
    if (service.storage?.kind === 'sqlite') await mkdir(dirname(service.storage.file), { recursive: true });
  }
  return steps;
}

/**
 * The SANs a listener's certificate needs: its `serverName`, and each listen host (an IP SAN for
 * an address, a DNS SAN for a name; every replica's of a service); an unspecified address
 * (`0.0.0.0`, `::`) names no peer.
 */
export function subjectNames(serverName: string, ...listens: string[]): { dns: string[]; ip: string[] } {
  const dns = new Set([serverName]);
  const ip = new Set<string>();
  for (const listen of listens) {
    const { host } = parseHostPort(listen);
    if (host === '0.0.0.0' || host === '::') continue;
    (isIP(host) ? ip : dns).add(host);
  }
  return { dns: [...dns], ip: [...ip] };
}
