/**
 * Talking to a running chain as the scanner does: raw requests through the edge (or to any part
 * with any certificate), the real scanner worker (`deliveryOptionsFor` + outbox + `submitArtifacts`),
 * and reading back what the locker stored. TLS verification is on everywhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { request, type Dispatcher } from 'undici';
import {
  IN_TOTO_PAYLOAD_TYPE,
  createVerifier,
  loadKeyFile,
  parseEnvelope,
  parseStatement,
  parseTraversalIntent,
  verifyEnvelope,
  type TraversalIntent,
} from '../../../src/dsse/index.js';
import { verifyReceipt, type VerifiedReceipt } from '../../../src/evidence/receipt.js';
import { deliveryOptionsFor, type ScannerSetup, type ScannerSetupOptions } from '../../../src/scanner/config.js';
import { Outbox } from '../../../src/scanner/outbox.js';
import { submitArtifacts, type SubmitResult } from '../../../src/scanner/submit.js';
import type { DeliveryEvent } from '../../../src/scanner/worker.js';
import { startChain, type Chain } from '../../support/chain.js';
import type { PrepareOptions } from '../../../src/deploy/prepare.js';

/** An answer, body read as text and (when it is JSON) parsed. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** One request with an explicit dispatcher; the body is read completely. */
export async function send(
  dispatcher: Dispatcher,
  url: string,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string | string[]>; body?: Buffer | string } = {},
): Promise<Answer> {
  const res = await request(url, {
    dispatcher,
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: init.body } : {}),
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  const text = await res.body.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // gateways answer refusals in HTML
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** The `code` member of an RFC 9457 problem body, or undefined. */
export function problemCode(answer: Answer): string | undefined {
  const json = answer.json as { code?: unknown } | undefined;
  return typeof json?.code === 'string' ? json.code : undefined;
}

/** `Content-Digest` of exact body bytes (RFC 9530). */
export function contentDigest(body: Buffer): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Host header the edge expects (its serverName; Caddy compares it with the SNI). */
export function edgeHost(chain: Chain, scannerId?: string): string {
  return `${chain.edgeServerName(scannerId)}:${new URL(chain.edgeUrl(scannerId)).port}`;
}

/** GET through the edge as the scanner, with the scan id header the provenance check needs. */
export async function edgeGet(chain: Chain, path: string, scanId: string): Promise<Answer> {
  return send(await chain.scannerAgent(), `${chain.edgeUrl()}${path}`, { headers: { host: edgeHost(chain), 'x-stella-scan-id': scanId } });
}

/**
 * The headers a scanner sends with a POST through its edge: Host, Content-Type, Content-Digest of
 * the exact bytes and X-Stella-Scan-Id (left out when `scanId` is null).
 */
export function edgePostHeaders(chain: Chain, scanId: string | null, body: Buffer, contentType = 'application/json', scannerId?: string): Record<string, string> {
  return {
    host: edgeHost(chain, scannerId),
    'content-type': contentType,
    'content-digest': contentDigest(body),
    ...(scanId === null ? {} : { 'x-stella-scan-id': scanId }),
  };
}

/**
 * POSTs `body` to `path` through the edge with {@link edgePostHeaders}; `headers` adds to or
 * overrides them, `agent` replaces the scanner's own certificate.
 */
export async function edgePost(
  chain: Chain,
  path: string,
  scanId: string | null,
  body: Buffer,
  options: { contentType?: string; headers?: Record<string, string>; agent?: Dispatcher; scannerId?: string } = {},
): Promise<Answer> {
  return send(options.agent ?? (await chain.scannerAgent(options.scannerId)), `${chain.edgeUrl(options.scannerId)}${path}`, {
    method: 'POST',
    headers: { ...edgePostHeaders(chain, scanId, body, options.contentType, options.scannerId), ...options.headers },
    body,
  });
}

/**
 * A DSSE envelope the worker signs for `scanId`, naming the certificate it presents (default: a
 * random `sbom.json` digest); `extra` adds top-level JSON members (DSSE ignores unknown fields).
 */
export async function workerEnvelope(
  chain: Chain,
  worker: ChainWorker,
  scanId: string,
  options: { artifact?: { name: string; sha256: string }; extra?: Record<string, string> } = {},
): Promise<Buffer> {
  const bytes = await worker.setup.createEnvelope({
    artifact: options.artifact ?? { name: 'sbom.json', sha256: sha256Hex(randomBytes(16)) },
    intent: {
      scanId,
      topology: chain.topology.name,
      edgeHop: 'gw-edge',
      clientCertSha256: worker.setup.credentials.current().fingerprint,
      nonce: randomBytes(16).toString('hex'),
      issuedAt: new Date().toISOString(),
    },
  });
  if (!options.extra || Object.keys(options.extra).length === 0) return Buffer.from(bytes);
  return Buffer.from(JSON.stringify({ ...(JSON.parse(Buffer.from(bytes).toString('utf8')) as object), ...options.extra }));
}

/** A stored evidence record as `GET /api/v1/evidence/{sha256}` answers it. */
export interface StoredEvidence {
  sha256: string;
  scanId: string;
  hops: Array<{ id: string; seq: number; ts: number; nonce: string; peer: string; peerId: string; kid: string }>;
  envelope: unknown;
  receipt: unknown;
}

/** Reads one record back through the edge; fails the test unless it is there. */
export async function storedEvidence(chain: Chain, sha256: string, scanId: string): Promise<StoredEvidence> {
  const answer = await edgeGet(chain, `/api/v1/evidence/${sha256}`, scanId);
  if (answer.status !== 200) throw new Error(`GET /api/v1/evidence/${sha256}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  return answer.json as StoredEvidence;
}

/**
 * How many records the locker lists for a scan, asked through the edge as the scan's scanner; a
 * scan nothing was stored under answers 404 `scan-not-found` (docs/services.md), which is 0 here.
 */
export async function storedCount(chain: Chain, scanId: string): Promise<number> {
  const answer = await edgeGet(chain, `/api/v1/scans/${scanId}/evidence`, scanId);
  if (answer.status === 404 && problemCode(answer) === 'scan-not-found') return 0;
  if (answer.status !== 200) throw new Error(`GET /api/v1/scans/${scanId}/evidence: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  return (answer.json as { evidence: unknown[] }).evidence.length;
}

/** Verifies a receipt with the locker's public key `<receiptKey>.pub`. */
export async function checkReceipt(chain: Chain, receipt: unknown, envelopeSha256: string): Promise<VerifiedReceipt> {
  const service = chain.topology.services[0];
  if (!service?.receiptKey) throw new TypeError('the topology has no receipt key');
  const publicKey = await loadKeyFile(`${service.receiptKey}.pub`);
  return verifyReceipt(parseEnvelope(JSON.stringify(receipt)), { publicKey, expectedEnvelopeSha256: envelopeSha256 });
}

/** Verifies a stored envelope with the scanner's own signing key(s); returns its traversal intent. */
export async function checkEnvelopeSignature(chain: Chain, envelope: unknown, scannerId?: string): Promise<{ intent: TraversalIntent; subjectSha256: string | undefined; acceptedKeyids: string[] }> {
  const scanner = chain.scanner(scannerId);
  const verifiers = await Promise.all(scanner.signing.keys.map(async (k) => createVerifier(await loadKeyFile(k.publicFile ?? k.file), k.kid)));
  const verified = await verifyEnvelope(parseEnvelope(JSON.stringify(envelope)), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers });
  const statement = parseStatement(verified.payload);
  return { intent: parseTraversalIntent(statement), subjectSha256: statement.subject[0]?.digest.sha256, acceptedKeyids: verified.accepted.map((a) => a.keyid) };
}

/** SHA-256 fingerprint (`sha256:<hex>`) of a PEM certificate file's first certificate. */
export async function fingerprintOf(certFile: string): Promise<string> {
  const pem = await readFile(certFile, 'utf8');
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!match?.[1]) throw new TypeError(`${certFile}: no certificate`);
  return `sha256:${sha256Hex(Buffer.from(match[1].replace(/\s+/g, ''), 'base64'))}`;
}

