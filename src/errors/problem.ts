/**
 * The one builder of RFC 9457 problem documents (docs/services.md#problem-codes): the services,
 * the guard, the provenance middleware and the stamper's refusals all answer with its output, so a
 * client reads the same members everywhere: `type`, `title`, `status`, `code`, `detail`.
 */
import type { AnyErrorRegistry } from './registry.js';

/** Base of the `type` URI of each problem document (RFC 9457 §3.1.1); the code is appended. */
export const PROBLEM_TYPE_BASE = 'https://stella-ops.org/problems/';

/** The media type of every refusal (RFC 9457 §3). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** An RFC 9457 problem document with the product's `code` extension member. */
export interface ProblemDocument<C extends string = string> {
  type: string;
  title: string;
  status: number;
  code: C;
  detail: string;
}

/** What may differ from the registry entry in one answer. */
export interface ProblemOptions {
  /** The status of this answer when the protocol fixes another one (the stamper refuses with 403). */
  status?: number;
  /** The `type` URI base of the area, when not {@link PROBLEM_TYPE_BASE} (the PKI's `…/problems/pki/`). */
  typeBase?: string;
}

/**
 * The problem document of `code` from its registry entry; members in the order above.
 *
 * @example
 * JSON.stringify(problemDocument(PROVENANCE_ERRORS, 'provenance-stale', 'hop gw-edge: 400 s old'));
 * // {"type":"https://stella-ops.org/problems/provenance-stale","title":"…","status":401,"code":"provenance-stale","detail":"hop gw-edge: 400 s old"}
 */
export function problemDocument<R extends AnyErrorRegistry>(registry: R, code: R['list'][number], detail: string, options: ProblemOptions = {}): ProblemDocument<R['list'][number]> {
  const spec = registry.codes[code];
  const status = options.status ?? spec?.status;
  if (!spec || status === undefined) throw new TypeError(`problemDocument: ${registry.namespace} code ${code} has no HTTP status`);
  return { type: `${options.typeBase ?? PROBLEM_TYPE_BASE}${code}`, title: spec.title, status, code, detail };
}
