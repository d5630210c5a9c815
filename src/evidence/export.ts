/**
 * The exported form of a stored evidence record (`evidence export`, `evidence verify --in`): one
 * JSON object per record, the envelope as base64 of its exact bytes (the digest covers bytes, not
 * a re-serialization), the receipt as the DSSE JSON object. Pure.
 */
import { decodeBase64Strict, encodeBase64 } from '../dsse/index.js';
import { ReceiptError } from './errors.js';
import type { RecordedHop, RecordedRequest } from './hop-macs.js';
import type { EvidenceRecordInput } from './verify.js';

/** Format marker of an exported record. */
export const EVIDENCE_EXPORT_KIND = 'stella-gateway/evidence-record/v1';

/** What `evidence export` writes for each record. */
export interface ExportedEvidence {
  kind: typeof EVIDENCE_EXPORT_KIND;
  sha256: string;
  scanId: string;
  scannerId: string;
  service: string;
  payloadType: string;
  receivedAt: string;
  envelopeBase64: string;
  /** The stored hops, each with its nonce and, when the store kept it, its MAC. */
  hops: RecordedHop[];
  /** The request facts the MACs cover, when the store kept them (docs/services.md#offline-verification). */
  request?: RecordedRequest;
  receipt: unknown;
}

/** A stored record with the fields an export needs. */
export interface ExportableRecord extends EvidenceRecordInput {
  readonly scannerId: string;
  readonly serviceId: string;
  readonly payloadType: string;
  readonly receivedAt: string;
}

/** Builds the export of one record. */
export function exportRecord(record: ExportableRecord): ExportedEvidence {
  return {
    kind: EVIDENCE_EXPORT_KIND,
    sha256: record.sha256,
    scanId: record.scanId,
    scannerId: record.scannerId,
    service: record.serviceId,
    payloadType: record.payloadType,
    receivedAt: record.receivedAt,
    envelopeBase64: encodeBase64(record.envelope),
    hops: record.hops.map((h) => ({ ...h })),
    ...(record.request ? { request: { ...record.request } } : {}),
    receipt: JSON.parse(record.receipt) as unknown,
  };
}

/**
 * Reads exported records (one object or a list of them) from untrusted JSON.
 * @throws {ReceiptError} `evidence-mismatch` naming the first malformed field.
 */
export function parseExportedRecords(value: unknown): EvidenceRecordInput[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item: unknown, i) => {
    const bad = (field: string): never => {
      throw new ReceiptError('evidence-mismatch', `record ${i}: ${field} is missing or malformed`);
    };
    if (typeof item !== 'object' || item === null) return bad('the record');
    const r = item as Record<string, unknown>;
    if (r.kind !== EVIDENCE_EXPORT_KIND) bad('kind');
    if (typeof r.sha256 !== 'string') bad('sha256');
    if (typeof r.scanId !== 'string') bad('scanId');
    if (r.scannerId !== undefined && typeof r.scannerId !== 'string') bad('scannerId');
    if (typeof r.envelopeBase64 !== 'string') bad('envelopeBase64');
    if (!Array.isArray(r.hops)) bad('hops');
    if (typeof r.receipt !== 'object' || r.receipt === null) bad('receipt');
    const request = r.request as Record<string, unknown> | undefined;
    if (request !== undefined && (typeof request !== 'object' || request === null || typeof request.method !== 'string' || typeof request.pathAndQuery !== 'string' || (request.contentDigest !== null && typeof request.contentDigest !== 'string'))) {
      bad('request');
    }
    let envelope: Buffer;
    try {
      envelope = decodeBase64Strict(r.envelopeBase64 as string);
    } catch {
      return bad('envelopeBase64');
    }
    return { sha256: r.sha256 as string, scanId: r.scanId as string, ...(typeof r.scannerId === 'string' ? { scannerId: r.scannerId } : {}), envelope,
      hops: r.hops as RecordedHop[],
      receipt: JSON.stringify(r.receipt),
      ...(request ? { request: { method: request.method as string, pathAndQuery: request.pathAndQuery as string, contentDigest: request.contentDigest as string | null } } : {}),
    };
  });
}
