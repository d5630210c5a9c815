/**
 * Keys for `haproxy -c` only: checking a config needs no secret, but the config refuses to load
 * without its key variables, and the v2 Lua action parses its key as it loads. `run` gets the real
 * keys from `prepareHaproxyHop`; these are made fresh in memory and never written anywhere.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { ResolvedHop } from '../../topology/resolve.js';
import { HAPROXY_KEY_ENV } from './config.js';
import { HAPROXY_V2_KEY_ENV } from './v2.js';

let checkOnlyEcdsaKey: string | undefined;

/** A throwaway P-256 PKCS#8 PEM, made once per process. */
function ecdsaKeyPem(): string {
  checkOnlyEcdsaKey ??= generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return checkOnlyEcdsaKey;
}

/**
 * The environment `haproxy -c` needs for this hop: an all-zero v1 key, and a v2 key of the hop's
 * algorithm (a throwaway P-256 key, or an all-zero HMAC secret as hex).
 */
export function checkOnlyEnvironment(hop: ResolvedHop): Record<string, string> {
  const env: Record<string, string> = { [HAPROXY_KEY_ENV]: Buffer.alloc(32).toString('base64') };
  if (hop.stamp === false || !hop.stamp.signing || hop.stamp.profile === 'v1') return env;
  env[HAPROXY_V2_KEY_ENV] = hop.stamp.signing.alg === 'hmac-sha256' ? Buffer.alloc(32).toString('hex') : ecdsaKeyPem();
  return env;
}
