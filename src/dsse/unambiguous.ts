/**
 * One reading per JSON text (docs/dsse.md "Unambiguous JSON"). `JSON.parse` keeps the last of two
 * members with the same name, other parsers the first or both, so an envelope or Statement that
 * repeats a key means different things to different readers of the same stored bytes. This check
 * refuses such a text, and one nested deeper than {@link MAX_JSON_DEPTH}.
 *
 * It is not a parser: it runs on text `JSON.parse` has already accepted, so the grammar is known to
 * be valid and only the structure is followed (object and array brackets outside strings, and
 * which string of an object is a member name). Member names are compared exactly as `JSON.parse`
 * reads them: a name holding an escape is decoded by `JSON.parse` itself, so `"a"` and `"\u0061"`
 * are the same key. Strings are skipped with the native `indexOf`, so a 64 MiB payload string
 * costs one scan and no copy.
 */
import { DsseError } from './errors.js';

/**
 * The deepest nesting of objects and arrays accepted in an envelope or a Statement (the top-level
 * value is depth 1). An envelope needs 3, a traversal-intent Statement 3; SBOM and SLSA predicates
 * stay far below 64, while code that walks the parsed value recursively (canonicalisation,
 * storage, logging) can rely on never meeting more.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** One open object (`keys` set) or array (`keys` null) on the way down. */
interface Frame {
  keys: Set<string> | null;
  /** Name of the member being read (objects) or index of the element (arrays), for the path. */
  at: string | number;
}

/**
 * Refuses a JSON text that repeats a member name in any object, or nests deeper than `maxDepth`.
 * Call it only on text `JSON.parse` accepted (a text it refused has no reading to protect).
 *
 * @param what names the document in the message, e.g. `envelope` or `statement`.
 * @throws {DsseError} `DSSE_DUPLICATE_KEY` with the JSON path of the object, or `DSSE_TOO_LARGE`
 *   for the nesting depth.
 * @example assertUnambiguousJson('{"a":1,"a":2}', 'envelope') // throws DSSE_DUPLICATE_KEY at $
 */
export function assertUnambiguousJson(text: string, what: string, maxDepth: number = MAX_JSON_DEPTH): void {
  const stack: Frame[] = [];
  // True right after `{` or after a `,` inside an object: the next string is a member name.
  let nameNext = false;
  let i = 0;
  const length = text.length;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = endOfString(text, i);
      const frame = stack.at(-1);
      if (nameNext && frame?.keys) {
        const raw = text.slice(i + 1, end - 1);
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end)) as string) : raw;
        if (frame.keys.has(name)) {
          throw new DsseError('DSSE_DUPLICATE_KEY', `${what}: key ${JSON.stringify(name)} appears twice in the object at ${pathOf(stack, false)}`);
        }
        frame.keys.add(name);
        frame.at = name;
        nameNext = false;
      }
      i = end;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (stack.length >= maxDepth) {
        throw new DsseError('DSSE_TOO_LARGE', `${what}: nesting at ${pathOf(stack, true)} exceeds the depth limit of ${maxDepth}`);
      }
      stack.push(c === OPEN_OBJECT ? { keys: new Set(), at: '' } : { keys: null, at: 0 });
      nameNext = c === OPEN_OBJECT;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      nameNext = false;
    } else if (c === COMMA) {
      const frame = stack.at(-1);
      if (frame?.keys) nameNext = true;
      else if (frame) frame.at = (frame.at as number) + 1;
    }
    i++;
  }
}

/** The index after the string literal whose opening quote is at `from` (the text is valid JSON). */
function endOfString(text: string, from: number): number {
  let quote = text.indexOf('"', from + 1);
  for (;;) {
    // A quote preceded by an odd number of backslashes is escaped.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    quote = text.indexOf('"', quote + 1);
  }
}

/** `$`, `$.signatures[0]`, `$["odd key"]`: where the innermost open object or array is. */
function pathOf(stack: readonly Frame[], includeLast: boolean): string {
  let path = '$';
  const frames = includeLast ? stack : stack.slice(0, -1);
  for (const frame of frames) {
    if (frame.keys === null) path += `[${frame.at as number}]`;
    else path += /^[A-Za-z_$][\w$]*$/.test(frame.at as string) ? `.${frame.at as string}` : `[${JSON.stringify(frame.at)}]`;
  }
  return path;
}
