/**
 * The evidence store: where the Evidence Locker keeps accepted envelopes with their verified hop
 * chain and receipt, and where the Scanner WebService keeps scans (docs/services.md).
 *
 * Two implementations share this contract and one test suite (`test/storage/contract.ts`):
 * SQLite (embedded default) and PostgreSQL (several instances on one database).
 */
import { createHash } from 'node:crypto';
import { SHA256_HEX_PATTERN } from '../conventions/index.js';
import { StellaError } from '../errors/base.js';
import type { CodeOf } from '../errors/registry.js';
import { STORAGE_ERRORS } from './errors.js';
import type { ArtifactStaging } from './staging.js';

/**
 * One verified hop of the chain as the locker stored it (docs/provenance.md#2-headers, the record fields). With `mac` and the
 * record's {@link StoredRequest}, an auditor holding the hop keys recomputes the chain offline
 * (`evidence verify --hop-keys`, docs/services.md#offline-verification).
 */
export interface StoredHop {
  readonly id: string;
  readonly seq: number;
  /** Unix seconds when the hop stamped. */
  readonly ts: number;
  readonly nonce: string;
  /** `sha256:` + hex fingerprint of the certificate the hop's downstream presented. */
  readonly peer: string;
  readonly peerId: string;
  readonly kid: string;
  /** v1: standard padded base64 of the record's MAC, as in the header; absent in rows stored before MACs were kept. */
  readonly mac?: string;
  /** v2: the member's algorithm (docs/provenance.md#part-2-version-2). */
  readonly alg?: string;
  /** v2: standard padded base64 of the member's signature. */
  readonly signature?: string;
}

/**
 * The v2 members as the locker received them (only the profile's, other signatures left out):
 * with the {@link StoredRequest} and the scan id, anyone holding the hops' PUBLIC keys re-verifies
 * the chain offline (`evidence verify`, docs/services.md#offline-verification).
 */
export interface StoredV2Provenance {
  readonly signatureInput: string;
  readonly signature: string;
}

/**
 * The request facts the hop MACs cover besides the scan id (docs/provenance.md#3-the-mac), as the
 * service received them: what recomputing the chain needs.
 */
export interface StoredRequest {
  readonly method: string;
  /** The request target exactly as received (origin-form path and query). */
  readonly pathAndQuery: string;
  /** The `Content-Digest` field value as received, or null when absent. */
  readonly contentDigest: string | null;
}

/**
 * One accepted envelope. A row is written in one statement, so it exists whole or not at all.
 *
 * `sha256` is the lowercase hex SHA-256 of `envelope`, the exact request body bytes as received:
 * the bytes the worker's `Content-Digest` covers, so a retry of the same request maps to the
 * same row (docs/services.md).
 */
export interface EvidenceRecord {
  readonly sha256: string;
  readonly scanId: string;
  /**
   * The scanner that sent it: hop 1's `peer-id`, whose keys verified the envelope. The first
   * scanner to store evidence under a scan id owns that scan (docs/services.md#who-may-write-and-read).
   */
  readonly scannerId: string;
  readonly serviceId: string;
  readonly payloadType: string;
  readonly envelope: Uint8Array;
  readonly hops: readonly StoredHop[];
  /** The serialized traversal receipt (a DSSE envelope JSON document). */
  readonly receipt: string;
  /** RFC 3339 UTC time the locker accepted the envelope. */
  readonly receivedAt: string;
  /** The request facts the hop MACs cover; absent in rows stored before they were kept. */
  readonly request?: StoredRequest;
  /** Present when the chain was verified as v2. */
  readonly provenanceV2?: StoredV2Provenance;
}

/** What `putEvidence` answers: whether this call wrote the row, and the row as stored. */
export interface PutResult {
  /** `false` when the envelope was stored before: `record` is then the ORIGINAL row. */
  readonly created: boolean;
  readonly record: EvidenceRecord;
}

export type ScanStatus = 'registered' | 'completed';

/** A scan registered with the Scanner WebService. */
export interface ScanRecord {
  readonly scanId: string;
  readonly status: ScanStatus;
  /** The peer-id of the first hop's record: the scanner that registered the scan. */
  readonly scannerId: string;
  /** The JSON registration body as the scanner sent it (validated by the WebService). */
  readonly registration: unknown;
  readonly registeredAt: string;
  readonly completion: ScanCompletion | null;
}

