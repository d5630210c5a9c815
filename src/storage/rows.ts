/**
 * Row ↔ record mapping shared by the SQLite and PostgreSQL stores, so both answer with
 * byte-identical records (the contract suite checks it).
 */
import { StorageError, type ArtifactRef, type CompleteResult, type EvidenceRecord, type ScanRecord, type StoredHop, type StoredRequest, type StoredV2Provenance } from './types.js';

/** An `evidence` row as both drivers return it (column names are the same in both schemas). */
export interface EvidenceRow {
  sha256: string;
  scan_id: string;
  scanner_id: string;
  service_id: string;
  payload_type: string;
  envelope: Uint8Array;
  hops: string;
  receipt: string;
  received_at: string;
  /** JSON of the {@link StoredRequest}; null in rows stored before it was kept. */
  request: string | null;
  /** JSON of the {@link StoredV2Provenance}; null for a v1 chain and in rows stored before v2. */
  provenance_v2: string | null;
}

/** The columns of an `evidence` row, in the order {@link evidenceValues} gives them. */
export const EVIDENCE_COLUMNS = ['sha256', 'scan_id', 'scanner_id', 'service_id', 'payload_type', 'envelope', 'hops', 'receipt', 'received_at', 'request', 'provenance_v2'] as const;

/** A record's column values, in {@link EVIDENCE_COLUMNS} order. */
export function evidenceValues(record: EvidenceRecord): unknown[] {
  return [
    record.sha256,
    record.scanId,
    record.scannerId,
    record.serviceId,
    record.payloadType,
    Buffer.from(record.envelope),
    JSON.stringify(record.hops),
    record.receipt,
    record.receivedAt,
    record.request ? JSON.stringify(record.request) : null,
    record.provenanceV2 ? JSON.stringify(record.provenanceV2) : null,
  ];
}

/** A `scans` row. */
export interface ScanRow {
  scan_id: string;
  status: string;
  scanner_id: string;
  registration: string;
  registered_at: string;
  completion_sha256: string | null;
  completion_envelope: Uint8Array | null;
  completion_report: string | null;
  completed_at: string | null;
}

/** An `artifact_refs` row joined with its `artifacts` row (aliases `r`, `a`). */
export interface ArtifactRefRow {
  sha256: string;
  scan_id: string;
  scanner_id: string;
  evidence_sha256: string;
  size: number | string;
  referenced_at: string;
}

/** The select list of {@link ArtifactRefRow}, the same in both stores. */
export const ARTIFACT_REF_COLUMNS = 'r.sha256 AS sha256, r.scan_id AS scan_id, r.scanner_id AS scanner_id, r.evidence_sha256 AS evidence_sha256, a.size AS size, r.referenced_at AS referenced_at';

/** Selects {@link ArtifactRefRow}s; append a WHERE clause on `r.`. */
export const SELECT_ARTIFACT_REF = `SELECT ${ARTIFACT_REF_COLUMNS} FROM artifact_refs r JOIN artifacts a USING (sha256)`;

/** Maps a reference row to its record (PostgreSQL answers BIGINT as a string). */
export function artifactRefFromRow(row: ArtifactRefRow): ArtifactRef {
  return { sha256: row.sha256, scanId: row.scan_id, scannerId: row.scanner_id, evidenceSha256: row.evidence_sha256, size: Number(row.size), referencedAt: row.referenced_at };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new StorageError('storage-corrupt', `${what} is not valid JSON`, { cause: error });
  }
}

/** Maps a stored evidence row back to the record that was put. */
export function evidenceFromRow(row: EvidenceRow): EvidenceRecord {
  const hops = parseJson(row.hops, `evidence ${row.sha256} hops`);
  if (!Array.isArray(hops)) throw new StorageError('storage-corrupt', `evidence ${row.sha256} hops is not a list`);
  return {
    sha256: row.sha256,
    scanId: row.scan_id,
    scannerId: row.scanner_id,
    serviceId: row.service_id,
    payloadType: row.payload_type,
    envelope: new Uint8Array(row.envelope),
    hops: hops as StoredHop[],
    receipt: row.receipt,
    receivedAt: row.received_at,
    ...(row.request === null ? {} : { request: parseJson(row.request, `evidence ${row.sha256} request`) as StoredRequest }),
    ...(row.provenance_v2 === null || row.provenance_v2 === undefined ? {} : { provenanceV2: parseJson(row.provenance_v2, `evidence ${row.sha256} provenance_v2`) as StoredV2Provenance }),
  };
}

/** Maps a scan row to its record. */
export function scanFromRow(row: ScanRow): ScanRecord {
  const completed = row.status === 'completed';
  if (completed && (row.completion_sha256 === null || row.completion_envelope === null || row.completion_report === null || row.completed_at === null)) {
    throw new StorageError('storage-corrupt', `scan ${row.scan_id} is completed without its report`);
  }
  return {
    scanId: row.scan_id,
    status: completed ? 'completed' : 'registered',
    scannerId: row.scanner_id,
    registration: parseJson(row.registration, `scan ${row.scan_id} registration`),
    registeredAt: row.registered_at,
    completion: completed
      ? {
          envelopeSha256: row.completion_sha256!,
          envelope: new Uint8Array(row.completion_envelope!),
          report: parseJson(row.completion_report!, `scan ${row.scan_id} report`),
          completedAt: row.completed_at!,
        }
      : null,
  };
}

/**
 * Decides the outcome of a completion from the row read after the conditional UPDATE:
 * our update applied, or the scan was already completed with the same report (idempotent retry),
 * or with a different one (conflict), or it does not exist.
 */
export function completionFromRow(row: ScanRow | null, updated: boolean, envelopeSha256: string): CompleteResult {
  if (!row) return { outcome: 'not-found' };
  const record = scanFromRow(row);
  if (updated) return { outcome: 'completed', record };
  if (record.completion?.envelopeSha256 === envelopeSha256) return { outcome: 'already-completed', record };
  return { outcome: 'conflict', record };
}
