/**
 * v2 hop keys (docs/provenance.md#v2-keys): a verifier holds each hop's PUBLIC keys (SPKI
 * `publicFile`) for the asymmetric algorithms, and the shared secret only for `hmac-sha256` hops;
 * a hop holds its own private key. Every listed key verifies; the last one listed stamps.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DsseError, parseKeyFile } from '../../dsse/index.js';
import type { ResolvedHop, ResolvedTopology } from '../../topology/resolve.js';
import { HopKeyError } from '../keys.js';
import { V2_ALGORITHMS } from './algorithms.js';
import type { V2StampAlg } from './profile.js';

/** One hop's verification keys: its algorithm and kid → key (public, or the HMAC secret). */
export interface V2HopKeys {
  alg: V2StampAlg;
  keys: ReadonlyMap<string, KeyObject>;
}

/** hop id → its v2 verification keys. */
export type V2Keyring = ReadonlyMap<string, V2HopKeys>;

/**
 * The kid under which an offline auditor's key (`evidence verify --hop-key HOP=FILE`) is filed: it
 * serves whatever keyid the member names. `*` is outside the kid grammar, so no member names it;
 * the services never file a key under it.
 */
export const ANY_KID = '*';

/** Whether a resolved hop stamps v2 (profile `v2` or `both`). */
export function stampsV2(hop: ResolvedHop): boolean {
  return hop.stamp !== false && hop.stamp.profile !== 'v1';
}

/** Whether a resolved hop stamps v1 (profile `v1` or `both`). */
export function stampsV1(hop: ResolvedHop): boolean {
  return hop.stamp !== false && hop.stamp.profile !== 'v2';
}

/**
 * Reads one key file as the given algorithm and kind.
 * @throws HopKeyError naming the field and file.
 */
export async function readV2Key(file: string, alg: V2StampAlg, type: 'private' | 'public' | 'secret', where: string): Promise<KeyObject> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new HopKeyError(`${where} (${file}): cannot read the key file`, { cause: error });
  }
  try {
    const key = parseKeyFile(bytes, { algorithm: alg, type });
    if (key.type === 'secret') return createSecretKey(key.secret);
    return key.type === 'private' ? key.privateKey : key.publicKey;
  } catch (error) {
    if (!(error instanceof DsseError)) throw error;
    throw new HopKeyError(`${where} (${file}): not a ${alg} ${type} key: ${error.message}`, { cause: error });
  }
}

/**
 * Reads the v2 verification keys of every hop that stamps v2, or only of the hops in `only`.
 * Never opens a private key file of an asymmetric hop: a service needs public keys only.
 * @example
 * const v2 = await loadV2Keyring(topology, stampingHops(service).map((h) => h.id));
 */
export async function loadV2Keyring(topology: ResolvedTopology, only?: Iterable<string>): Promise<V2Keyring> {
  const wanted = only === undefined ? null : new Set(only);
  const ring = new Map<string, V2HopKeys>();
  for (const hop of topology.hops) {
    if (hop.stamp === false || !stampsV2(hop) || (wanted && !wanted.has(hop.id))) continue;
    const signing = hop.stamp.signing;
    if (!signing) throw new HopKeyError(`hops.${hop.id}.stamp.signing: required for profile ${hop.stamp.profile}`);
    const keys = new Map<string, KeyObject>();
    const type = V2_ALGORITHMS[signing.alg].verifyKeyType;
    for (const [index, ref] of signing.keys.entries()) {
      const where = `hops.${hop.id}.stamp.signing.keys[${index}]`;
      if (keys.has(ref.kid)) throw new HopKeyError(`${where}: duplicate kid "${ref.kid}"`);
      const file = type === 'secret' ? ref.file : ref.publicFile;
      if (file === undefined) throw new HopKeyError(`${where}.publicFile: required for ${signing.alg}`);
      keys.set(ref.kid, await readV2Key(file, signing.alg, type, type === 'secret' ? `${where}.file` : `${where}.publicFile`));
    }
    ring.set(hop.id, { alg: signing.alg, keys });
  }
  return ring;
}

/** The key a hop stamps v2 with. */
export interface V2SigningKey {
  alg: V2StampAlg;
  kid: string;
  key: KeyObject;
}

/**
 * Reads the key a hop signs with: the LAST of `stamp.signing.keys` (its private key, or the HMAC
 * secret). Only the hop itself (or its stamper) calls this.
 * @throws HopKeyError
 */
export async function loadV2SigningKey(hop: ResolvedHop): Promise<V2SigningKey> {
  if (hop.stamp === false || !hop.stamp.signing) throw new HopKeyError(`hops.${hop.id}.stamp.signing: required for v2 stamping`);
  const { alg, keys } = hop.stamp.signing;
  const last = keys.at(-1)!;
  const where = `hops.${hop.id}.stamp.signing.keys[${keys.length - 1}].file`;
  const key = await readV2Key(last.file, alg, alg === 'hmac-sha256' ? 'secret' : 'private', where);
  return { alg, kid: last.kid, key };
}