/** A completed scan's signed completion report. */
export interface ScanCompletion {
  /** SHA-256 hex of the completion envelope bytes; completing twice with the same is idempotent. */
  readonly envelopeSha256: string;
  readonly envelope: Uint8Array;
  readonly report: unknown;
  readonly completedAt: string;
}

export interface NewScan {
  readonly scanId: string;
  readonly scannerId: string;
  readonly registration: unknown;
  readonly registeredAt: string;
}

/** Outcome of `completeScan`; the WebService maps each to a status (docs/services.md). */
export type CompleteResult =
  | { readonly outcome: 'completed'; readonly record: ScanRecord }
  | { readonly outcome: 'already-completed'; readonly record: ScanRecord }
  | { readonly outcome: 'conflict'; readonly record: ScanRecord }
  | { readonly outcome: 'not-found' };

/**
 * One artifact a scan's signed statement names, as stored by the locker (docs/services.md#artifacts).
 * The bytes are stored once per SHA-256; each scan that names them holds a reference.
 */
export interface NewArtifact {
  /** Lowercase hex SHA-256 of `bytes`: the subject digest of the statement that names it. */
  readonly sha256: string;
  readonly bytes: Uint8Array;
  /** The scan whose statement names the artifact, and its owner (hop 1's peer-id). */
  readonly scanId: string;
  readonly scannerId: string;
  /** The stored evidence (envelope SHA-256) whose statement's subject is this digest. */
  readonly evidenceSha256: string;
  /** RFC 3339 UTC time the locker accepted the bytes. */
  readonly storedAt: string;
}

/** One scan's reference to a stored artifact. */
export interface ArtifactRef {
  readonly sha256: string;
  readonly scanId: string;
  readonly scannerId: string;
  readonly evidenceSha256: string;
  /** Size of the stored bytes. */
  readonly size: number;
  /** When this scan's reference was written. */
  readonly referencedAt: string;
}

/** What `putArtifact` answers. */
export interface PutArtifactResult {
  /** `false` when this scan already referenced the digest: nothing was written. */
  readonly created: boolean;
  /** `true` when this call wrote the bytes; `false` when one copy was already stored (by any scan). */
  readonly bytesWritten: boolean;
  readonly ref: ArtifactRef;
}

/** A stored artifact read back in chunks, so a large one is never held whole in memory. */
export interface StoredArtifact {
  readonly sha256: string;
  readonly size: number;
  /** The bytes in order; each chunk at most {@link ARTIFACT_CHUNK_BYTES}. */
  chunks(): AsyncIterable<Buffer>;
}

/**
 * Size of one stored chunk of an artifact. Both stores keep an artifact as rows of this many bytes
 * (docs/services.md#artifacts: why chunked rows, not one BLOB or a PostgreSQL large object).
 */
export const ARTIFACT_CHUNK_BYTES = 1024 * 1024;

