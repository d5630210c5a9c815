/**
 * in-toto Statement v1 helpers and the traversal intent predicate (docs/dsse.md).
 *
 * The scanner signs a Statement whose subject is the artifact digest and whose predicate binds the
 * artifact to the mTLS identity that crosses the gateway chain: the provenance middleware compares
 * `clientCertSha256` with the `peer` of hop 1 (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, `binding-mismatch`).
 */
import { CERT_FINGERPRINT_PATTERN, HOP_ID_PATTERN, NONCE_PATTERN, SCAN_ID_PATTERN, SHA256_HEX_PATTERN, TOPOLOGY_NAME_PATTERN } from '../conventions/index.js';
import { DsseError } from './errors.js';
import { assertUnambiguousJson } from './unambiguous.js';

/** `_type` of an in-toto Statement v1. */
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** DSSE payloadType of an in-toto Statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** predicateType of the traversal intent a scanner signs. */
export const TRAVERSAL_INTENT_PREDICATE_TYPE = 'https://stella-ops.org/attestations/traversal-intent/v1';

/** An in-toto ResourceDescriptor as used for subjects: a name and at least one digest. */
export interface Subject {
  name: string;
  /** Algorithm → lowercase hex digest, e.g. `{ sha256: '…' }`. */
  digest: Record<string, string>;
}

/** An in-toto Statement v1. */
export interface Statement {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate?: Record<string, unknown>;
}

/** What the worker declares about the request that carries an artifact (docs/dsse.md). */
export interface TraversalIntent {
  /** The scan id, same syntax as `X-Stella-Scan-Id` (docs/provenance.md). */
  scanId: string;
  /** The topology's `name`, in its format (docs/topology.md#fields). */
  topology: string;
  /** The edge hop id the worker sends to. */
  edgeHop: string;
  /** `sha256:` + 64 lowercase hex: the client certificate the worker presents (same format as `peer`). */
  clientCertSha256: string;
  /** 16–64 lowercase hex characters, fresh per request. */
  nonce: string;
  /** RFC 3339 date-time. */
  issuedAt: string;
}

// RFC 3339 §5.6 date-time (seconds required, optional fraction, Z or offset).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const HEX = /^[0-9a-f]+$/;
const SHA256_HEX = SHA256_HEX_PATTERN;

/** Builds a Statement; the result passes {@link parseStatement}. */
export function buildStatement(input: { subject: Subject[]; predicateType: string; predicate?: Record<string, unknown> }): Statement {
  const statement: Statement = { _type: IN_TOTO_STATEMENT_TYPE, subject: input.subject, predicateType: input.predicateType };
  if (input.predicate !== undefined) statement.predicate = input.predicate;
  const problems = statementProblems(statement);
  if (problems.length > 0) throw new TypeError(`invalid statement: ${problems.join('; ')}`);
  return statement;
}

/** Serializes a Statement as the UTF-8 JSON payload of a DSSE envelope. */
export function serializeStatement(statement: Statement): Buffer {
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

/**
 * Builds the Statement a scanner signs for one artifact: subject = the artifact's SHA-256,
 * predicate = the traversal intent.
 *
 * @throws {TypeError} when the digest or an intent field is malformed.
 */
export function buildScanArtifactStatement(input: { artifact: { name: string; sha256: string }; intent: TraversalIntent }): Statement {
  const { artifact, intent } = input;
  if (!SHA256_HEX.test(artifact.sha256)) throw new TypeError('artifact.sha256 must be 64 lowercase hex characters');
  const problems = intentProblems(intent);
  if (problems.length > 0) throw new TypeError(`invalid traversal intent: ${problems.join('; ')}`);
  const { scanId, topology, edgeHop, clientCertSha256, nonce, issuedAt } = intent;
  return buildStatement({
    subject: [{ name: artifact.name, digest: { sha256: artifact.sha256 } }],
    predicateType: TRAVERSAL_INTENT_PREDICATE_TYPE,
    predicate: { scanId, topology, edgeHop, clientCertSha256, nonce, issuedAt },
  });
}

/**
 * Parses and validates a Statement from a verified DSSE payload.
 *
 * @throws {DsseError} `DSSE_STATEMENT_INVALID` listing every problem found; `DSSE_DUPLICATE_KEY`
 *   or `DSSE_TOO_LARGE` for JSON with a repeated key or nested too deep (docs/dsse.md "Unambiguous JSON").
 */
export function parseStatement(payload: Buffer): Statement {
  let value: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new DsseError('DSSE_STATEMENT_INVALID', 'statement is not UTF-8 JSON', { cause: error });
  }
  // Every level the product reads (subject, digest maps, the predicate and its intent) is in it.
  assertUnambiguousJson(text, 'statement');
  const problems = statementProblems(value);
  if (problems.length > 0) throw new DsseError('DSSE_STATEMENT_INVALID', `invalid statement: ${problems.join('; ')}`);
  const v = value as Statement;
  const statement: Statement = {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: v.subject.map((s) => ({ name: s.name, digest: { ...s.digest } })),
    predicateType: v.predicateType,
  };
  if (v.predicate !== undefined) statement.predicate = v.predicate;
  return statement;
}

