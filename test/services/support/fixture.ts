/**
 * A topology, keys and fully stamped requests for the service tests: what the last gateway of a
 * real chain delivers (records stamped with real HMACs, a real HMAC-signed DSSE envelope whose
 * traversal intent names the scanner certificate of hop 1). No TLS in inject(): the TLS peer
 * identity comes from a test header, read by the `peerIdentity` option of the plugin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  IN_TOTO_PAYLOAD_TYPE,
  buildScanArtifactStatement,
  createSigner,
  createVerifier,
  generateKey,
  hmacKeyFromSecret,
  parseKeyFile,
  serializeEnvelope,
  serializeStatement,
  signEnvelope,
  type KeyMaterial,
} from '../../../src/dsse/index.js';
import { stampRecord } from '../../../src/provenance/chain.js';
import { serializeProvenanceHeader } from '../../../src/provenance/codec.js';
import { contentDigestOf } from '../../../src/provenance/digest.js';
import type { HopKeyring } from '../../../src/provenance/keys.js';
import type { HopRecord } from '../../../src/provenance/record.js';
import { topologySchema, type ServiceKind, type TopologyInput } from '../../../src/topology/schema.js';
import { resolveTopology, stampingHops, type ResolvedTopology } from '../../../src/topology/resolve.js';
import { topologyHead } from '../../support/topology.js';

export const SCANNER_ID = 'scanner-01';
/** A second scanner of the same edge: the attacker of the scanner-identity tests. */
export const OTHER_SCANNER_ID = 'scanner-02';
/** An auditor identity: a scanner the topology may name as a reader. */
export const AUDITOR_ID = 'auditor-01';
export const TEST_SCANNERS = [SCANNER_ID, OTHER_SCANNER_ID, AUDITOR_ID] as const;
export type TestScanner = (typeof TEST_SCANNERS)[number];
/** The (pretend) SHA-256 of a scanner's client certificate. */
export function scannerCert(id: string): string {
  return `sha256:${createHash('sha256').update(`${id} certificate`).digest('hex')}`;
}
export const SCANNER_CERT = scannerCert(SCANNER_ID);
export const TEST_PEER_HEADER = 'x-test-peer-cn';
/** Overrides the SPIFFE ID of the test peer (default: the gateway identity of its CN). */
export const TEST_PEER_SPIFFE_HEADER = 'x-test-peer-spiffe';
/** The headers of a direct request from the last hop (gw-internal): what its health checks send. */
export const LAST_HOP: Readonly<Record<string, string>> = { [TEST_PEER_HEADER]: 'gw-internal' };

