/**
 * A real mTLS HTTPS server on 127.0.0.1 standing in for the edge + locker (the scanner tests
 * need no real gateway chain): it requires a client certificate from the test CA, checks the
 * headers the worker must set (docs/provenance.md), verifies the DSSE envelope with the scanner's key, checks
 * that the traversal intent names the certificate it actually saw, stores idempotently by
 * envelope SHA-256 and answers with a receipt built by the locker's own `buildReceipt` (docs/services.md).
 *
 * `plan` holds answers to give before behaving normally: 'pass' (behave normally), a status (with
 * a problem body), or
 * 'drop' to destroy the connection without answering, 'store-and-504' to store it and answer 504
 * as a gateway that stopped waiting would, or 'store-and-drop' to store the envelope
 * and then lose the answer (the worker cannot know it arrived), or 'hang' to never answer;
 * 'store-and-hang' stores and never answers (the worker gets killed while waiting).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  IN_TOTO_PAYLOAD_TYPE, createSigner, createVerifier, loadKeyFile, parseEnvelope, parseStatement, parseTraversalIntent,
  serializeEnvelope, verifyEnvelope,
} from '../../../src/dsse/index.js';
import { buildReceipt } from '../../../src/evidence/receipt.js';
import type { TestDeployment } from './deployment.js';

/** What the stand-in saw of one request. */
export interface SeenRequest {
  method: string;
  path: string;
  scanId: string | undefined;
  contentDigest: string | undefined;
  host: string | undefined;
  /** `sha256:<hex>` of the client certificate presented in the TLS handshake. */
  peerFingerprint: string | undefined;
  /** The intent's `clientCertSha256`, when the envelope verified. */
  intentFingerprint?: string;
  status: number;
}

/** A planned answer. */
export type PlannedAnswer = number | 'pass' | 'drop' | 'hang' | 'store-and-drop' | 'store-and-hang' | 'store-and-504' | { status: number; retryAfter?: string; code?: string };

