/**
 * The enrollment endpoint (docs/operations/certificates.md), a Fastify plugin any service can mount:
 *
 * * `POST /pki/v1/enroll` — first certificate: `Authorization: Bearer <bootstrap token>`, body
 *   `{"csr": "<PKCS#10 PEM>"}`; the token decides the identity and is used up.
 * * `POST /pki/v1/reenroll` — renewal over mTLS with the still-valid certificate of the same
 *   identity (EST re-enroll, RFC 7030 §4.2.2), body `{"csr": …}`.
 * * `GET /pki/v1/trust` — `{caBundle, crl}` so clients reload trust.
 *
 * Answers 201 `{certificate, chain, caBundle, crl, serial, fingerprint, notAfter}`, or RFC 9457
 * problem+json with a stable `code` and the status of PKI_ERRORS.
 *
 * Deliberately not wrapped in fastify-plugin: its routes and error handler stay encapsulated.
 * The server must request client certificates without rejecting missing ones
 * (`requestCert: true, rejectUnauthorized: false`) because first enrollment has no
 * certificate; `/reenroll` then checks the presented one itself (see `peerCertificate`).
 */
import type { X509Certificate as NodeX509 } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problemDocument } from '../../errors/problem.js';
import { PkiError, PKI_ERRORS, isPkiError } from '../errors.js';
import { isRevoked } from '../ca.js';
import { issueCertificate, type IssuedCertificate } from '../issue.js';
import { inspectCertificate } from '../inspect.js';
import { parseSpiffeId, type PkiRole } from '../../topology/identity.js';
import { pkiPaths, readState } from '../store.js';
import { verifyCertificate } from '../validate.js';
import { checkCsr, MAX_CSR_BYTES } from './csr.js';
import { consumeBootstrapToken, peekBootstrapToken } from './tokens.js';

/** Options of {@link enrollmentPlugin}. */
export interface EnrollmentPluginOptions {
  /** The local CA directory that signs enrolled certificates. */
  dir: string;
  clock?: () => Date;
}

/** Base URI of the problem types the endpoint answers with. */
export const PKI_PROBLEM_TYPE_BASE = 'https://stella-ops.org/problems/pki/';

/** The Fastify plugin. Mount with `app.register(enrollmentPlugin, { dir })`. */
export async function enrollmentPlugin(app: FastifyInstance, options: EnrollmentPluginOptions): Promise<void> {
  if (typeof options?.dir !== 'string' || options.dir === '') throw new TypeError('enrollmentPlugin: options.dir (the CA directory) is required');
  const dir = options.dir;
  const clock = options.clock ?? (() => new Date());
  await readState(dir); // fail at registration, not at the first request, when there is no CA

  app.setErrorHandler((error, _request, reply) => {
    if (isPkiError(error)) return sendProblem(reply, error);
    const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
    const code = status === 413 ? 'PKI_CSR_INVALID' : status < 500 ? 'PKI_CSR_INVALID' : 'PKI_SOURCE_FAILED';
    return sendProblem(reply, new PkiError(code, status < 500 ? (error as Error).message : 'internal error'), status);
  });

  const bodyLimit = MAX_CSR_BYTES * 2;

  app.post('/pki/v1/enroll', { bodyLimit }, async (request, reply) => {
    const token = bearerToken(request);
    const record = await peekBootstrapToken({ dir, token, clock });
    const csr = await checkCsr(csrOf(request.body), record.name);
    const used = await consumeBootstrapToken({ dir, token, clock });
    const leaf = await issueCertificate({
      dir,
      role: used.role,
      name: used.name,
      dns: used.dns,
      ip: used.ip,
      ...(used.certTtlSeconds ? { ttlSeconds: used.certTtlSeconds } : {}),
      publicKey: csr.publicKey,
      write: false,
      clock,
    });
    request.log.info({ code: 'enrolled', role: leaf.role, name: leaf.name, serial: leaf.serial, token: used.id }, 'pki enroll');
    return reply.code(201).send(await issuedBody(dir, leaf));
  });

  app.post('/pki/v1/reenroll', { bodyLimit }, async (request, reply) => {
    const state = await readState(dir);
    const peer = peerCertificate(request);
    const bundle = await readFile(pkiPaths(dir).caBundle, 'utf8');
    const identity = verifyCertificate(peer, [], bundle, clock());
    if (await isRevoked(dir, peer.serialNumber)) throw new PkiError('PKI_REVOKED', `certificate ${peer.serialNumber.toLowerCase()} is revoked`);
    const { role, name } = parseSpiffe(identity.spiffeId, state.trustDomain);
    if (name !== identity.commonName) throw new PkiError('PKI_IDENTITY_MISMATCH', `CN ${identity.commonName} does not match ${identity.spiffeId}`);
    const csr = await checkCsr(csrOf(request.body), name);
    const summary = inspectCertificate(new Uint8Array(peer.raw));
    const lifetimeSeconds = Math.round((summary.notAfter.getTime() - summary.notBefore.getTime()) / 1000);
    const leaf = await issueCertificate({ dir, role, name, dns: summary.dns, ip: summary.ip, ttlSeconds: lifetimeSeconds, publicKey: csr.publicKey, write: false, clock });
    request.log.info({ code: 'reenrolled', role, name, serial: leaf.serial, previous: summary.serial }, 'pki reenroll');
    return reply.code(201).send(await issuedBody(dir, leaf));
  });

  app.get('/pki/v1/trust', async () => {
    const paths = pkiPaths(dir);
    return { caBundle: await readFile(paths.caBundle, 'utf8'), crl: await readFile(paths.crl, 'utf8') };
  });
}

/** Writes an RFC 9457 problem document for a PKI error. */
export function sendProblem(reply: FastifyReply, error: PkiError, status: number = error.status): FastifyReply {
  return reply
    .code(status)
    .type('application/problem+json')
    .send(problemDocument(PKI_ERRORS, error.code, error.message, { status, typeBase: PKI_PROBLEM_TYPE_BASE }));
}

async function issuedBody(dir: string, leaf: IssuedCertificate) {
  return {
    certificate: leaf.certPem,
    chain: leaf.chainPem,
    caBundle: leaf.caBundlePem,
    crl: await readFile(pkiPaths(dir).crl, 'utf8'),
    serial: leaf.serial,
    fingerprint: leaf.fingerprint,
    notAfter: leaf.notAfter.toISOString(),
  };
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

function csrOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null ? (body as { csr?: unknown }).csr : undefined;
}

/**
 * The client certificate of this connection. The TLS layer let any certificate through (see the
 * module comment), so the caller verifies chain, validity and revocation itself, which also lets
 * it answer with a precise code instead of a failed handshake.
 */
function peerCertificate(request: FastifyRequest): NodeX509 {
  const socket = request.raw.socket as Partial<TLSSocket>;
  const peer = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  if (!peer) throw new PkiError('PKI_CLIENT_CERT_REQUIRED', 'renewal needs the current certificate presented over mTLS');
  return peer;
}

function parseSpiffe(uri: string, trustDomain: string): { role: PkiRole; name: string } {
  const parts = parseSpiffeId(uri);
  if (!parts || parts.trustDomain !== trustDomain) throw new PkiError('PKI_IDENTITY_MISMATCH', `${uri} is not a spiffe://${trustDomain}/<role>/<name> identity`);
  return { role: parts.role, name: parts.name };
}
