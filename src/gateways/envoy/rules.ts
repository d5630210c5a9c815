/**
 * The protoc-gen-validate rules of the Envoy v3 API, read from the loaded descriptors (the
 * `(validate.rules)` field options), not listed by hand: numeric ranges of scalars and wrappers,
 * duration bounds, string and bytes lengths, patterns and header-safe strings, list and map sizes,
 * `bool.const`. Envoy refuses a config at start when one of these fails (docs/gateways/envoy.md#what-the-check-covers).
 *
 * One gap is the loader's: protobufjs drops a rule written as an empty message (`duration = {gt: {}}`,
 * i.e. "greater than 0s"), so those are not seen.
 */
import { decodeBase64Strict } from '../../dsse/base64.js';
import type protobuf from 'protobufjs';

/** A problem at a path, as check.ts reports it. */
export type AddProblem = (path: string, message: string) => void;

const RULES = '(validate.rules).';
const NUMERIC = new Set(['uint32', 'int32', 'sint32', 'fixed32', 'sfixed32', 'uint64', 'int64', 'sint64', 'fixed64', 'sfixed64', 'double', 'float']);
const BOUNDS: Record<string, [string, (v: number, b: number) => boolean]> = {
  lt: ['less than', (v, b) => v < b],
  lte: ['at most', (v, b) => v <= b],
  gt: ['greater than', (v, b) => v > b],
  gte: ['at least', (v, b) => v >= b],
  const: ['exactly', (v, b) => v === b],
};
// PGV's non-strict well-known header rules: no NUL, CR or LF (a name must also be non-empty).
const HEADER = { HTTP_HEADER_NAME: /^[^\0\r\n]+$/, HTTP_HEADER_VALUE: /^[^\0\r\n]*$/ } as Record<string, RegExp>;

/** The rules of one field under a prefix (`''` for the field, `repeated.items.` for each item), as `kind.op` → bound. */
export function rulesOf(field: protobuf.Field, prefix = ''): Map<string, unknown> {
  const rules = new Map<string, unknown>();
  const start = RULES + prefix;
  for (const [key, bound] of Object.entries(field.options ?? {})) {
    if (!key.startsWith(start)) continue;
    const rest = key.slice(start.length);
    if (prefix === '' && /^(repeated|map)\.(items|keys|values)\./.test(rest)) continue;
    rules.set(rest, bound);
  }
  return rules;
}

/** Checks a value present in the config (or a scalar's default when absent) against its field's rules. */
export function checkFieldRules(field: protobuf.Field, value: unknown, path: string, add: AddProblem): void {
  if (field.repeated && Array.isArray(value)) {
    const rules = rulesOf(field);
    sizeRule(rules, 'repeated.min_items', 'repeated.max_items', value.length, 'item', path, add);
    if (rules.get('repeated.unique') === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) add(path, 'must not repeat an item');
    const items = rulesOf(field, 'repeated.items.');
    if (items.size > 0) value.forEach((v, i) => checkValueRules(items, v, `${path}[${i}]`, add));
    return;
  }
  if (field.map && typeof value === 'object' && value !== null) {
    const rules = rulesOf(field);
    sizeRule(rules, 'map.min_pairs', 'map.max_pairs', Object.keys(value).length, 'entry', path, add);
    return;
  }
  checkValueRules(rulesOf(field), value, path, add);
}

function sizeRule(rules: Map<string, unknown>, minKey: string, maxKey: string, size: number, what: string, path: string, add: AddProblem): void {
  const min = rules.get(minKey);
  const max = rules.get(maxKey);
  if (typeof min === 'number' && size < min) add(path, `must have at least ${min} ${what}(s)`);
  if (typeof max === 'number' && size > max) add(path, `must have at most ${max} ${what}(s)`);
}

