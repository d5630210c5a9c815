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
import type { ResolvedHop } from '../../topology/resolve.js';
import { HAPROXY_KEY_ENV, HAPROXY_TLS_FILES } from './config.js';


/** A hop's key or certificate files cannot be used. */
export class GatewayFilesError extends StellaError {
  readonly code = 'GATEWAY_FILES_INVALID';
}


/**
 * The environment a stamping HAProxy hop needs: `STELLA_HMAC_KEY` = standard base64 (padded) of
 * the stamping key, the LAST of `hop.stamp.keys`. Empty for an opaque hop.
 *
 * @throws {GatewayFilesError} when the key file is unreadable, not base64 or too short.
 * @example
 * const env = await haproxyKeyEnvironment(hop); // { STELLA_HMAC_KEY: 'q3J…=' }
 */
export async function haproxyKeyEnvironment(hop: ResolvedHop): Promise<Record<string, string>> {
  if (hop.stamp === false) return {};
  const key = hop.stamp.keys[hop.stamp.keys.length - 1];
  if (!key) throw new TypeError(`hop ${hop.id}: a stamping hop needs a key`);
  let text: string;
  try {
    text = await readFile(key.file, 'utf8');
  } catch (error) {
    throw new GatewayFilesError(`${key.file}: cannot read the MAC key of hop ${hop.id}`, { cause: error });
  }
  return { [HAPROXY_KEY_ENV]: parseMacKeyOrFail(text, key.file).toString('base64') };
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
