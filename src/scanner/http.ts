/**
 * The two requests the worker sends to the edge (docs/provenance.md, docs/scanner.md), and how their answers map onto
 * {@link ScannerError} codes. No outbox, no retries here: one request, one classified outcome.
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { WIRE_HEADERS } from '../conventions/index.js';
import { isAcceptableRequestId } from '../observe/request-id.js';
import { ARTIFACTS_PATH, ARTIFACT_MEDIA_TYPE } from '../evidence/artifacts.js';
import { parseRetryAfter } from './backoff.js';
import { ScannerError } from './errors.js';

/** Path of the Evidence Locker's ingest endpoint (docs/scanner.md). */
export const EVIDENCE_PATH = '/api/v1/evidence';
/** Whole-request timeout (connect, send, answer) when none is configured. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Largest answer body the worker reads; receipts and problems are far smaller. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Where and how to reach the edge. */
export interface EdgeEndpoint {
  /** `https://host:port` of the edge hop's `listen`. */
  origin: string;
  /** SNI, certificate name check and Host header: the edge hop's `serverName` (CONVENTIONS). */
  servername: string;
}

/** A 2xx answer carrying a receipt. */
export interface ReceiptAnswer {
  status: number;
  /** The answer's `X-Request-Id`, when it carried an acceptable one: the id the chain's logs know this request by. */
  requestId?: string;
  /** The receipt DSSE envelope as the locker sent it (parsed JSON, not yet verified). */
  receipt: unknown;
}

/** `Content-Digest` (RFC 9530 §2) of exact body bytes: `sha-256=:<base64>:`. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** Host header value matching the SNI, so gateways that compare them (Caddy) accept it. */
export function hostHeader(endpoint: EdgeEndpoint): string {
  const url = new URL(endpoint.origin);
  return url.port && url.port !== '443' ? `${endpoint.servername}:${url.port}` : endpoint.servername;
}

/**
 * POSTs a DSSE envelope to `/api/v1/evidence` with the headers of docs/provenance.md and returns the receipt.
 *
 * @throws ScannerError classified by {@link classifyFailure} / {@link classifyStatus}.
 */
export async function postEnvelope(
  dispatcher: Dispatcher,
  endpoint: EdgeEndpoint,
  scanId: string,
  envelope: Uint8Array,
  timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS,
  nowMs: number = Date.now(),
): Promise<ReceiptAnswer> {
  const answer = await send(dispatcher, new URL(EVIDENCE_PATH, endpoint.origin), timeoutMs, nowMs, {
    method: 'POST',
    headers: {
      host: hostHeader(endpoint),
      'content-type': 'application/json',
      [WIRE_HEADERS.contentDigest]: contentDigest(envelope),
      [WIRE_HEADERS.scanId]: scanId,
    },
    body: Buffer.from(envelope),
  });
  return { status: answer.status, receipt: receiptOf(answer.body), ...requestIdMember(answer.requestId) };
}

/** The locker's answer to an artifact upload (docs/services.md#artifacts). */
export interface ArtifactAnswer {
  status: number;
  /** As {@link ReceiptAnswer.requestId}. */
  requestId?: string;
  /** False when the scan referenced the digest before (a retry): nothing was written. */
  created: boolean;
}

/**
 * POSTs an artifact's exact bytes to `/api/v1/artifacts/{sha256}` after its statement was stored:
 * `Content-Digest` covers the bytes, so every hop MAC does too (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 8).
 *
 * @throws ScannerError classified like {@link postEnvelope}'s.
 */
export async function postArtifact(
  dispatcher: Dispatcher,
  endpoint: EdgeEndpoint,
  scanId: string,
  artifact: { sha256: string; bytes: Uint8Array },
  timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS,
  nowMs: number = Date.now(),
): Promise<ArtifactAnswer> {
  const answer = await send(dispatcher, new URL(`${ARTIFACTS_PATH}/${artifact.sha256}`, endpoint.origin), timeoutMs, nowMs, {
    method: 'POST',
    headers: {
      host: hostHeader(endpoint),
      'content-type': ARTIFACT_MEDIA_TYPE,
      [WIRE_HEADERS.contentDigest]: contentDigest(artifact.bytes),
      [WIRE_HEADERS.scanId]: scanId,
    },
    body: Buffer.from(artifact.bytes.buffer, artifact.bytes.byteOffset, artifact.bytes.byteLength),
  });
  const created = typeof answer.body === 'object' && answer.body !== null ? (answer.body as { created?: unknown }).created : undefined;
  if (typeof created !== 'boolean') throw new ScannerError('SCANNER_RESPONSE_MALFORMED', 'the artifact answer does not say whether it was created');
  return { status: answer.status, created, ...requestIdMember(answer.requestId) };
}

/**
 * Reads an artifact back through the chain (`GET /api/v1/artifacts/{sha256}`, scoped by the scan
 * id) and hashes it as it streams in, never holding it whole: what an auditor or the demo checks.
 *
 * @throws ScannerError classified like the other requests (404 `artifact-not-found` → SCANNER_REJECTED).
 */