/**
 * Reads the traversal intent of a Statement.
 *
 * @throws {DsseError} `DSSE_STATEMENT_INVALID` for another predicate type or a malformed intent.
 */
export function parseTraversalIntent(statement: Statement): TraversalIntent {
  if (statement.predicateType !== TRAVERSAL_INTENT_PREDICATE_TYPE) {
    throw new DsseError('DSSE_STATEMENT_INVALID', `predicateType ${JSON.stringify(statement.predicateType)} is not a traversal intent`);
  }
  const p: Record<string, unknown> = statement.predicate ?? {};
  const problems = intentProblems(p);
  if (problems.length > 0) throw new DsseError('DSSE_STATEMENT_INVALID', `invalid traversal intent: ${problems.join('; ')}`);
  const text = (key: keyof TraversalIntent): string => p[key] as string;
  return { scanId: text('scanId'), topology: text('topology'), edgeHop: text('edgeHop'), clientCertSha256: text('clientCertSha256'), nonce: text('nonce'), issuedAt: text('issuedAt') };
}

function statementProblems(value: unknown): string[] {
  if (!isObject(value)) return ['not a JSON object'];
  const problems: string[] = [];
  if (value._type !== IN_TOTO_STATEMENT_TYPE) problems.push(`_type: must be ${IN_TOTO_STATEMENT_TYPE}`);
  if (typeof value.predicateType !== 'string' || value.predicateType === '') problems.push('predicateType: must be a non-empty string');
  if (value.predicate !== undefined && !isObject(value.predicate)) problems.push('predicate: must be an object');
  const subject = value.subject;
  if (!Array.isArray(subject) || subject.length === 0) {
    problems.push('subject: must be a non-empty array');
    return problems;
  }
  subject.forEach((s: unknown, i) => {
    if (!isObject(s)) return void problems.push(`subject[${i}]: must be an object`);
    if (typeof s.name !== 'string') problems.push(`subject[${i}].name: must be a string`);
    const digest = s.digest;
    if (!isObject(digest) || Object.keys(digest).length === 0) return void problems.push(`subject[${i}].digest: must be a non-empty object`);
    for (const [alg, hex] of Object.entries(digest)) {
      if (typeof hex !== 'string' || !HEX.test(hex)) problems.push(`subject[${i}].digest.${alg}: must be lowercase hex`);
      else if (alg === 'sha256' && hex.length !== 64) problems.push(`subject[${i}].digest.sha256: must be 64 hex characters`);
    }
  });
  return problems;
}

function intentProblems(p: unknown): string[] {
  if (!isObject(p)) return ['predicate: must be an object'];
  const checks: [keyof TraversalIntent, RegExp][] = [
    ['scanId', SCAN_ID_PATTERN],
    ['topology', TOPOLOGY_NAME_PATTERN],
    ['edgeHop', HOP_ID_PATTERN],
    ['clientCertSha256', CERT_FINGERPRINT_PATTERN],
    ['nonce', NONCE_PATTERN],
    ['issuedAt', RFC3339],
  ];
  const problems: string[] = [];
  for (const [key, pattern] of checks) {
    const value = p[key];
    if (typeof value !== 'string' || !pattern.test(value)) problems.push(`predicate.${key}: invalid`);
  }
  if (typeof p.issuedAt === 'string' && RFC3339.test(p.issuedAt) && Number.isNaN(Date.parse(p.issuedAt))) {
    problems.push('predicate.issuedAt: not a real date-time');
  }
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
