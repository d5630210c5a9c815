/**
 * The Lua action an HAProxy hop stamps provenance v2 with (docs/provenance.md#part-2-version-2,
 * docs/gateways/haproxy.md "Provenance v2"): one RFC 9421 member appended to `Signature-Input` and
 * `Signature`, signed with ECDSA P-256 or HMAC-SHA256 through Debian's `lua-luaossl` (OpenSSL).
 *
 * Only hop constants (id, seq, labels, kid, alg) are rendered into the file; the key comes from
 * the environment variable {@link HAPROXY_V2_KEY_ENV} when HAProxy loads the file, once per thread
 * (`lua-load-per-thread`), so the rendered folder holds no secret. Facts it relies on
 * (../shared/notes/asymmetric-hops.md): luaossl loads inside HAProxy 2.6 once Debian's Lua 5.3
 * module folders are on `package.path`/`package.cpath`; `pkey:sign()` returns a DER ECDSA
 * signature (converted here to the raw r‖s RFC 9421 §3.3.4 wants); luaossl cannot sign Ed25519.
 */

import type { StampFacts } from '../hop-facts.js';
import { NATIVE_V2_ALGS } from '../../topology/schema.js';
import { V2_LUA_BODY } from './lua-source.js';

/** The environment variable holding the v2 signing key: a PKCS#8 PEM (ECDSA) or hex (HMAC). */
export const HAPROXY_V2_KEY_ENV = 'STELLA_V2_SIGNING_KEY';
/** The file name of the Lua action inside the hop folder. */
export const HAPROXY_V2_LUA_FILE = 'stella-v2.lua';
/** The action's name in `http-request lua.<name>`. */
export const HAPROXY_V2_ACTION = 'stella_v2_stamp';
/** The transaction variable the action sets to refuse a request (read by the `deny` rules after it). */
export const HAPROXY_V2_REFUSE_VAR = 'txn.stella_v2_refuse';
/** The algorithms a native HAProxy hop can sign v2 with (luaossl has no one-shot Ed25519). */
export const HAPROXY_V2_ALGS = NATIVE_V2_ALGS.haproxy;
/** One of {@link HAPROXY_V2_ALGS}. */
export type HaproxyV2Alg = (typeof HAPROXY_V2_ALGS)[number];

/**
 * Debian's Lua 5.3 module folders (lua-luaossl): HAProxy's Lua state searches only the compiled-in
 * defaults, which do not include them. Both multiarch folders, so one rendering serves amd64 and arm64.
 */
export const LUA_MODULE_PATHS = {
  path: ['/usr/share/lua/5.3/?.lua', '/usr/share/lua/5.3/?/init.lua'],
  cpath: ['/usr/lib/x86_64-linux-gnu/lua/5.3/?.so', '/usr/lib/aarch64-linux-gnu/lua/5.3/?.so'],
} as const;

/** What the rendered action needs to know about its hop. */
export interface V2StampConstants {
  readonly hopId: string;
  readonly seq: number;
  /** `stella-<seq-1>-<previous stamping hop>`, covered as `"signature";key=…`; null for seq 1. */
  readonly previousLabel: string | null;
  /** Whether the hop strips client-sent members of the profile first (the edge, seq 1). */
  readonly strip: boolean;
  readonly kid: string;
  readonly alg: HaproxyV2Alg;
}

/** The member label of a stamping hop (docs/provenance.md#part-2-version-2). */
export function v2Label(seq: number, hopId: string): string {
  return `stella-${seq}-${hopId}`;
}

/** A Lua string literal for the pattern-checked constants (ids, kids, labels, paths). */
export function luaString(value: string): string {
  if (!/^[A-Za-z0-9._:/?*+;-]*$/.test(value)) throw new TypeError(`luaString: ${JSON.stringify(value)} holds a character the renderer does not quote`);
  return `"${value}"`;
}

/** The constants block at the top of the rendered file. */
function constants(c: V2StampConstants): string {
  return [
    'local HOP = {',
    `  label = ${luaString(v2Label(c.seq, c.hopId))},`,
    `  previous = ${c.previousLabel === null ? 'nil' : luaString(c.previousLabel)},`,
    `  strip = ${c.strip ? 'true' : 'false'},`,
    `  kid = ${luaString(c.kid)},`,
    `  alg = ${luaString(c.alg)},`,
    '}',
    `local KEY_ENV = ${luaString(HAPROXY_V2_KEY_ENV)}`,
    `local REFUSE_VAR = ${luaString(HAPROXY_V2_REFUSE_VAR)}`,
    `local ACTION = ${luaString(HAPROXY_V2_ACTION)}`,
    `package.path = package.path .. ";" .. ${luaString(LUA_MODULE_PATHS.path.join(';'))}`,
    `package.cpath = package.cpath .. ";" .. ${luaString(LUA_MODULE_PATHS.cpath.join(';'))}`,
  ].join('\n');
}

/**
 * Renders the Lua action of one hop (pure).
 *
 * @example
 * v2LuaModule({ hopId: 'gw-internal', seq: 2, previousLabel: 'stella-1-gw-edge', strip: false, kid: 'internal-v2', alg: 'ecdsa-p256-sha256' });
 */
export function v2LuaModule(c: V2StampConstants): string {
  const header = [
    `-- Rendered by stella-gateway for hop ${c.hopId}: stamps provenance v2 (docs/provenance.md#part-2-version-2).`,
    '-- Do not edit: change the topology and render again (docs/gateways/haproxy.md "Provenance v2").',
  ].join('\n');
  return `${header}\n${constants(c)}\n${V2_LUA_BODY}\n`;
}


/**
 * The constants of a stamping hop's action, from its facts; null for a v1-only hop.
 *
 * @throws {TypeError} for an algorithm HAProxy cannot sign (validation refuses it first).
 */
export function v2Constants(hopId: string, stamp: StampFacts, isEdge: boolean): V2StampConstants | null {
  if (!stamp.signing) return null;
  const alg = stamp.signing.alg;
  if (!isHaproxyAlg(alg)) throw new TypeError(`hop ${hopId}: HAProxy cannot sign ${alg} natively; use ${HAPROXY_V2_ALGS.join(' or ')}`);
  return {
    hopId,
    seq: stamp.seq,
    previousLabel: stamp.previousHopId === null ? null : v2Label(stamp.seq - 1, stamp.previousHopId),
    strip: isEdge || stamp.seq === 1,
    kid: stamp.signing.key.kid,
    alg,
  };
}

function isHaproxyAlg(alg: string): alg is HaproxyV2Alg {
  return (HAPROXY_V2_ALGS as readonly string[]).includes(alg);
}

/**
 * The frontend rules of the v2 stamp, after the `txn.stella_peer*` variables are set: the Lua
 * action, then its refusals — 400 for a `Signature-Input`/`Signature` it cannot parse or that
 * already holds this hop's label, 500 when signing itself failed (logged by HAProxy).
 */
export function v2StampRules(): string[] {
  return [
    `    http-request lua.${HAPROXY_V2_ACTION}`,
    `    http-request deny deny_status 400 if { var(${HAPROXY_V2_REFUSE_VAR}) -m str malformed }`,
    `    http-request deny deny_status 500 if { var(${HAPROXY_V2_REFUSE_VAR}) -m found }`,
  ];
}