/** The real scanner worker of a chain, with its own outbox in the deployment folder. */
export interface ChainWorker {
  readonly setup: ScannerSetup;
  readonly outbox: Outbox;
  readonly events: DeliveryEvent[];
  /** Writes the artifacts to files and submits them for `scanId`. */
  submit(scanId: string, artifacts: Record<string, string | Buffer>, options?: { maxAttempts?: number }): Promise<SubmitResult[]>;
  close(): Promise<void>;
}

let workers = 0;

/**
 * Starts a worker for the chain's first scanner (or `scannerId`). The client certificate comes from the issued
 * files of the deployment (`files` source, re-read when they change) unless `credentials` are given.
 */
export async function startWorker(chain: Chain, options: ScannerSetupOptions = {}, scannerId?: string): Promise<ChainWorker> {
  const n = ++workers;
  const scanner = chain.scanner(scannerId);
  const setup = await deliveryOptionsFor(chain.topology, scanner.id, { certificateSource: 'files', certificatePollIntervalMs: 200, timeoutMs: 15_000, ...options });
  const outbox = Outbox.open(join(chain.workDir, 'var', `${scanner.id}-${process.pid}-${n}.outbox.db`));
  const artifactsDir = join(chain.workDir, 'artifacts', String(n));
  mkdirSync(artifactsDir, { recursive: true });
  const events: DeliveryEvent[] = [];
  return {
    setup,
    outbox,
    events,
    async submit(scanId, artifacts, submitOptions = {}) {
      const files = Object.entries(artifacts).map(([name, content]) => {
        const file = join(artifactsDir, name);
        writeFileSync(file, content);
        return file;
      });
      return submitArtifacts({
        ...setup,
        outbox,
        scanId,
        files,
        maxAttempts: submitOptions.maxAttempts ?? 1,
        deadlineMs: 60_000,
        backoff: { baseMs: 50, capMs: 200 },
        onEvent: (event) => events.push(event),
      });
    },
    async close() {
      outbox.close();
      await setup.close();
    },
  };
}

/**
 * One chain and its worker for the enclosing test file or `describe` (node:test `before`/`after`):
 * `set` receives them once started, for the caller's own variables. Every test sharing them uses
 * its own scan ids.
 */
export function useChain(topologyFile: string, set: (chain: Chain, worker: ChainWorker) => void, options: Partial<PrepareOptions> = {}): void {
  let chain: Chain | undefined;
  let worker: ChainWorker | undefined;
  before(async () => {
    chain = await startChain(topologyFile, options);
    worker = await startWorker(chain);
    set(chain, worker);
  });
  after(async () => {
    await worker?.close();
    await chain?.close();
  });
}
