/**
 * The provider's enrollment source: a fresh P-256 key and CSR for every certificate; the first
 * one with the bootstrap token, every later one over mTLS with the current certificate
 * (docs/operations/certificates.md). The endpoint's refusal code (PKI_TOKEN_USED, PKI_REVOKED, …) is passed through.
 */
import { Agent, request } from 'undici';
import { PkiError, PKI_ERRORS } from '../errors.js';
import { generateKeyPair, PKI_ALGORITHMS, privateKeyToPem, x509 } from '../x509.js';
import type { CertificateSource, EnrollmentSource } from '../sources.js';
import type { RawMaterial, TlsMaterial } from '../validate.js';

/** Timeout of one enrollment request. */
export const ENROLLMENT_TIMEOUT_MS = 10_000;

/** A certificate source backed by the enrollment endpoint. */
export function enrollmentSource(source: EnrollmentSource): CertificateSource {
  let trust = source.ca;
  const call = async (path: string, init: { method: 'GET' | 'POST'; body?: string; token?: string; current?: TlsMaterial | null }): Promise<unknown> => {
    const agent = new Agent({
      connect: {
        ca: trust,
        ...(source.serverName ? { servername: source.serverName } : {}),
        ...(init.current ? { key: init.current.key, cert: init.current.chain } : {}),
      },
    });
    try {
      const response = await request(new URL(path, source.url), {
        method: init.method,
        dispatcher: agent,
        headersTimeout: ENROLLMENT_TIMEOUT_MS,
        bodyTimeout: ENROLLMENT_TIMEOUT_MS,
        headers: {
          accept: 'application/json',
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        },
        ...(init.body ? { body: init.body } : {}),
      });
      const body: unknown = await response.body.json().catch(() => null);
      if (response.statusCode >= 200 && response.statusCode < 300) return body;
      const code = (body as { code?: unknown } | null)?.code;
      const detail = (body as { detail?: unknown } | null)?.detail;
      const known = typeof code === 'string' && PKI_ERRORS.has(code) ? code : 'PKI_ENROLLMENT_FAILED';
      throw new PkiError(known, `enrollment endpoint answered ${response.statusCode}: ${typeof detail === 'string' ? detail : 'no detail'}`);
    } catch (error) {
      if (error instanceof PkiError) throw error;
      throw new PkiError('PKI_ENROLLMENT_FAILED', `enrollment endpoint ${source.url} unreachable: ${(error as Error).message}`, { cause: error });
    } finally {
      await agent.close();
    }
  };

  return {
    external: false,
    async obtain(current): Promise<RawMaterial> {
      const keys = await generateKeyPair();
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        ...(current ? { name: [{ CN: [current.identity.commonName] }] } : {}),
        keys,
        signingAlgorithm: PKI_ALGORITHMS.signing,
      });
      const body = JSON.stringify({ csr: csr.toString('pem') });
      const answer = current
        ? await call('/pki/v1/reenroll', { method: 'POST', body, current })
        : await call('/pki/v1/enroll', { method: 'POST', body, token: source.bootstrapToken });
      const issued = parseIssued(answer);
      trust = issued.caBundle;
      return { key: privateKeyToPem(keys.privateKey), chain: issued.chain, ca: issued.caBundle, crl: issued.crl };
    },
    async loadTrust() {
      const answer = (await call('/pki/v1/trust', { method: 'GET' })) as { caBundle?: unknown; crl?: unknown } | null;
      if (typeof answer?.caBundle !== 'string') throw new PkiError('PKI_ENROLLMENT_FAILED', 'trust answer without caBundle');
      trust = answer.caBundle;
      return { ca: answer.caBundle, ...(typeof answer.crl === 'string' ? { crl: answer.crl } : {}) };
    },
  };
}

function parseIssued(answer: unknown): { chain: string; caBundle: string; crl?: string } {
  const a = answer as { chain?: unknown; caBundle?: unknown; crl?: unknown } | null;
  if (typeof a?.chain !== 'string' || typeof a.caBundle !== 'string') throw new PkiError('PKI_ENROLLMENT_FAILED', 'enrollment answer without chain or caBundle');
  return { chain: a.chain, caBundle: a.caBundle, ...(typeof a.crl === 'string' ? { crl: a.crl } : {}) };
}
