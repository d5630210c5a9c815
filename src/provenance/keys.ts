/**
 * Hop MAC keys (docs/topology.md, docs/CONVENTIONS.md "Key files"): base64 text of an HMAC-SHA256 secret,
 * at least 32 bytes decoded, surrounding whitespace ignored. A hop lists several keys during a
 * rollover: every listed key verifies, the LAST one stamps.
 */
import { decodeBase64Key } from '../topology/files-check.js';
import { readFile } from 'node:fs/promises';
import { MIN_HMAC_KEY_BYTES } from '../conventions/index.js';
import { StellaError } from '../errors/base.js';
import { PROVENANCE_RUNTIME_ERRORS } from './errors.js';
import type { ResolvedTopology } from '../topology/resolve.js';

/** Minimum HMAC-SHA256 key length in bytes (docs/dsse.md#keys, RFC 2104 §3: at least the output length), the conventions floor's. */
export const MIN_MAC_KEY_BYTES = MIN_HMAC_KEY_BYTES;

/** hop id → kid → secret, kids in the topology's order (the last one stamps). */
export type HopKeyring = ReadonlyMap<string, ReadonlyMap<string, Buffer>>;

/** A hop key file is unreadable or does not hold a usable secret. */
export class HopKeyError extends StellaError {
  readonly code = 'hop-key-invalid';
  /** {@link PROVENANCE_RUNTIME_ERRORS}. */
  get registry(): typeof PROVENANCE_RUNTIME_ERRORS {
    return PROVENANCE_RUNTIME_ERRORS;
  }
}

/**
 * Decodes the text of a key file. Checks the alphabet first: `Buffer.from(s, 'base64')` would
 * silently skip stray characters and yield a different key than the operator meant.
 * @throws HopKeyError
 */
export function parseMacKey(text: string, where: string): Buffer {
  const secret = decodeBase64Key(text);
  if (!secret) throw new HopKeyError(`${where}: not base64 text (docs/dsse.md: standard or URL-safe alphabet, canonical)`);
  if (secret.length < MIN_MAC_KEY_BYTES) {
    throw new HopKeyError(`${where}: ${secret.length} bytes; HMAC-SHA256 keys need at least ${MIN_MAC_KEY_BYTES}`);
  }
  return secret;
}

/**
 * Reads the MAC keys of every stamping hop of a resolved topology, or only of the hops named in
 * `only`: a part holds the keys of the hops on its own chain and no other (a service those of its
 * chain, a stamper its hop's; docs/operations/running.md#preflight).
 * @example
 * const keys = await loadHopKeyring(topology);
 * [...keys.get('gw-edge')!.keys()].at(-1); // the kid gw-edge stamps with
 */
export async function loadHopKeyring(topology: ResolvedTopology, only?: Iterable<string>): Promise<HopKeyring> {
  const wanted = only === undefined ? null : new Set(only);
  const ring = new Map<string, Map<string, Buffer>>();
  for (const hop of topology.hops) {
    // A v2-only hop has no MAC keys (docs/provenance.md#v2-keys).
    if (hop.stamp === false || hop.stamp.profile === 'v2' || (wanted && !wanted.has(hop.id))) continue;
    const keys = new Map<string, Buffer>();
    for (const [index, ref] of hop.stamp.keys.entries()) {
      const where = `hops.${hop.id}.stamp.keys[${index}] (${ref.file})`;
      if (keys.has(ref.kid)) throw new HopKeyError(`${where}: duplicate kid "${ref.kid}"`);
      let text: string;
      try {
        text = await readFile(ref.file, 'utf8');
      } catch (error) {
        throw new HopKeyError(`${where}: cannot read the key file`, { cause: error });
      }
      keys.set(ref.kid, parseMacKey(text, where));
    }
    ring.set(hop.id, keys);
  }
  return ring;
}

/** The key a hop stamps with: the last one listed. */
export function stampingKey(ring: HopKeyring, hopId: string): { kid: string; secret: Buffer } {
  const keys = ring.get(hopId);
  const last = keys ? [...keys.entries()].at(-1) : undefined;
  if (!last) throw new TypeError(`no MAC key for hop "${hopId}"`);
  return { kid: last[0], secret: last[1] };
}