/** The rules of one value (a scalar, a wrapper's bare value, a Duration string). */
export function checkValueRules(rules: Map<string, unknown>, value: unknown, path: string, add: AddProblem): void {
  for (const [rule, bound] of rules) {
    const [kind = '', op = '', unit] = rule.split('.');
    if (NUMERIC.has(kind)) numberRule(op, bound, value, path, add);
    else if (kind === 'duration' && op in BOUNDS) durationRule(op, unit, rules, value, path, add);
    else if (kind === 'string') stringRule(op, bound, rules, value, path, add);
    else if (kind === 'bytes' && typeof value === 'string') {
      // Proto JSON writes bytes as base64; Buffer.from would drop stray characters and miscount.
      let n: number;
      try {
        n = decodeBase64Strict(value).length;
      } catch {
        add(path, 'must be base64 (the proto JSON form of bytes)');
        continue;
      }
      if (op === 'min_len' && typeof bound === 'number' && n < bound) add(path, `must be at least ${bound} byte(s)`);
      if (op === 'max_len' && typeof bound === 'number' && n > bound) add(path, `must be at most ${bound} byte(s)`);
    } else if (kind === 'bool' && op === 'const' && typeof value === 'boolean' && value !== bound) add(path, `must be ${String(bound)}`);
  }
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value)) return Number(value);
  return undefined;
}

function numberRule(op: string, bound: unknown, value: unknown, path: string, add: AddProblem): void {
  const check = BOUNDS[op];
  const n = asNumber(value);
  if (!check || n === undefined || typeof bound !== 'number') return;
  if (!check[1](n, bound)) add(path, `must be ${check[0]} ${bound} (is ${n})`);
}

/** Duration bounds are written as `{seconds, nanos}`, one option key each; `unit` says which one this key holds. */
function durationRule(op: string, unit: string | undefined, rules: Map<string, unknown>, value: unknown, path: string, add: AddProblem): void {
  // Both keys of one bound land here; evaluate the bound once, on its first key.
  const seconds = rules.get(`duration.${op}.seconds`);
  if (unit === 'nanos' && seconds !== undefined) return;
  const nanos = rules.get(`duration.${op}.nanos`);
  const bound = (typeof seconds === 'number' ? seconds : 0) + (typeof nanos === 'number' ? nanos / 1e9 : 0);
  const match = typeof value === 'string' ? /^(-?\d+(?:\.\d+)?)s$/.exec(value) : null;
  const check = BOUNDS[op]!;
  if (match && !check[1](Number(match[1]), bound)) add(path, `must be ${check[0]} ${bound}s (is ${value as string})`);
}

function stringRule(op: string, bound: unknown, rules: Map<string, unknown>, value: unknown, path: string, add: AddProblem): void {
  if (typeof value !== 'string') return;
  if (value === '' && rules.get('string.ignore_empty') === true) return;
  const chars = [...value].length;
  const bytes = Buffer.byteLength(value);
  if (typeof bound === 'number') {
    if (op === 'min_len' && chars < bound) add(path, value === '' ? `required: must be at least ${bound} character(s) long` : `must be at least ${bound} character(s) long`);
    if (op === 'max_len' && chars > bound) add(path, `must be at most ${bound} character(s) long`);
    if (op === 'min_bytes' && bytes < bound) add(path, `must be at least ${bound} byte(s) long`);
    if (op === 'max_bytes' && bytes > bound) add(path, `must be at most ${bound} byte(s) long`);
  } else if (typeof bound === 'string') {
    if (op === 'prefix' && !value.startsWith(bound)) add(path, `must start with ${JSON.stringify(bound)}`);
    if (op === 'suffix' && !value.endsWith(bound)) add(path, `must end with ${JSON.stringify(bound)}`);
    if (op === 'well_known_regex' && HEADER[bound] && !HEADER[bound].test(value)) add(path, `must be a valid ${bound === 'HTTP_HEADER_NAME' ? 'header name' : 'header value'} (no NUL, CR or LF)`);
    if (op === 'pattern') {
      let pattern: RegExp | undefined;
      try {
        pattern = new RegExp(bound, 'u'); // RE2 syntax; the few patterns JavaScript cannot compile are skipped
      } catch {
        pattern = undefined;
      }
      if (pattern && !pattern.test(value)) add(path, `must match ${bound}`);
    }
  }
}
