/**
 * The one shape of an error registry (docs/CONVENTIONS.md#the-error-registry): every stable code
 * of an area with its human title, the HTTP status it is answered with where it has one, how a CLI
 * command that fails with it ends, and whether trying again later may succeed.
 *
 * Each area defines its codes once with {@link defineErrors}; its error class reads status, exit
 * class and retryability from the entry, never from the thrower, so they cannot disagree.
 * `test/errors/registry.test.ts` checks that every code is defined once and appears in the docs.
 */

/**
 * How a CLI command that fails with a code ends (src/cli/failure.ts turns it into the exit code):
 * `failed` (1) a check failed or the input was rejected; `usage` (2) usage or configuration,
 * including the machine the command runs on.
 */
export type ExitClass = 'failed' | 'usage';

/** One code's entry. */
export interface ErrorSpec {
  /** One line a human reads; the RFC 9457 `title` of an HTTP problem. */
  readonly title: string;
  /** The HTTP status of the answer carrying this code; absent for codes that never leave as HTTP. */
  readonly status?: number;
  /** How a CLI command failing with this code ends. */
  readonly exit: ExitClass;
  /** Whether the same request may succeed later without a change on the caller's side. */
  readonly retryable: boolean;
}

/** Any registry, whatever its codes: what {@link StellaError} and the uniqueness test read. */
export interface AnyErrorRegistry {
  readonly namespace: string;
  readonly codes: Readonly<Record<string, ErrorSpec>>;
  readonly list: readonly string[];
  has(code: string): boolean;
}

/** The registry of one area: its codes in their documented order. */
export interface ErrorRegistry<T extends Readonly<Record<string, ErrorSpec>>> extends AnyErrorRegistry {
  /** The area, e.g. `dsse` (for messages and the uniqueness test; never part of a code). */
  readonly namespace: string;
  /** code → entry, in the order the docs list them. */
  readonly codes: T;
  /** Every code, in registry order. */
  readonly list: readonly (keyof T & string)[];
  /** Whether `code` is one of this registry's codes. */
  has(code: string): code is keyof T & string;
}

/** The codes of a registry, as a union type: `CodeOf<typeof DSSE_ERRORS>`. */
export type CodeOf<R extends AnyErrorRegistry> = R['list'][number];

/**
 * Defines an area's codes. The entries are frozen; a code's string is its public name (clients and
 * docs branch on it), so existing strings never change.
 *
 * @example
 * export const DSSE_ERRORS = defineErrors('dsse', {
 *   DSSE_MALFORMED: { title: 'the envelope is not well-formed', exit: 'failed', retryable: false },
 * });
 * type DsseErrorCode = CodeOf<typeof DSSE_ERRORS>; // 'DSSE_MALFORMED'
 */
export function defineErrors<const T extends Readonly<Record<string, ErrorSpec>>>(namespace: string, codes: T): ErrorRegistry<T> {
  if (!/^[a-z][a-z0-9-]*$/.test(namespace)) throw new TypeError(`defineErrors: namespace "${namespace}" must be lowercase words joined by "-"`);
  for (const [code, spec] of Object.entries(codes)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(code)) throw new TypeError(`defineErrors(${namespace}): code "${code}" is not a word`);
    if (spec.status !== undefined && (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599)) {
      throw new TypeError(`defineErrors(${namespace}): ${code} has status ${spec.status}; an error's status is 4xx or 5xx`);
    }
    Object.freeze(spec);
  }
  const list = Object.freeze(Object.keys(codes)) as readonly (keyof T & string)[];
  return Object.freeze({
    namespace,
    codes: Object.freeze(codes),
    list,
    has: (code: string): code is keyof T & string => Object.hasOwn(codes, code),
  });
}
