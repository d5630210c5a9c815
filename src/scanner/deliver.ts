/**
 * One delivery attempt of one outbox item (docs/scanner.md): choose the client certificate, sign (or reuse
 * the frozen envelope), POST through the edge, check the receipt, then send the artifact's bytes.
 *
 * The envelope is signed at send time with the certificate that will be presented (docs/dsse.md: the
 * traversal intent names its fingerprint) and frozen in the outbox *before* it leaves, so a retry
 * resends the very same bytes and the locker, idempotent by envelope SHA-256, stores it once. Only
 * when the certificate changed since the envelope was signed must it be re-signed (the old intent
 * would no longer match hop 1's `peer` → `binding-mismatch`); the locker is asked first whether the
 * old envelope already arrived, so even then the artifact is stored once (docs/scanner.md).
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { TraversalIntent } from '../dsse/index.js';
import type { AgentPool, ClientCredentials } from './credentials.js';
import { ScannerError } from './errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, lookupEnvelope, postArtifact, postEnvelope, requestIdMember } from './http.js';
import type { ArtifactAnswer, EdgeEndpoint, ReceiptAnswer } from './http.js';
import type { Outbox, OutboxItem } from './outbox.js';

/** The traversal intent of docs/dsse.md (the DSSE library's type; re-exported for callers of this module). */
export type { TraversalIntent };

/** What gets signed: the artifact (subject) and the intent (predicate). */
export interface EnvelopeInput {
  artifact: { name: string; sha256: string };
  intent: TraversalIntent;
}

/** Builds and signs the DSSE envelope; returns its exact serialized bytes. See `signing.ts`. */
export type EnvelopeFactory = (input: EnvelopeInput) => Promise<Uint8Array>;

/**
 * Checks a receipt against the locker's key and the envelope it must cover (lower-case hex
 * SHA-256). Throws on failure; any throw marks the item `SCANNER_RECEIPT_INVALID`.
 */
export type ReceiptVerifier = (receipt: unknown, envelopeSha256: string) => Promise<void>;

/** Everything one delivery needs; built once per worker. */
export interface DeliveryOptions {
  endpoint: EdgeEndpoint;
  topologyName: string;
  edgeHop: string;
  credentials: ClientCredentials;
  pool: AgentPool;
  createEnvelope: EnvelopeFactory;
  /** Absent when no receipt key is configured: the receipt is then stored unverified. */
  verifyReceipt?: ReceiptVerifier | undefined;
  timeoutMs?: number | undefined;
  /** Clock in Unix milliseconds. */
  now?: (() => number) | undefined;
  /** Source of nonce bytes. */
  randomBytes?: ((size: number) => Uint8Array) | undefined;
  /** Fresh re-sends after `401 provenance-stale` within one attempt; default {@link DEFAULT_MAX_STALE_RESENDS}. */
  maxStaleResends?: number | undefined;
}

/** A successful delivery. */
export interface Delivered {
  status: number;
  envelopeSha256: string;
  /** The receipt envelope as JSON text, as stored in the outbox. */
  receipt: string;
  /** True when the envelope was found already stored (after a certificate change or an unknown outcome) rather than posted. */
  found: boolean;
  /** The `X-Request-Id` of the answer that carried the receipt, when it had one (docs/operations/running.md#the-request-id). */
  requestId?: string;
  /** The locker's answer to the artifact's bytes, sent after the statement (docs/services.md#artifacts). */
  artifact: ArtifactAnswer;
}

/**
 * Runs one attempt for `item`: the signed statement first (its receipt checked), then the
 * artifact's bytes, which the locker takes only once a stored statement of the scan names their
 * digest (docs/services.md#artifacts). The item is delivered only when both are stored; a failed
 * upload leaves it pending (or rejected), and the retry resends the frozen envelope, which the
 * locker answers with the original receipt, then the bytes again (stored once per scan and digest).
 * Does not change the item's state (the worker does, from the result or the thrown {@link ScannerError}).
 */
export async function attemptDelivery(outbox: Outbox, item: OutboxItem, options: DeliveryOptions): Promise<Delivered> {
  const statement = await deliverStatement(outbox, item, options);
  const now = options.now ?? Date.now;
  const agent = options.pool.agentFor(options.credentials.current());
  const artifact = await postArtifact(agent, options.endpoint, item.scanId, { sha256: item.artifactSha256, bytes: item.bytes }, options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, now());
  return { ...statement, artifact };
}

