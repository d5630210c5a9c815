/**
 * The exported form of a stored evidence record (`evidence export`, `evidence verify --in`): one
 * JSON object per record, the envelope as base64 of its exact bytes (the digest covers bytes, not
 * a re-serialization), the receipt as the DSSE JSON object. Pure.
 */
import { decodeBase64Strict, encodeBase64 } from '../dsse/index.js';
import { SHA256_HEX_PATTERN } from '../conventions/index.js';
import { ReceiptError } from './errors.js';
import type { RecordedHop, RecordedRequest } from './hop-macs.js';
import type { RecordedV2 } from './hop-signatures.js';
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
  /** The v2 members as received, for a v2 chain (docs/provenance.md#part-2-version-2). */
  provenanceV2?: RecordedV2;
  receipt: unknown;
  /**
   * The artifacts stored with this statement: each file is written beside the export, named by
   * its digest, `file` relative to the export file's folder (docs/services.md#evidence-verify-and-evidence-export).
   */
  artifacts?: ExportedArtifact[];
}

/** An artifact entry of an export. */
export interface ExportedArtifact {
  sha256: string;
  size: number;
  /** Path of the bytes relative to the export file's folder; absent when they were not written. */
  file?: string;
}

/** A stored record with the fields an export needs. */
export interface ExportableRecord extends EvidenceRecordInput {
  readonly scannerId: string;
  readonly serviceId: string;
  readonly payloadType: string;
  readonly receivedAt: string;
}

/** Builds the export of one record, with its artifacts when given. */
export function exportRecord(record: ExportableRecord, artifacts?: readonly ExportedArtifact[]): ExportedEvidence {
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
    ...(record.provenanceV2 ? { provenanceV2: { signatureInput: record.provenanceV2.signatureInput, signature: record.provenanceV2.signature } } : {}),
    receipt: JSON.parse(record.receipt) as unknown,
    ...(artifacts ? { artifacts: artifacts.map((a) => ({ ...a })) } : {}),
  };
}

/** An exported record as read back: the record and its artifact entries (files still to be hashed). */
export interface ParsedExport {
  record: EvidenceRecordInput;
  artifacts: ExportedArtifact[];
}

const SHA256_HEX = SHA256_HEX_PATTERN;
/** An artifact's file name in an export: its digest in a folder, nothing that climbs out of it. */
const ARTIFACT_FILE = /^[A-Za-z0-9._-]+\/[0-9a-f]{64}$/;

/**
 * Reads exported records (one object or a list of them) from untrusted JSON.
 * @throws {ReceiptError} `evidence-mismatch` naming the first malformed field.
 */
export function parseExportedRecords(value: unknown): ParsedExport[] {
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
    const v2 = r.provenanceV2 as Record<string, unknown> | undefined;
    if (v2 !== undefined && (typeof v2 !== 'object' || v2 === null || typeof v2.signatureInput !== 'string' || typeof v2.signature !== 'string')) bad('provenanceV2');
    let envelope: Buffer;
    try {
      envelope = decodeBase64Strict(r.envelopeBase64 as string);
    } catch {
      return bad('envelopeBase64');
    }
    const artifacts: ExportedArtifact[] = [];
    if (r.artifacts !== undefined) {
      if (!Array.isArray(r.artifacts)) bad('artifacts');
      (r.artifacts as unknown[]).forEach((a, j) => {
        const entry = typeof a === 'object' && a !== null ? (a as Record<string, unknown>) : {};
        if (typeof entry.sha256 !== 'string' || !SHA256_HEX.test(entry.sha256)) bad(`artifacts[${j}].sha256`);
        if (typeof entry.size !== 'number' || !Number.isSafeInteger(entry.size) || entry.size < 0) bad(`artifacts[${j}].size`);
        if (entry.file !== undefined && (typeof entry.file !== 'string' || !ARTIFACT_FILE.test(entry.file))) bad(`artifacts[${j}].file`);
        artifacts.push({ sha256: entry.sha256 as string, size: entry.size as number, ...(typeof entry.file === 'string' ? { file: entry.file } : {}) });
      });
    }
    const record = { sha256: r.sha256 as string, scanId: r.scanId as string, ...(typeof r.scannerId === 'string' ? { scannerId: r.scannerId } : {}), envelope, hops: r.hops as RecordedHop[], receipt: JSON.stringify(r.receipt), ...(request ? { request: { method: request.method as string, pathAndQuery: request.pathAndQuery as string, contentDigest: request.contentDigest as string | null } } : {}), ...(v2 ? { provenanceV2: { signatureInput: v2.signatureInput as string, signature: v2.signature as string } } : {}) };
    return { record, artifacts };
  });
}
