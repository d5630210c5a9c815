/**
 * Where the forward-auth stamper listens, and who may talk to it
 * (docs/provenance.md#the-forward-auth-stamper): a stamper answers anyone who reaches it with a
 * valid hop record, so only its own gateway may reach it.
 *
 * - `unix`: a Unix domain socket, 0600 in a 0700 folder, owned by the gateway's account. The
 *   kernel refuses every other account at `connect()` (EACCES).
 * - `mtls`: TCP + TLS presenting the hop's own certificate; the client must present a certificate
 *   of the topology's CAs (not revoked) naming this hop as a gateway (CN = hop id, SPIFFE
 *   `…/gateway/<hop>`). Anything else fails the handshake or gets 403 `untrusted-peer`.
 *
 * Both are served by a plain `node:http` handler; refusals are counted on the stamper's registry.
 */
import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { lchown, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { StellaError } from '../errors/base.js';
import { HEALTH_PATHS, unbracketHost } from '../conventions/index.js';
import { attachToServer, createMtlsSecureContextOptions } from '../pki/hotswap.js';
import { inspectCertificate } from '../pki/inspect.js';
import { MtlsCertificateProvider } from '../pki/provider.js';
import { spiffeId } from '../topology/identity.js';
import { PROBLEM_CONTENT_TYPE, problemDocument } from '../errors/problem.js';
import { PROVENANCE_RUNTIME_ERRORS } from './errors.js';
import { PROVENANCE_ERRORS } from './problems.js';
import { answerStamp, isStampTarget, type StamperCore } from './stamper.js';

/** Longest socket path `bind()` takes on Linux (`sun_path` is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;
/** Keep-alive toward the gateway: longer than any gateway's idle pool timeout (Caddy, NGINX, Envoy: ≤ 60 s). */
export const STAMPER_KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** Where a stamper listens. */
export type StamperListen =
  | { kind: 'unix'; socket: string; /** Account that may connect; default the stamper's own. */ gatewayUser?: string | null }
  | { kind: 'mtls'; host: string; port: number; tls: StamperTlsFiles; trustDomain: string };

/** PEM files of the mTLS form: the hop's own certificate, and what client certificates must chain to. */
export interface StamperTlsFiles {
  chain: string;
  key: string;
  caBundle: string;
  crl: string;
}

/** A listener could not be set up safely. */
export class StamperListenError extends StellaError {
  readonly code = 'STAMPER_LISTEN_UNSAFE';
  /** {@link PROVENANCE_RUNTIME_ERRORS}. */
  get registry(): typeof PROVENANCE_RUNTIME_ERRORS {
    return PROVENANCE_RUNTIME_ERRORS;
  }
}

/** A listening stamper. */
export interface ListeningStamper {
  readonly server: Server;
  /** The hop's certificate provider of the mTLS form (its readiness and certificates); null on a socket. */
  readonly certificates: MtlsCertificateProvider | null;
  /** Stops accepting, closes idle connections and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Starts the stamper's listener.
 * @throws StamperListenError when the socket folder or path is unsafe (a planted symlink, a folder
 * others can read, a socket in use by a running stamper).
 * @example
 * const stamper = await listenStamper(stamperCore(options), { kind: 'unix', socket: '/srv/stella/run/gw-edge/stamper.sock' });
 */
export async function listenStamper(core: StamperCore, where: StamperListen): Promise<ListeningStamper> {
  const body404 = JSON.stringify({ error: 'not found' });
  const health = JSON.stringify({ hop: core.hopId, status: 'live' });
  const route = (request: IncomingMessage, response: ServerResponse): void => {
    const url = request.url ?? '/';
    if (isStampTarget(url)) return answerStamp(core, request, response);
    request.resume();
    const live = url === HEALTH_PATHS.live && (request.method === 'GET' || request.method === 'HEAD');
    response.writeHead(live ? 200 : 404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(live ? health : body404) });
    response.end(request.method === 'HEAD' ? undefined : live ? health : body404);
  };

  if (where.kind === 'unix') {
    const server = tuned(createHttpServer(route));
    const close = await listenOnSocket(server, where.socket, where.gatewayUser ?? null);
    return { server, certificates: null, close };
  }

  // The hop's own certificate, trust bundle and CRL, reloaded when their files change (as the
  // services do): a revoked or rotated gateway certificate takes effect without a restart.
  const provider = new MtlsCertificateProvider({
    source: { kind: 'files', cert: where.tls.chain, key: where.tls.key, ca: where.tls.caBundle, crl: where.tls.crl, watch: true },
  });
  await provider.start();
  const expectedSpiffe = spiffeId(where.trustDomain, 'gateway', core.hopId);
  const refusedPeers = new WeakSet<Socket>();
  const problem = JSON.stringify(problemDocument(PROVENANCE_ERRORS, 'untrusted-peer', `the stamper of ${core.hopId} admits only the certificate of gateway ${core.hopId}`));
  const server = tuned(
    createHttpsServer({ ...createMtlsSecureContextOptions(provider.current()), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (request, response) => {
      if (!refusedPeers.has(request.socket)) return route(request, response);
      core.refused('not-own-gateway');
      request.resume();
      response.writeHead(403, { 'content-type': PROBLEM_CONTENT_TYPE, 'content-length': Buffer.byteLength(problem), connection: 'close' });
      response.end(problem);
    }),
  );
  // The peer is fixed for the connection's life: decide once per connection, not per request.
  server.on('secureConnection', (socket: TLSSocket) => {
    if (!isOwnGateway(socket, core.hopId, expectedSpiffe)) refusedPeers.add(socket);
  });
  server.on('tlsClientError', () => core.refused('tls-handshake'));
  const detach = attachToServer(server, provider);
  try {
    await listen(server, (done) => server.listen(where.port, unbracketHost(where.host), done));
  } catch (error) {
    detach();
    provider.stop();
    throw error;
  }
  return {
    server,
    certificates: provider,
    close: async () => {
      detach();
      provider.stop();
      await closeServer(server, null);
    },
  };
}

/**
 * Puts a server on a Unix socket only one account can open: the path made safe by
 * {@link prepareSocketPath}, the socket 0600 from its first instant, and socket and folder handed
 * to `gatewayUser` when given (the stamper then needs to run as root). Returns the closer, which
 * also removes the socket file.
 */
export async function listenOnSocket(server: Server, socket: string, gatewayUser: string | null): Promise<() => Promise<void>> {
  const owner = gatewayUser ? await accountIds(gatewayUser) : null;
  await prepareSocketPath(socket, owner);
  // bind() creates the file with the umask's mode; 0177 makes it 0600 from its first instant.
  const umask = process.umask(0o177);
  try {
    await listen(server, (done) => server.listen(socket, done));
  } finally {
    process.umask(umask);
  }
  // Nothing here follows a link: once the folder is the gateway account's, that account could swap
  // the socket for a symlink, and chmod/chown through it would hand over the link's target.
  const bound = await lstat(socket);
  if (!bound.isSocket() || (bound.mode & 0o777) !== 0o600) {
    await closeServer(server, null);
    throw new StamperListenError(`${socket} is not the 0600 socket just bound; refusing to serve on it`);
  }
  if (owner) {
    await lchown(socket, owner.uid, owner.gid);
    await lchown(dirname(socket), owner.uid, owner.gid);
  }
  return async () => closeServer(server, socket);
}

/** CN = the hop id and the one URI SAN = the hop's gateway SPIFFE id (docs/topology.md#identities). */
function isOwnGateway(socket: TLSSocket, hopId: string, expectedSpiffe: string): boolean {
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  if (!raw) return false;
  try {
    const summary = inspectCertificate(new Uint8Array(raw));
    return summary.commonName === hopId && summary.uris.length === 1 && summary.uris[0] === expectedSpiffe;
  } catch {
    return false;
  }
}

/**
 * Makes the socket's folder and path safe to bind, refusing (never repairing) what someone else
 * may have prepared: the folder must be a real directory (not a symlink) of the stamper's or the
 * gateway's account with no access for others; at the path, nothing, or a stale socket of a
 * crashed run (nobody accepts on it: removed). A live socket or anything else is refused.
 */
export async function prepareSocketPath(socket: string, owner: { uid: number; gid: number } | null): Promise<void> {
  if (!socket.startsWith('/')) throw new TypeError(`stamper socket path must be absolute, got ${socket}`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES) {
    throw new StamperListenError(`socket path ${socket} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (the limit of a Unix socket address)`);
  }
  const dir = dirname(socket);
  let folder = await lstatOrNull(dir);
  if (!folder) {
    // Only the socket's own folder is closed; the folders above keep the usual mode, so the
    // gateway's account can reach it.
    await mkdir(dirname(dir), { recursive: true });
    await mkdir(dir, { mode: 0o700 });
    folder = await lstat(dir);
  }
  if (!folder.isDirectory()) throw new StamperListenError(`${dir} is not a directory (a symlink is refused): the stamper's socket needs a folder of its own`);
  const me = process.getuid?.() ?? -1;
  if (folder.uid !== me && folder.uid !== owner?.uid) throw new StamperListenError(`${dir} belongs to uid ${folder.uid}, neither the stamper's nor the gateway's account`);
  if ((folder.mode & 0o077) !== 0) {
    throw new StamperListenError(`${dir} is open to others (mode ${(folder.mode & 0o777).toString(8)}); the stamper's socket folder must be 0700`);
  }

  const existing = await lstatOrNull(socket);
  if (!existing) return;
  if (existing.isSymbolicLink()) throw new StamperListenError(`${socket} is a symlink; refusing to bind through it`);
  if (!existing.isSocket()) throw new StamperListenError(`${socket} exists and is not a socket`);
  if (await accepts(socket)) throw new StamperListenError(`${socket} is in use by a running stamper`);
  await unlink(socket); // stale: left by a run that did not close (SIGKILL, crash)
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Whether something accepts connections on the socket (a stale one answers ECONNREFUSED). */
function accepts(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** uid and gid of an account name or numeric uid (`id -u`, `id -g`: the system's own lookup). */
async function accountIds(account: string): Promise<{ uid: number; gid: number }> {
  const run = promisify(execFile);
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', account]), run('id', ['-g', account])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (error) {
    throw new StamperListenError(`gatewayUser ${account} is not an account of this system`, { cause: error });
  }
}

/** Keep connections to the gateway open between requests; no per-request timers beyond Node's. */
function tuned<T extends Server>(server: T): T {
  server.keepAliveTimeout = STAMPER_KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return server;
}

function listen(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    start(() => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServer(server: Server, socket: string | null): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  if (socket) {
    const left = await lstatOrNull(socket);
    if (left?.isSocket()) await unlink(socket).catch(() => undefined);
  }
}