/** The statement part of an attempt. Saves the envelope in the outbox before sending. */
async function deliverStatement(outbox: Outbox, item: OutboxItem, options: DeliveryOptions): Promise<Omit<Delivered, 'artifact'>> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // One snapshot decides both the fingerprint signed into the intent and the pool that presents it.
  const material = options.credentials.current();

  let envelope = item.envelope;
  let envelopeSha256 = item.envelopeSha256;
  if (envelope && envelopeSha256 && item.clientFingerprint !== material.fingerprint) {
    // The certificate rotated since this envelope was signed (and maybe sent, before a crash).
    const found = await lookupEnvelope(options.pool.agentFor(material), options.endpoint, item.scanId, envelopeSha256, timeoutMs, now());
    if (found) return accept(found, envelopeSha256, true, options);
    envelope = null;
  }
  if (!envelope) {
    const intent: TraversalIntent = {
      scanId: item.scanId,
      topology: options.topologyName,
      edgeHop: options.edgeHop,
      clientCertSha256: material.fingerprint,
      nonce: Buffer.from((options.randomBytes ?? nodeRandomBytes)(16)).toString('hex'),
      issuedAt: new Date(now()).toISOString(),
    };
    let signed: Uint8Array;
    try {
      signed = await options.createEnvelope({ artifact: { name: item.name, sha256: item.artifactSha256 }, intent });
    } catch (error) {
      throw new ScannerError('SCANNER_CONFIG', `cannot sign the envelope: ${(error as Error).message}`, { cause: error });
    }
    outbox.saveEnvelope(item.id, signed, material.fingerprint);
    const saved = outbox.get(item.id);
    envelope = saved?.envelope ?? Buffer.from(signed);
    envelopeSha256 = saved?.envelopeSha256 ?? null;
  }
  if (!envelopeSha256) throw new TypeError('attemptDelivery: envelope digest missing after save');

  const agent = options.pool.agentFor(material);
  const digest = envelopeSha256;
  const lookUp = async (): Promise<ReceiptAnswer | null> => lookupEnvelope(agent, options.endpoint, item.scanId, digest, timeoutMs, now()).catch(() => null);
  if (item.attempts > 1 && envelope === item.envelope && lastOutcomeUnknown(item)) {
    // The previous attempt may have been stored after all (docs/scanner.md#unknown-outcomes): ask
    // before sending the same bytes through the chain (and its WAF) again.
    const found = await lookUp();
    if (found) return accept(found, digest, true, options);
  }
  const maxStaleResends = options.maxStaleResends ?? DEFAULT_MAX_STALE_RESENDS;
  for (let resend = 0; ; resend++) {
    try {
      const answer = await postEnvelope(agent, options.endpoint, item.scanId, envelope, timeoutMs, now());
      return accept(answer, digest, false, options);
    } catch (error) {
      // A hop record aged or out of order on the way (clock skew between gateways): a fresh request
      // is stamped anew by every hop, so it is sent again at once, a bounded number of times.
      if (isStale(error) && resend < maxStaleResends) continue;
      if (outcomeUnknown(error)) {
        const found = await lookUp();
        if (found) return accept(found, digest, true, options);
      }
      throw error;
    }
  }
}

/** Fresh re-sends after `401 provenance-stale` within one attempt when none is configured. */
export const DEFAULT_MAX_STALE_RESENDS = 2;
/** The problem code of a hop record outside the allowed time window (docs/provenance.md). */
const PROVENANCE_STALE = 'provenance-stale';
/** Answers a gateway gives when it stopped waiting for the hops behind it, which may still store. */
const GATEWAY_GAVE_UP = new Set([502, 504]);

function isStale(error: unknown): boolean {
  return error instanceof ScannerError && error.status === 401 && error.problemCode === PROVENANCE_STALE;
}

/** Whether a failed POST may nonetheless have been stored: no answer, a broken connection, a gateway timeout. */
function outcomeUnknown(error: unknown): boolean {
  if (!(error instanceof ScannerError)) return false;
  if (error.code === 'SCANNER_TIMEOUT' || error.code === 'SCANNER_NETWORK') return true;
  return error.status !== undefined && GATEWAY_GAVE_UP.has(error.status);
}

/** The same question for the outcome an item's last attempt left in the outbox. */
function lastOutcomeUnknown(item: OutboxItem): boolean {
  if (item.lastErrorCode === 'SCANNER_TIMEOUT' || item.lastErrorCode === 'SCANNER_NETWORK') return true;
  return item.lastStatus !== null && GATEWAY_GAVE_UP.has(item.lastStatus);
}

async function accept(answer: ReceiptAnswer, envelopeSha256: string, found: boolean, options: DeliveryOptions): Promise<Omit<Delivered, 'artifact'>> {
  if (options.verifyReceipt) {
    try {
      await options.verifyReceipt(answer.receipt, envelopeSha256);
    } catch (error) {
      const detail = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
      throw new ScannerError('SCANNER_RECEIPT_INVALID', `receipt rejected: ${detail}`, { status: answer.status, ...requestIdMember(answer.requestId), cause: error });
    }
  }
  return { status: answer.status, envelopeSha256, receipt: JSON.stringify(answer.receipt), found, ...requestIdMember(answer.requestId) };
}