export async function fetchArtifactDigest(
  dispatcher: Dispatcher,
  endpoint: EdgeEndpoint,
  scanId: string,
  sha256: string,
  timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<{ size: number; sha256: string; contentDigest: string | undefined }> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(new URL(`${ARTIFACTS_PATH}/${sha256}`, endpoint.origin), {
      method: 'GET',
      dispatcher,
      headers: { host: hostHeader(endpoint), [WIRE_HEADERS.scanId]: scanId },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw classifyFailure(error);
  }
  if (response.statusCode !== 200) {
    let body: unknown;
    try {
      body = JSON.parse(await readLimited(response.body));
    } catch {
      body = undefined;
    }
    throw classifyStatus(response.statusCode, body, undefined, answeredRequestId(response.headers));
  }
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += buf.length;
      hash.update(buf);
    }
  } catch (error) {
    throw classifyFailure(error);
  }
  const digest = response.headers[WIRE_HEADERS.contentDigest];
  return { size, sha256: hash.digest('hex'), contentDigest: Array.isArray(digest) ? digest[0] : digest };
}

/**
 * Asks the locker whether an envelope is already stored (`GET /api/v1/evidence/{sha256}`, docs/scanner.md).
 * Returns its receipt, or null on 404. Used before re-signing an item whose client certificate
 * changed, so an envelope that did arrive before a crash is not stored a second time.
 */
export async function lookupEnvelope(
  dispatcher: Dispatcher,
  endpoint: EdgeEndpoint,
  scanId: string,
  envelopeSha256: string,
  timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS,
  nowMs: number = Date.now(),
): Promise<ReceiptAnswer | null> {
  const url = new URL(`${EVIDENCE_PATH}/${envelopeSha256}`, endpoint.origin);
  try {
    const answer = await send(dispatcher, url, timeoutMs, nowMs, {
      method: 'GET',
      headers: { host: hostHeader(endpoint), [WIRE_HEADERS.scanId]: scanId },
    });
    return { status: answer.status, receipt: receiptOf(answer.body), ...requestIdMember(answer.requestId) };
  } catch (error) {
    if (error instanceof ScannerError && error.status === 404) return null;
    throw error;
  }
}

async function send(
  dispatcher: Dispatcher,
  url: URL,
  timeoutMs: number,
  nowMs: number,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: Buffer },
): Promise<{ status: number; body: unknown; requestId: string | undefined }> {
  let status: number;
  let headers: Record<string, string | string[] | undefined>;
  let text: string;
  try {
    const response = await request(url, { ...init, dispatcher, signal: AbortSignal.timeout(timeoutMs) });
    status = response.statusCode;
    headers = response.headers;
    text = await readLimited(response.body);
  } catch (error) {
    throw classifyFailure(error);
  }
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Gateways answer errors in HTML; the status alone then decides.
  }
  const requestId = answeredRequestId(headers);
  if (status === 200 || status === 201) return { status, body, requestId };
  const retryAfter = headers['retry-after'];
  throw classifyStatus(status, body, parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, nowMs), requestId);
}

/**
 * The `X-Request-Id` an answer carries: the services echo the id the edge gave the request, so the
 * worker's log line and the chain's lines share it. Kept only in the form the services honour
 * (visible ASCII, 1–128 characters): it is the server's text, logged as is.
 */
function answeredRequestId(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers[WIRE_HEADERS.requestId];
  return isAcceptableRequestId(value) ? value : undefined;
}

/** `{ requestId }` when an answer carried one, else nothing (no `undefined` member). */
export function requestIdMember(requestId: string | undefined): { requestId?: string } {
  return requestId === undefined ? {} : { requestId };
}

async function readLimited(body: AsyncIterable<Buffer | string> & { destroy?: () => void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy?.();
      throw new ScannerError('SCANNER_RESPONSE_MALFORMED', `answer larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function receiptOf(body: unknown): unknown {
  const receipt = typeof body === 'object' && body !== null ? (body as { receipt?: unknown }).receipt : undefined;
  const ok = typeof receipt === 'object' && receipt !== null && typeof (receipt as { payload?: unknown }).payload === 'string'
    && Array.isArray((receipt as { signatures?: unknown }).signatures);
  if (!ok) throw new ScannerError('SCANNER_RESPONSE_MALFORMED', 'the answer carries no receipt DSSE envelope');
  return receipt;
}

/**
 * Maps a non-2xx status onto a code (docs/scanner.md): 429, 5xx and 408 are transient; any other status
 * is a final rejection carrying the RFC 9457 problem `code` when the body has one.
 */
export function classifyStatus(status: number, body: unknown, retryAfterMs?: number, requestId?: string): ScannerError {
  const problem = typeof body === 'object' && body !== null ? (body as { code?: unknown; detail?: unknown; title?: unknown }) : {};
  const problemCode = typeof problem.code === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(problem.code) ? problem.code : undefined;
  const said = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : '';
  const message = `HTTP ${status}${problemCode ? ` ${problemCode}` : ''}${said ? `: ${said.slice(0, 200)}` : ''}`;
  const details = { status, ...(problemCode ? { problemCode } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), ...requestIdMember(requestId) };
  if (status === 429 || status === 408 || status >= 500) return new ScannerError('SCANNER_UNAVAILABLE', message, details);
  return new ScannerError('SCANNER_REJECTED', message, details);
}

/** Maps a thrown transport error onto `SCANNER_TIMEOUT` or `SCANNER_NETWORK` (both retried). */
export function classifyFailure(error: unknown): ScannerError {
  if (error instanceof ScannerError) return error;
  const name = (error as { name?: unknown }).name;
  const code = (error as { code?: unknown }).code;
  if (name === 'TimeoutError' || name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new ScannerError('SCANNER_TIMEOUT', 'no answer within the request timeout', { cause: error });
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = [code, cause?.code, (error as Error).message].filter((x) => typeof x === 'string' && x).join(': ');
  return new ScannerError('SCANNER_NETWORK', `edge unreachable: ${detail}`, { cause: error });
}
