/**
 * Checks an Envoy config against the Envoy v3 API schema (docs/gateways/README.md: "for Envoy, by a check against
 * the Envoy v3 API schema"), since no Envoy binary runs here. protobufjs's `fromObject`/`verify`
 * ignore unknown fields and reject proto3-JSON forms such as `"5s"`, so the JSON is walked against
 * the message types here, the way Envoy's own loader reads it: unknown fields, scalar types, enum
 * names, oneof conflicts, `Any` resolved by `@type` and walked, the JSON forms of the well-known
 * types, deprecated fields, and the commonest protoc-gen-validate rules (required fields and
 * oneofs, min lengths).
 */
import { parse as parseYaml } from 'yaml';
import protobuf from 'protobufjs';
import { apiLoadFailure, BOOTSTRAP_TYPE, lookupApiType } from './proto-root.js';
import { checkFieldRules } from './rules.js';
import { checkMessageRule, checkNames, collectNames, type NameSite } from './semantics.js';

/** One problem of a config, at the path of its field (`static_resources.clusters[0].type`). */
export interface EnvoyConfigProblem {
  readonly path: string;
  readonly message: string;
}

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** What one walk gathers: the problems, and the names for the reference checks of semantics.ts. */
interface Walk {
  readonly problems: EnvoyConfigProblem[];
  readonly names: NameSite[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/**
 * Checks a bootstrap config (YAML/JSON text or an already parsed value) and returns every problem;
 * an empty list means the API accepts it.
 *
 * @example
 * checkEnvoyConfig('static_resources: { clusterz: [] }');
 * // [{ path: 'static_resources.clusterz', message: 'unknown field of envoy.config.bootstrap.v3.Bootstrap.StaticResources' }]
 */
export function checkEnvoyConfig(config: unknown, typeName: string = BOOTSTRAP_TYPE): EnvoyConfigProblem[] {
  let value = config;
  if (typeof config === 'string') {
    try {
      value = parseYaml(config) as unknown;
    } catch (error) {
      return [{ path: '', message: `not valid YAML: ${(error as Error).message}` }];
    }
  }
  const type = lookupApiType(typeName);
  if (!(type instanceof protobuf.Type)) throw new TypeError(`checkEnvoyConfig: no message type ${typeName}`);
  const ctx: Walk = { problems: [], names: [] };
  walkMessage(type, value, '', ctx);
  if (typeName === BOOTSTRAP_TYPE && isObject(value)) {
    const dynamic = isObject(value['dynamic_resources'] ?? value['dynamicResources']);
    checkNames(ctx.names, dynamic, (path, message) => void ctx.problems.push({ path, message }));
  }
  return ctx.problems;
}

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

/** Walks a message in its proto3 JSON form, well-known types included. */
function walkMessage(type: protobuf.Type, value: unknown, path: string, ctx: Walk): void {
  const add = (p: string, message: string): void => void ctx.problems.push({ path: p, message });
  const name = fullName(type);
  switch (name) {
    case 'google.protobuf.Duration':
      if (typeof value !== 'string' || !DURATION.test(value)) add(path, `must be a duration string such as "5s" or "0.250s"`);
      return;
    case 'google.protobuf.Timestamp':
      if (typeof value !== 'string' || !TIMESTAMP.test(value)) add(path, 'must be an RFC 3339 timestamp string');
      return;
    case 'google.protobuf.FieldMask':
      if (typeof value !== 'string') add(path, 'must be a comma-separated string of field paths');
      return;
    case 'google.protobuf.Struct':
      if (!isObject(value)) add(path, 'must be an object (google.protobuf.Struct)');
      return;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(value)) add(path, 'must be a list (google.protobuf.ListValue)');
      return;
    case 'google.protobuf.Value':
      return; // any JSON value
    case 'google.protobuf.Empty':
      if (!isObject(value) || Object.keys(value).length > 0) add(path, 'must be {} (google.protobuf.Empty)');
      return;
    case 'google.protobuf.Any':
      walkAny(value, path, ctx);
      return;
  }
  const wrapped = /^google\.protobuf\.(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value$/.exec(name);
  if (wrapped) {
    // Wrappers are written as their bare value in JSON (UInt32Value → 5, BoolValue → true).
    const valueField = type.fields['value'];
    if (valueField) walkScalar(valueField, value, path, ctx);
    return;
  }
  if (!isObject(value)) return add(path, `must be an object (${name})`);

  const byJsonName = new Map<string, protobuf.Field>();
  for (const field of type.fieldsArray) {
    byJsonName.set(field.name, field);
    byJsonName.set(camel(field.name), field);
  }
  const oneofSet = new Map<string, string>();
  const present = new Set<string>();
  for (const [key, child] of Object.entries(value)) {
    const field = byJsonName.get(key);
    const at = join(path, key);
    if (!field) {
      add(at, `unknown field of ${name}`);
      continue;
    }
    if (child === null) continue; // proto3 JSON: null means the default
    present.add(field.name);
    // Envoy warns about deprecated fields and refuses them once they become fatal-by-default.
    if (field.options?.['deprecated'] === true) add(at, `deprecated field of ${name}; use its replacement`);
    if (field.partOf) {
      const other = oneofSet.get(field.partOf.name);
      if (other) add(at, `${other} and ${field.name} are both set, but only one of ${field.partOf.name} may be`);
      else oneofSet.set(field.partOf.name, field.name);
    }
    walkField(field, child, at, ctx);
  }
  for (const oneof of type.oneofsArray) {
    if (oneof.options?.['(validate.required)'] === true && !oneofSet.has(oneof.name)) {
      add(path, `one of ${oneof.oneof.join(', ')} is required (${name}.${oneof.name})`);
    }
  }
  for (const field of type.fieldsArray) {
    const rules = field.options ?? {};
    const required = rules['(validate.rules).message.required'] === true || rules['(validate.rules).duration.required'] === true || rules['(validate.rules).any.required'] === true || rules['(validate.rules).timestamp.required'] === true;
    // A oneof member's rule applies only when that member is the one chosen.
    if (required && !field.partOf && !present.has(field.name)) add(join(path, field.name), `required by ${name}`);
    // An absent scalar is its default ('' or 0), and PGV checks defaults too: a missing name fails min_len.
    const absent = defaultOf(field);
    if (absent !== undefined && !field.partOf && !present.has(field.name)) checkFieldRules(field, absent, join(path, field.name), add);
  }
  collectNames(name, value, path, ctx.names);
  checkMessageRule(name, value, path, add);
}

/** The proto3 default of a field that is not a message, or undefined for messages and enums. */
function defaultOf(field: protobuf.Field): unknown {
  if (field instanceof protobuf.MapField) return {};
  if (field.repeated) return [];
  if (field.resolvedType) return undefined;
  if (field.type === 'string' || field.type === 'bytes') return '';
  return field.type === 'bool' ? false : 0;
}

function walkField(field: protobuf.Field, value: unknown, path: string, ctx: Walk): void {
  const add = (p: string, message: string): void => void ctx.problems.push({ path: p, message });
  if (field instanceof protobuf.MapField) {
    if (!isObject(value)) return add(path, 'must be an object (a map)');
    for (const [k, v] of Object.entries(value)) walkValue(field, v, /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, ctx);
  } else if (field.repeated) {
    if (!Array.isArray(value)) return add(path, 'must be a list');
    value.forEach((v, i) => walkValue(field, v, `${path}[${i}]`, ctx));
  } else {
    walkValue(field, value, path, ctx);
  }
  checkFieldRules(field, value, path, add);
}

function walkValue(field: protobuf.Field, value: unknown, path: string, ctx: Walk): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return walkMessage(resolved, value, path, ctx);
  if (resolved instanceof protobuf.Enum) {
    const names = Object.keys(resolved.values);
    if (typeof value === 'string' ? !Object.hasOwn(resolved.values, value) : !(typeof value === 'number' && Object.values(resolved.values).includes(value))) {
      ctx.problems.push({ path, message: `bad enum value ${JSON.stringify(value)} of ${fullName(resolved)} (one of: ${names.join(', ')})` });
    }
    return;
  }
  walkScalar(field, value, path, ctx);
}

function walkScalar(field: protobuf.Field, value: unknown, path: string, ctx: Walk): void {
  const bad = (what: string): void => void ctx.problems.push({ path, message: `must be ${what} (${field.type})` });
  const t = field.type;
  const integer = (v: unknown): number | undefined => {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    return undefined;
  };
  if (t === 'string') {
    if (typeof value !== 'string') bad('a string');
  } else if (t === 'bool') {
    if (typeof value !== 'boolean') bad('true or false');
  } else if (t === 'bytes') {
    if (typeof value !== 'string' || !BASE64.test(value)) bad('base64 text');
  } else if (t === 'double' || t === 'float') {
    if (typeof value !== 'number' && !(typeof value === 'string' && /^(NaN|-?Infinity|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(value))) bad('a number');
  } else if (INT32.has(t)) {
    const n = integer(value);
    if (n === undefined || n < -(2 ** 31) || n > 2 ** 31 - 1) bad('a 32-bit integer');
  } else if (UINT32.has(t)) {
    const n = integer(value);
    if (n === undefined || n < 0 || n > 2 ** 32 - 1) bad('an unsigned 32-bit integer');
  } else if (INT64.has(t)) {
    const n = integer(value);
    if (n === undefined || (t.startsWith('u') || t === 'fixed64' ? n < 0 : false)) bad('an integer');
  } else {
    ctx.problems.push({ path, message: `unresolved type ${t}` });
  }
}

/** `Any`: `@type` must name a known message, whose fields sit beside it (or in `value` for WKTs). */
function walkAny(value: unknown, path: string, ctx: Walk): void {
  if (!isObject(value)) return void ctx.problems.push({ path, message: 'must be an object with "@type" (google.protobuf.Any)' });
  const url = value['@type'];
  const at = join(path, '@type');
  if (typeof url !== 'string') return void ctx.problems.push({ path: at, message: 'required (google.protobuf.Any)' });
  const slash = url.lastIndexOf('/');
  if (!url.startsWith(TYPE_URL_PREFIX) && slash < 0) return void ctx.problems.push({ path: at, message: `must be ${TYPE_URL_PREFIX}<message name>` });
  const typeName = url.slice(slash + 1);
  const type = lookupApiType(typeName);
  if (!(type instanceof protobuf.Type)) return void ctx.problems.push({ path: at, message: apiLoadFailure(typeName) ?? `unknown type ${url}` });
  const { '@type': _omit, ...rest } = value;
  const special = /^google\.protobuf\.(Duration|Timestamp|FieldMask|Struct|ListValue|Value|Empty|Any|\w+Value)$/.test(fullName(type)) && fullName(type) !== 'google.protobuf.Empty';
  if (special) {
    for (const key of Object.keys(rest)) if (key !== 'value') ctx.problems.push({ path: join(path, key), message: `unknown field of google.protobuf.Any holding ${fullName(type)}` });
    walkMessage(type, rest['value'], join(path, 'value'), ctx);
  } else {
    walkMessage(type, rest, path, ctx);
  }
}