/** edge (stamps) → waf (opaque) → internal (stamps) → the service. */
export function serviceTopology(kind: ServiceKind = 'evidence-locker', serviceOverrides: Partial<TopologyInput['services'][number]> = {}): ResolvedTopology {
  const serviceId = kind === 'evidence-locker' ? 'evidence-locker' : 'scanner-webservice';
  const input: TopologyInput = {
    ...topologyHead(),
    scanners: TEST_SCANNERS.map((id) => ({ id, signing: { keys: [{ kid: `${id}-hmac`, file: `./keys/${id}.hmac` }] } })),
    hops: [
      { id: 'gw-edge', kind: 'nginx', listen: '127.0.0.1:8443', stamp: { via: 'native', keys: [{ kid: 'edge-1', file: './keys/edge.key' }] }, next: 'waf' },
      { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8444', stamp: false, next: 'gw-internal' },
      { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', keys: [{ kid: 'internal-1', file: './keys/internal.key' }] }, next: serviceId },
    ],
    services: [{ id: serviceId, kind, listen: '127.0.0.1:9443', ...serviceOverrides }],
  };
  return resolveTopology(topologySchema.parse(input), '/tmp/stella-services-fixture');
}

/** Keys of one test world: hop MAC keys, the scanner's DSSE key, the locker's receipt key. */
export interface TestKeys {
  hopKeys: HopKeyring;
  /** scanner-01's DSSE key. */
  scanner: KeyMaterial;
  /** Every test scanner's DSSE key. */
  scanners: ReadonlyMap<TestScanner, KeyMaterial>;
  receiptPrivate: KeyMaterial;
  receiptPublic: KeyMaterial;
  receiptPublicPem: string;
}

/** Fresh random keys. */
export function testKeys(): TestKeys {
  const hopKeys: HopKeyring = new Map([
    ['gw-edge', new Map([['edge-1', randomBytes(32)]])],
    ['gw-internal', new Map([['internal-1', randomBytes(32)]])],
  ]);
  const receipt = generateKey('ed25519');
  const scanners = new Map(TEST_SCANNERS.map((id) => [id, hmacKeyFromSecret(randomBytes(32))] as const));
  return {
    hopKeys,
    scanner: scanners.get(SCANNER_ID)!,
    scanners,
    receiptPrivate: parseKeyFile(Buffer.from(receipt.private)),
    receiptPublic: parseKeyFile(Buffer.from(receipt.public!)),
    receiptPublicPem: receipt.public!,
  };
}

/**
 * Fresh keys written where a topology file of `keys/` names them (edge.key, internal.key,
 * scanner.hmac for scanner-01, receipt.pem), for a service started from files; returns them.
 */
export function writeKeyFiles(keysDir: string): TestKeys {
  mkdirSync(keysDir, { recursive: true });
  const edge = randomBytes(32);
  const internal = randomBytes(32);
  const scanner = randomBytes(32);
  const receipt = generateKey('ed25519');
  writeFileSync(join(keysDir, 'edge.key'), edge.toString('base64'), { mode: 0o600 });
  writeFileSync(join(keysDir, 'internal.key'), internal.toString('base64'), { mode: 0o600 });
  writeFileSync(join(keysDir, 'scanner.hmac'), scanner.toString('base64'), { mode: 0o600 });
  writeFileSync(join(keysDir, 'receipt.pem'), receipt.private, { mode: 0o600 });
  return {
    hopKeys: new Map([['gw-edge', new Map([['edge-1', edge]])], ['gw-internal', new Map([['internal-1', internal]])]]),
    scanner: hmacKeyFromSecret(scanner),
    scanners: new Map([['scanner-01', hmacKeyFromSecret(scanner)]]),
    receiptPrivate: parseKeyFile(Buffer.from(receipt.private)),
    receiptPublic: parseKeyFile(Buffer.from(receipt.public!)),
    receiptPublicPem: receipt.public!,
  };
}

/** The provenance options the apps take in tests (peer identity from a header). */
export function provenanceOptions(keys: TestKeys, now: () => number) {
  return {
    hopKeys: keys.hopKeys,
    now,
    logDecisions: false,
    envelope: { scannerKeys: scannerKeyring(keys), threshold: 1 },
    peerIdentity: (request: { headers: Record<string, string | string[] | undefined> }) => {
      const cn = request.headers[TEST_PEER_HEADER];
      const spiffe = request.headers[TEST_PEER_SPIFFE_HEADER];
      if (typeof cn !== 'string') return null;
      return { cn, fingerprint: scannerCert(cn), spiffeId: typeof spiffe === 'string' ? spiffe : `spiffe://stella.local/gateway/${cn}` };
    },
  };
}

/** Each test scanner's verifier, keyed like the services key them (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 9). */
export function scannerKeyring(keys: TestKeys): Map<string, ReturnType<typeof createVerifier>[]> {
  return new Map([...keys.scanners].map(([id, key]) => [id, [createVerifier(key, `${id}-hmac`)]]));
}

/**
 * A signed scan-artifact envelope (JSON bytes) for `scanId`, bound to a scanner certificate
 * (scanner-01's unless `clientCert`/`scanner` say otherwise) and signed with the key of
 * `signWith` (default: that scanner).
 */
export async function signedEnvelope(
  keys: TestKeys,
  options: { scanId: string; nowMs: number; artifact?: string; artifactBytes?: Uint8Array; clientCert?: string; topology?: string; scanner?: TestScanner; signWith?: TestScanner },
): Promise<Buffer> {
  const scanner = options.scanner ?? SCANNER_ID;
  const signWith = options.signWith ?? scanner;
  const artifact = options.artifact ?? `sbom-${randomBytes(6).toString('hex')}`;
  const statement = buildScanArtifactStatement({
    artifact: { name: artifact, sha256: createHash('sha256').update(options.artifactBytes ?? artifact).digest('hex') },
    intent: {
      scanId: options.scanId,
      topology: options.topology ?? 'demo',
      edgeHop: 'gw-edge',
      clientCertSha256: options.clientCert ?? scannerCert(scanner),
      nonce: randomBytes(16).toString('hex'),
      issuedAt: new Date(options.nowMs).toISOString(),
    },
  });
  const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), [createSigner(keys.scanners.get(signWith)!, `${signWith}-hmac`)]);
  return Buffer.from(serializeEnvelope(envelope));
}

/** A request as the last hop forwards it: stamped by every stamping hop with real MACs. */
export interface StampedRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: Buffer | null;
  records: HopRecord[];
}

/** Stamps a request through the chain of the topology's only service; `tsS` sets each record's ts. */
export function stamp(
  topology: ResolvedTopology,
  keys: TestKeys,
  options: { method: 'GET' | 'POST'; url: string; scanId: string; body?: Buffer | null; nowMs: number; contentType?: string; scanner?: TestScanner; tsS?: number[] },
): StampedRequest {
  const scanner = options.scanner ?? SCANNER_ID;
  const service = topology.services[0]!;
  const body = options.body ?? null;
  const contentDigest = body && body.length > 0 ? contentDigestOf(body) : null;
  const request = { method: options.method, pathAndQuery: options.url, scanId: options.scanId, contentDigest };
  const records: HopRecord[] = [];
  for (const hop of stampingHops(service)) {
    const index = service.chain.indexOf(hop);
    const [kid, key] = [...keys.hopKeys.get(hop.id)!][0]!;
    const peerId = index === 0 ? scanner : service.chain[index - 1]!.id;
    records.push(
      stampRecord({
        hop: hop.id,
        seq: hop.stampSeq!,
        ts: options.tsS?.[records.length] ?? Math.floor(options.nowMs / 1000) - 1,
        nonce: randomBytes(16).toString('hex'),
        peer: scannerCert(peerId),
        peerId,
        kid,
        key,
        request,
        previous: records.at(-1) ?? null,
      }),
    );
  }
  const headers: Record<string, string> = {
    'x-stella-scan-id': options.scanId,
    'x-stella-provenance': serializeProvenanceHeader(records),
    [TEST_PEER_HEADER]: 'gw-internal',
  };
  if (contentDigest) headers['content-digest'] = contentDigest;
  if (body && body.length > 0) headers['content-type'] = options.contentType ?? 'application/json';
  return { method: options.method, url: options.url, headers, body, records };
}

/** Sends a stamped request with inject(). */
export function send(app: FastifyInstance, request: StampedRequest, extra: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<LightMyRequestResponse> {
  const body = extra.body ?? request.body;
  return app.inject({ method: request.method, url: request.url, headers: { ...request.headers, ...extra.headers }, ...(body && body.length > 0 ? { payload: body } : {}) });
}

/** The SHA-256 hex of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