/** The running stand-in edge. */
export interface FakeEdge {
  port: number;
  seen: SeenRequest[];
  /** Envelope SHA-256 → what was stored; one entry per distinct envelope. */
  stored: Map<string, { scanId: string; receipt: string; artifactSha256: string }>;
  plan: PlannedAnswer[];
  /**
   * Artifact uploads (`POST /api/v1/artifacts/{sha256}`, docs/services.md#artifacts): digest →
   * bytes and the scans that reference them. They do not consume `plan`; `artifactPlan` holds
   * statuses to answer uploads with before behaving normally.
   */
  artifacts: Map<string, { bytes: Buffer; scanIds: Set<string> }>;
  artifactPlan: number[];
  /** What the stand-in saw of artifact uploads (kept apart from `seen`, the statement requests). */
  artifactSeen: SeenRequest[];
  /** Stops listening and drops open connections (the edge "goes down"). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

const SCAN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Starts the stand-in on `port` (which the topology of `deployment` names as the edge). */
export async function startFakeEdge(deployment: TestDeployment, port: number): Promise<FakeEdge> {
  const scannerKey = createVerifier(await loadKeyFile(deployment.hmacKeyFile), 'scanner-01-hmac');
  const receiptSigner = createSigner(await loadKeyFile(deployment.receiptPrivateKeyFile), 'locker-receipt');
  const edge: FakeEdge = { port, seen: [], stored: new Map(), plan: [], artifacts: new Map(), artifactPlan: [], artifactSeen: [], stop: async () => undefined, start: async () => undefined };
  let server: Server | undefined;

  const problem = (res: ServerResponse, status: number, code: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/problem+json', ...extra });
    res.end(JSON.stringify({ type: 'about:blank', title: code, status, code }));
  };

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    const seen: SeenRequest = {
      method: req.method ?? '', path: req.url ?? '', scanId: header(req, 'x-stella-scan-id'), contentDigest: header(req, 'content-digest'),
      host: header(req, 'host'), peerFingerprint: peer.raw ? `sha256:${createHash('sha256').update(peer.raw).digest('hex')}` : undefined, status: 0,
    };
    const answer = (status: number): void => { seen.status = status; };
    const artifactMatch = /^\/api\/v1\/artifacts\/([0-9a-f]{64})$/.exec(seen.path);
    (artifactMatch ? edge.artifactSeen : edge.seen).push(seen);
    if (req.method === 'POST' && artifactMatch?.[1]) {
      const status = edge.artifactPlan.shift() ?? storeArtifact(artifactMatch[1], seen, body);
      answer(status);
      if (status >= 300) { problem(res, status, status === 422 ? 'binding-mismatch' : `planned-${status}`); return; }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sha256: artifactMatch[1], scanId: seen.scanId, size: body.length, created: status === 201 }));
      return;
    }
    const planned = edge.plan.shift();
    const dropAfterStore = planned === 'store-and-drop';
    const hangAfterStore = planned === 'store-and-hang';
    const gatewayTimeoutAfterStore = planned === 'store-and-504';
    if (planned === 'drop') { answer(0); socket.destroy(); return; }
    if (planned === 'hang') { answer(0); return; }
    if (planned !== undefined && planned !== 'pass' && !dropAfterStore && !hangAfterStore && !gatewayTimeoutAfterStore) {
      const p = typeof planned === 'number' ? { status: planned } : planned;
      answer(p.status);
      problem(res, p.status, p.code ?? `planned-${p.status}`, p.retryAfter ? { 'retry-after': p.retryAfter } : {});
      return;
    }
    if (!seen.scanId || !SCAN_ID.test(seen.scanId)) { answer(401); problem(res, 401, 'provenance-missing'); return; }
    const getMatch = /^\/api\/v1\/evidence\/([0-9a-f]{64})$/.exec(seen.path);
    if (req.method === 'GET' && getMatch?.[1]) {
      const hit = edge.stored.get(getMatch[1]);
      if (!hit) { answer(404); problem(res, 404, 'not-found'); return; }
      answer(200);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"receipt":${hit.receipt}}`);
      return;
    }
    if (req.method !== 'POST' || seen.path !== '/api/v1/evidence') { answer(404); problem(res, 404, 'not-found'); return; }
    if (seen.contentDigest !== `sha-256=:${createHash('sha256').update(body).digest('base64')}:`) { answer(422); problem(res, 422, 'binding-mismatch'); return; }
    let intentFingerprint: string;
    let artifactSha256: string;
    let scanIdInEnvelope: string;
    try {
      const verified = await verifyEnvelope(parseEnvelope(JSON.parse(body.toString('utf8'))), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [scannerKey] });
      const statement = parseStatement(verified.payload);
      const intent = parseTraversalIntent(statement);
      intentFingerprint = intent.clientCertSha256;
      scanIdInEnvelope = intent.scanId;
      artifactSha256 = statement.subject[0]?.digest.sha256 ?? '';
    } catch {
      answer(401); problem(res, 401, 'envelope-invalid'); return;
    }
    seen.intentFingerprint = intentFingerprint;
    if (intentFingerprint !== seen.peerFingerprint || scanIdInEnvelope !== seen.scanId) { answer(422); problem(res, 422, 'binding-mismatch'); return; }
    const envelopeSha256 = createHash('sha256').update(body).digest('hex');
    const existing = edge.stored.get(envelopeSha256);
    if (existing) {
      answer(200);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"receipt":${existing.receipt},"sha256":"${envelopeSha256}"}`);
      return;
    }
    const receipt = serializeEnvelope(
      await buildReceipt(
        {
          envelopeSha256, service: 'evidence-locker', topology: 'scanner-test', scanId: seen.scanId, receivedAt: new Date().toISOString(),
          // The stand-in has no gateways: hop 1 is "itself", named after the peer it saw.
          hops: [{ id: 'gw-edge', seq: 1, ts: Math.floor(Date.now() / 1000), peer: seen.peerFingerprint ?? '', peerId: 'scanner-01', kid: 'edge-1' }],
          verification: { provenance: 'verified', binding: 'verified', envelope: { result: 'verified', payloadType: IN_TOTO_PAYLOAD_TYPE, threshold: 1, acceptedKeyids: ['scanner-01-hmac'] } },
        },
        receiptSigner,
      ),
    );
    edge.stored.set(envelopeSha256, { scanId: seen.scanId, receipt, artifactSha256 });
    if (dropAfterStore) { answer(0); socket.destroy(); return; }
    if (hangAfterStore) { answer(0); return; }
    // An edge that stopped waiting while the locker went on to store (docs/gateways/README.md#timeouts).
    if (gatewayTimeoutAfterStore) { answer(504); problem(res, 504, 'gateway-timeout'); return; }
    answer(201);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(`{"receipt":${receipt},"sha256":"${envelopeSha256}"}`);
  }

  /** The locker's checks of an upload: bytes bound by Content-Digest and path, named by a stored statement. */
  function storeArtifact(sha256: string, seen: SeenRequest, body: Buffer): number {
    const actual = createHash('sha256').update(body);
    if (seen.contentDigest !== `sha-256=:${actual.copy().digest('base64')}:` || actual.digest('hex') !== sha256) return 422;
    if (![...edge.stored.values()].some((s) => s.scanId === seen.scanId && s.artifactSha256 === sha256)) return 422;
    const entry = edge.artifacts.get(sha256) ?? { bytes: body, scanIds: new Set<string>() };
    edge.artifacts.set(sha256, entry);
    if (entry.scanIds.has(seen.scanId!)) return 200;
    entry.scanIds.add(seen.scanId!);
    return 201;
  }

  edge.start = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(
        {
          key: readFileSync(deployment.edge.key), cert: readFileSync(deployment.edge.chain), ca: readFileSync(deployment.caBundle),
          requestCert: true, rejectUnauthorized: true,
        },
        (req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => { handle(req, res, Buffer.concat(chunks)).catch((e: unknown) => { res.destroy(e as Error); }); });
        },
      );
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => { server = s; resolve(); });
    });
  edge.stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (!s) { resolve(); return; }
      s.close(() => resolve());
      s.closeAllConnections();
    });
  await edge.start();
  return edge;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `sha256:<hex>` of a PEM certificate file's DER, computed independently of the code under test. */
export function fileFingerprint(pemFile: string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(readFileSync(pemFile)).raw).digest('hex')}`;
}
