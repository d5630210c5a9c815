/**
 * Finds where the `payload` string of envelope JSON bytes lies, so the parser can decode it from
 * the bytes instead of turning the whole text, and then the payload, into JS strings (two extra
 * copies of a 64 MiB payload's base64). This reads structure only; `JSON.parse` still judges the
 * rest of the envelope, and the payload is checked as strict base64.
 *
 * Why that is equivalent to parsing the whole text: the located value is accepted only when it
 * holds no backslash, and the caller accepts it only when every byte is a base64 character, all
 * of which are plain JSON string characters. Emptying such a string literal keeps a valid text
 * valid and an invalid one invalid, and leaves every other member as it was; the member emptied is
 * the only top-level key spelled `payload` with no escape in any top-level key, so it is the one
 * `JSON.parse` would have returned. The one character that is not base64 and still changes the
 * answer is a raw control character (JSON forbids U+0000–U+001F in strings): the caller maps any
 * refusal of such a payload to the whole-text parse's 'not valid JSON'. Anything else (escapes,
 * duplicate keys, a non-string payload, broken structure) answers `null` and the caller parses the
 * whole text as before. Either way the text that was parsed then passes the one-reading check
 * (./unambiguous.ts): on the slow path a repeated `payload` is refused there, on this one the
 * emptied text still holds every other key, so a repeat elsewhere is refused alike.
 */

/** The byte range of the payload's string content (quotes excluded). */
export interface PayloadRange {
  readonly start: number;
  readonly end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const PAYLOAD_KEY = Buffer.from('payload');

/** The payload range of a top-level envelope object, or null when only a full parse can tell. */
export function locatePayload(input: Uint8Array): PayloadRange | null {
  const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_OBJECT) return null;
  i = skipSpace(b, i + 1);
  let found: PayloadRange | null = null;
  if (b[i] === CLOSE_OBJECT) return null;
  for (;;) {
    if (b[i] !== QUOTE) return null;
    const keyEnd = b.indexOf(QUOTE, i + 1);
    if (keyEnd < 0) return null;
    const key = b.subarray(i + 1, keyEnd);
    if (key.includes(BACKSLASH)) return null;
    i = skipSpace(b, keyEnd + 1);
    if (b[i] !== COLON) return null;
    i = skipSpace(b, i + 1);
    if (key.equals(PAYLOAD_KEY)) {
      if (found !== null || b[i] !== QUOTE) return null;
      const end = b.indexOf(QUOTE, i + 1);
      if (end < 0 || b.subarray(i + 1, end).includes(BACKSLASH)) return null;
      found = { start: i + 1, end };
      i = end + 1;
    } else {
      i = skipValue(b, i);
      if (i < 0) return null;
    }
    i = skipSpace(b, i);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE_OBJECT) return null;
    break;
  }
  return skipSpace(b, i + 1) === b.length ? found : null;
}

/** JSON insignificant whitespace: space, tab, line feed, carriage return. */
function skipSpace(b: Buffer, from: number): number {
  let i = from;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
  return i;
}

/** The index after the value starting at `from`, or -1 when the text ends inside it. */
function skipValue(b: Buffer, from: number): number {
  const first = b[from];
  if (first === QUOTE) return skipString(b, from);
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
    // A number or a literal: it ends at the next delimiter; JSON.parse judges its spelling.
    let i = from;
    while (i < b.length && b[i] !== COMMA && b[i] !== CLOSE_OBJECT && b[i] !== CLOSE_ARRAY && skipSpace(b, i) === i) i++;
    return i === from ? -1 : i;
  }
  let depth = 0;
  let i = from;
  while (i < b.length) {
    const c = b[i];
    if (c === QUOTE) {
      i = skipString(b, i);
      if (i < 0) return -1;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** The index after the string literal whose opening quote is at `from`, or -1. */
function skipString(b: Buffer, from: number): number {
  let i = from + 1;
  while (i < b.length) {
    const c = b[i];
    if (c === BACKSLASH) i += 2;
    else if (c === QUOTE) return i + 1;
    else i++;
  }
  return -1;
}
