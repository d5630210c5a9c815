/**
 * The I/O a rendered HAProxy hop needs before `haproxy -c` / `haproxy -db` (the renderer itself
 * stays pure): its stamping key as an environment variable, and certificate files under the names
 * HAProxy 2.6 can load. The runtime calls {@link prepareHaproxyHop} and passes the returned
 * variables to both invocations of `haproxyProgram`.
 */
import { parseMacKey } from '../../provenance/keys.js';
import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StellaError } from '../../errors/base.js';
import { GATEWAY_ERRORS } from '../errors.js';
import type { ResolvedHop } from '../../topology/resolve.js';
import { HAPROXY_KEY_ENV, HAPROXY_TLS_FILES } from './config.js';
import { HAPROXY_V2_KEY_ENV } from './v2.js';
import { createPrivateKey, type KeyObject } from 'node:crypto';


/** A hop's key or certificate files cannot be used. */
export class GatewayFilesError extends StellaError {
  readonly code = 'GATEWAY_FILES_INVALID';

  /** {@link GATEWAY_ERRORS}. */
  get registry(): typeof GATEWAY_ERRORS {
    return GATEWAY_ERRORS;
  }
}


/**
 * The environment a stamping HAProxy hop needs: `STELLA_HMAC_KEY` = standard base64 (padded) of
 * the v1 stamping key, the LAST of `hop.stamp.keys`; and for v2 `STELLA_V2_SIGNING_KEY` = the
 * LAST of `hop.stamp.signing.keys`, checked here (docs/gateways/haproxy.md "Provenance v2"): an
 * ECDSA key must be P-256 and is handed on as PKCS#8 PEM, an HMAC secret as hex. Empty for an
 * opaque hop.
 *
 * @throws {GatewayFilesError} when a key file is unreadable or not a key of the right kind.
 * @example
 * const env = await haproxyKeyEnvironment(hop); // { STELLA_HMAC_KEY: 'q3J…=' }
 */
export async function haproxyKeyEnvironment(hop: ResolvedHop): Promise<Record<string, string>> {
  if (hop.stamp === false) return {};
  const env: Record<string, string> = {};
  const { profile, keys, signing } = hop.stamp;
  if (profile !== 'v2') {
    const key = keys.at(-1);
    if (!key) throw new TypeError(`hop ${hop.id}: a hop stamping v1 needs a MAC key`);
    env[HAPROXY_KEY_ENV] = parseMacKeyOrFail(await readKey(key.file, `the MAC key of hop ${hop.id}`), key.file).toString('base64');
  }
  if (profile !== 'v1') {
    const key = signing?.keys.at(-1);
    if (!signing || !key) throw new TypeError(`hop ${hop.id}: a hop stamping v2 needs stamp.signing`);
    const text = await readKey(key.file, `the v2 signing key of hop ${hop.id}`);
    env[HAPROXY_V2_KEY_ENV] = signing.alg === 'hmac-sha256' ? parseMacKeyOrFail(text, key.file).toString('hex') : ecdsaKeyPem(text, key.file, hop.id);
  }
  return env;
}

async function readKey(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayFilesError(`${file}: cannot read ${what}`, { cause: error });
  }
}

/** A P-256 private key as PKCS#8 PEM (what luaossl's `pkey.new` loads), or a clear refusal. */
function ecdsaKeyPem(text: string, file: string, hopId: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (error) {
    throw new GatewayFilesError(`${file}: not a PEM private key (the v2 signing key of hop ${hopId})`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new GatewayFilesError(`${file}: alg ecdsa-p256-sha256 needs a P-256 key, not ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trimEnd());
  }
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Replaces `link` by a symbolic link to `target`. */
async function relink(target: string, link: string): Promise<void> {
  await rm(link, { force: true });
  await symlink(target, link);
}

/**
 * Links the hop's PKI files into `<hopDir>/tls/` as `server.pem` + `server.pem.key` and
 * `upstream.pem` + `upstream.pem.key` (HAProxy loads the key from `<crt>.key`). Links, not copies,
 * so no private key lands in the rendered folder and renewals on disk are seen at the next reload.
 */
export async function linkHaproxyCertificates(hopDir: string, hop: ResolvedHop): Promise<void> {
  const server = join(hopDir, HAPROXY_TLS_FILES.server);
  const upstream = join(hopDir, HAPROXY_TLS_FILES.upstream);
  await mkdir(dirname(server), { recursive: true });
  await relink(hop.tls.chain, server);
  await relink(hop.tls.key, `${server}.key`);
  await relink(hop.upstreamTls.chain, upstream);
  await relink(hop.upstreamTls.key, `${upstream}.key`);
}

/**
 * Everything before `haproxy -c` or `haproxy -db`: links the certificates and returns the
 * environment to pass to the program.
 */
export async function prepareHaproxyHop(hopDir: string, hop: ResolvedHop): Promise<Record<string, string>> {
  await linkHaproxyCertificates(hopDir, hop);
  return haproxyKeyEnvironment(hop);
}

/** The hop keyring's own decoder, so the HAProxy hop and the verifiers agree on every key file. */
function parseMacKeyOrFail(text: string, file: string): Buffer {
  try {
    return parseMacKey(text, file);
  } catch (error) {
    throw new GatewayFilesError((error as Error).message, { cause: error });
  }
}
