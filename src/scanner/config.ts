/**
 * Everything a delivery needs, derived from the topology (docs/topology.md, docs/CONVENTIONS.md): the
 * scanner's edge hop (`https://<listen>`, SNI = its `serverName`), its client certificate
 * (`scanner.tls`, by default the local CA layout `<pki.dir>/issued/scanner/<id>/`), its signing
 * keys, and the receipt key of the locker at the end of the edge's chain.
 */
import { scannerTimeoutSeconds } from '../topology/timeouts.js';
import type { ResolvedHop, ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { defaultCertificateSource, startScannerCredentials } from './certificates.js';
import type { CertificateSourceKind } from './certificates.js';
import { AgentPool } from './credentials.js';
import type { ClientCredentials } from './credentials.js';
import type { DeliveryOptions } from './deliver.js';
import { ScannerError } from './errors.js';
import { receiptPublicKeyPath, receiptVerifierFromFile } from './receipt.js';
import { keyFileEnvelopeFactory, loadSigners } from './signing.js';

/** Options of {@link deliveryOptionsFor}. */
export interface ScannerSetupOptions {
  /** SPKI PEM of the locker's receipt key; default `<service receiptKey>.pub` when it exists. */
  receiptKey?: string | undefined;
  /** Whole-request timeout; default: the chain's schedule for this scanner (`scannerTimeoutSeconds`). */
  timeoutMs?: number | undefined;
  /** Client certificate source; default per {@link defaultCertificateSource}. Ignored when `credentials` is given. */
  certificateSource?: CertificateSourceKind | undefined;
  /** How often `files` are checked for a renewed certificate. */
  certificatePollIntervalMs?: number | undefined;
  /** Ready-made credentials (e.g. a provider the caller already runs). */
  credentials?: ClientCredentials | undefined;
  now?: (() => number) | undefined;
}

/** Delivery options plus the pool to close when done. */
export interface ScannerSetup extends DeliveryOptions {
  scannerId: string;
  /** The locker the edge leads to, when there is one. */
  serviceId: string | undefined;
  /** The receipt key in use, or undefined (receipts then stored unverified; reported). */
  receiptKeyFile: string | undefined;
  /** The certificate source in use (undefined when `credentials` were given). */
  certificateSource: CertificateSourceKind | undefined;
  close(): Promise<void>;
}

/**
 * Builds the delivery options for scanner `scannerId` of a loaded topology. Loads the signing keys
 * once to fail early on a bad key file (they are read again at each signing).
 *
 * @throws ScannerError `SCANNER_CONFIG` for an unknown scanner/edge or an unusable key.
 */
export async function deliveryOptionsFor(topology: ResolvedTopology, scannerId: string, options: ScannerSetupOptions = {}): Promise<ScannerSetup> {
  const scanner = topology.scanners.find((s) => s.id === scannerId);
  if (!scanner) {
    throw new ScannerError('SCANNER_CONFIG', `no scanner "${scannerId}" in topology ${topology.name} (known: ${topology.scanners.map((s) => s.id).join(', ')})`);
  }
  const edge = topology.hops.find((h) => h.id === scanner.edge);
  if (!edge) throw new ScannerError('SCANNER_CONFIG', `scanner ${scannerId}: edge hop "${scanner.edge}" is not in the topology`);
  try {
    await loadSigners(scanner.signing.keys);
  } catch (error) {
    throw new ScannerError('SCANNER_CONFIG', `scanner ${scannerId}: ${(error as Error).message}`, { cause: error });
  }
  const service = serviceBehind(edge);
  const receiptKeyFile = receiptPublicKeyPath(options.receiptKey, service?.receiptKey);
  const verifyReceipt = receiptKeyFile ? await receiptVerifierFromFile(receiptKeyFile) : undefined;
  let credentials = options.credentials;
  let started: Awaited<ReturnType<typeof startScannerCredentials>> | undefined;
  if (!credentials) {
    started = await startScannerCredentials(topology, scanner, options.certificateSource ?? defaultCertificateSource(topology, scannerId), {
      pollIntervalMs: options.certificatePollIntervalMs,
    });
    credentials = started.credentials;
  }
  const pool = new AgentPool({ servername: edge.serverName });
  return {
    scannerId,
    serviceId: service?.id,
    receiptKeyFile,
    endpoint: { origin: `https://${edge.listen}`, servername: edge.serverName },
    topologyName: topology.name,
    edgeHop: edge.id,
    certificateSource: started?.source,
    credentials,
    pool,
    createEnvelope: keyFileEnvelopeFactory(scanner.signing.keys),
    verifyReceipt,
    // docs/gateways/README.md#timeouts: by default the worker waits longer than its edge does.
    timeoutMs: options.timeoutMs ?? defaultTimeoutMs(topology, scannerId),
    now: options.now,
    close: async () => {
      started?.stop();
      await pool.close();
    },
  };
}

/** The service a request entering at `edge` ends up at (README.md#the-chain: one chain per service). */
function serviceBehind(edge: ResolvedHop): ResolvedService | undefined {
  let hop: ResolvedHop = edge;
  for (let i = 0; i < 64; i++) {
    const next = hop.nextTarget;
    if (next.type === 'service') return next.service;
    hop = next.hop;
  }
  return undefined;
}

function defaultTimeoutMs(topology: ResolvedTopology, scannerId: string): number | undefined {
  const seconds = scannerTimeoutSeconds(topology, scannerId);
  return seconds === undefined ? undefined : seconds * 1000;
}
