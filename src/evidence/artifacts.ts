/**
 * Artifacts and the statements that name them (docs/services.md#artifacts): the in-toto subjects
 * of a stored envelope, and the check that an artifact's bytes are the ones a subject names. Pure.
 */
import { createHash } from 'node:crypto';
import { DsseError, parseEnvelope, parseStatement, type Subject } from '../dsse/index.js';

/** Path of the artifact routes of the Evidence Locker; `/{sha256}` is appended (docs/services.md#artifacts). */
export const ARTIFACTS_PATH = '/api/v1/artifacts';
/**
 * The path of an artifact upload, as a regular expression every gateway program understands (PCRE,
 * RE2, POSIX ERE alike): the renderers give this route `maxArtifactBytes` instead of `maxBodyBytes`
 * (docs/services.md#size), and the WAF leaves its body uninspected (docs/gateways/apache-modsecurity.md#artifact-uploads).
 */
export const ARTIFACT_UPLOAD_PATH_PATTERN = '^/api/v1/artifacts/[0-9a-f]{64}$';
/** Media type of an artifact upload and download: the file's exact bytes. */
export const ARTIFACT_MEDIA_TYPE = 'application/octet-stream';

/**
 * The subjects of the in-toto Statement inside a DSSE envelope, read without verifying the
 * signatures: callers use it on envelopes the locker verified before it stored them, or next to
 * `verifyEvidenceRecord`, which verifies them.
 *
 * @throws {DsseError} when the envelope or its Statement does not parse.
 */
export function statementSubjects(envelope: Uint8Array): Subject[] {
  return parseStatement(parseEnvelope(envelope).payload).subject;
}

/** True when a subject of the envelope's Statement names `sha256`; false also for an envelope that does not parse. */
export function namesSubject(envelope: Uint8Array, sha256: string): boolean {
  try {
    return statementSubjects(envelope).some((s) => s.digest.sha256 === sha256);
  } catch (error) {
    if (error instanceof DsseError) return false;
    throw error;
  }
}

/** Lowercase hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
