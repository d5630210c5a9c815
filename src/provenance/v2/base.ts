/**
 * The RFC 9421 §2.5 signature base of one v2 member (docs/provenance.md#v2-signature-base):
 * one `"<component>": <value>` line per covered component, in the covered order, then the
 * `"@signature-params"` line; LF-separated, no trailing LF. Pure.
 */
import type { RequestFacts } from '../record.js';

/** The derived `@path` and `@query` of an origin-form request target (RFC 9421 §2.2.6, §2.2.7). */
export function pathAndQueryComponents(pathAndQuery: string): { path: string; query: string } {
  const mark = pathAndQuery.indexOf('?');
  const path = mark === -1 ? pathAndQuery : pathAndQuery.slice(0, mark);
  // §2.2.7: the query with its leading "?", or "?" alone when the target has none.
  const query = mark === -1 ? '?' : pathAndQuery.slice(mark);
  return { path: path === '' ? '/' : path, query };
}

/** What a member covers besides the request facts. */
export interface BaseInputs {
  coversContentDigest: boolean;
  /** The previous member's label and its `Signature` value as serialized (`:base64:`), or null for seq 1. */
  previous: { label: string; signatureValue: string } | null;
  /** The member's inner list as serialized in `Signature-Input`. */
  signatureParams: string;
}

/**
 * Builds the signature base. The caller has checked that a covered `content-digest` is present on
 * the request (a missing covered field is a verification failure, RFC 9421 §2.5 step 2.4).
 * @throws TypeError when `content-digest` is covered but the request has none.
 */
export function signatureBase(request: RequestFacts, inputs: BaseInputs): Buffer {
  const { path, query } = pathAndQueryComponents(request.pathAndQuery);
  const lines = [`"@method": ${request.method}`, `"@path": ${path}`, `"@query": ${query}`];
  if (inputs.coversContentDigest) {
    if (request.contentDigest === null) throw new TypeError('signatureBase: content-digest is covered but absent');
    lines.push(`"content-digest": ${request.contentDigest.trim()}`);
  }
  lines.push(`"x-stella-scan-id": ${request.scanId.trim()}`);
  if (inputs.previous) lines.push(`"signature";key="${inputs.previous.label}": ${inputs.previous.signatureValue}`);
  lines.push(`"@signature-params": ${inputs.signatureParams}`);
  return Buffer.from(lines.join('\n'), 'utf8');
}