/** The store both services use. Every method resolves only after the change is durable. */
export interface EvidenceStore {
  /** Which implementation this is (for readiness output and logs). */
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Stores an accepted envelope, idempotent by `record.sha256`: when a row with that digest
   * exists (written before, concurrently, or by another instance) nothing is written and the
   * original row is returned with `created: false`.
   */
  putEvidence(record: EvidenceRecord): Promise<PutResult>;
  /**
   * Which scanner owns a scan id: the one whose evidence was stored under it first, or null.
   * `putEvidence` claims the scan in the same transaction as the row, so of two scanners racing
   * on a new scan id exactly one becomes the owner; the other's put fails with
   * {@link ScanConflictError} and writes nothing.
   */
  getScanOwner(scanId: string): Promise<string | null>;
  getEvidence(sha256: string): Promise<EvidenceRecord | null>;
  /** Evidence of one scan, oldest first. */
  listByScan(scanId: string): Promise<EvidenceRecord[]>;
  /** Registers a scan, idempotent by scan id: a second call returns the first row. */
  registerScan(scan: NewScan): Promise<{ created: boolean; record: ScanRecord }>;
  getScan(scanId: string): Promise<ScanRecord | null>;
  completeScan(scanId: string, completion: ScanCompletion): Promise<CompleteResult>;
  /**
   * Stores an artifact's bytes once per SHA-256 and the scan's reference to it, in one
   * transaction: after a crash either both are there or neither. When the bytes are already
   * stored (under any scan) only the reference is added; when the reference exists too, nothing.
   *
   * @throws TypeError when `bytes` do not hash to `sha256` (the caller checks the binding first).
   */
  putArtifact(artifact: NewArtifact): Promise<PutArtifactResult>;
  /**
   * Starts a streamed upload of the artifact that claims digest `sha256` (docs/services.md#artifacts):
   * its chunks are written as they arrive under an upload id no reader reaches, and become the
   * artifact only at {@link ArtifactStaging.commit}, with the reference, in one transaction. When
   * that digest is stored already, the bytes are only hashed, not written again.
   */
  stageArtifact(sha256: string): Promise<ArtifactStaging>;
  /** The stored bytes of a digest, or null. Callers scope reads with {@link getArtifactRef}. */
  getArtifact(sha256: string): Promise<StoredArtifact | null>;
  /** The reference of one scan to one digest, or null when that scan does not name it. */
  getArtifactRef(scanId: string, sha256: string): Promise<ArtifactRef | null>;
  /** Every artifact a scan references, oldest reference first. */
  listArtifactsByScan(scanId: string): Promise<ArtifactRef[]>;
  /** A cheap round trip to the database, for `/healthz/ready`. Throws when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Evidence for a scan that another scanner owns: nothing was written (services answer 409 `scan-conflict`). */
export class ScanConflictError extends StellaError {
  readonly code = 'scan-conflict';

  constructor(
    readonly scanId: string,
    readonly owner: string,
    readonly scannerId: string,
  ) {
    super(`scan ${scanId} belongs to another scanner; ${scannerId} cannot add evidence to it`);
  }

  /** {@link STORAGE_ERRORS}. */
  get registry(): typeof STORAGE_ERRORS {
    return STORAGE_ERRORS;
  }
}

/** The codes a {@link StorageError} carries (the others of {@link STORAGE_ERRORS} have their own classes). */
export const STORAGE_ERROR_CODES = ['storage-unavailable', 'storage-corrupt', 'storage-config'] as const satisfies readonly CodeOf<typeof STORAGE_ERRORS>[];
/** A code of {@link StorageError}. */
export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number];

/** A failure of the database itself (never a client's mistake): services answer 503. */
export class StorageError extends StellaError {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** {@link STORAGE_ERRORS}. */
  get registry(): typeof STORAGE_ERRORS {
    return STORAGE_ERRORS;
  }
}

const SHA256_HEX = SHA256_HEX_PATTERN;

/** True for a lowercase hex SHA-256, the only form of digest the store accepts as a key. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}

/** Rejects an artifact whose fields are malformed or whose bytes do not hash to its digest. */
export function assertNewArtifact(artifact: NewArtifact): void {
  if (!isSha256Hex(artifact.sha256) || !isSha256Hex(artifact.evidenceSha256)) throw new TypeError('putArtifact: sha256 and evidenceSha256 must be 64 lowercase hex characters');
  if (!(artifact.bytes instanceof Uint8Array)) throw new TypeError('putArtifact: bytes must be a Uint8Array');
  if (!artifact.scanId || !artifact.scannerId || !artifact.storedAt) throw new TypeError('putArtifact: scanId, scannerId and storedAt are required');
  const actual = createHash('sha256').update(artifact.bytes).digest('hex');
  if (actual !== artifact.sha256) throw new TypeError(`putArtifact: the bytes hash to ${actual}, not ${artifact.sha256}`);
}

/** Rejects caller mistakes before they reach SQL (STYLE: caller mistakes are TypeErrors). */
export function assertEvidenceRecord(record: EvidenceRecord): void {
  if (!isSha256Hex(record.sha256)) throw new TypeError('putEvidence: sha256 must be 64 lowercase hex characters');
  if (!(record.envelope instanceof Uint8Array) || record.envelope.byteLength === 0) throw new TypeError('putEvidence: envelope must be non-empty bytes');
  if (!record.scanId || !record.scannerId || !record.serviceId || !record.payloadType || !record.receipt || !record.receivedAt) {
    throw new TypeError('putEvidence: scanId, scannerId, serviceId, payloadType, receipt and receivedAt are required');
  }
}
