/**
 * Reads the verified client certificate a gateway hands its forward-auth stamper
 * (docs/CONVENTIONS.md, "The stamper contract"), in this order of preference:
 * `Client-Cert` (RFC 9440: an RFC 9651 Byte Sequence of the DER), `X-Stella-Client-Cert`
 * (URL-encoded PEM, NGINX `$ssl_client_escaped_cert`), `X-Forwarded-Client-Cert` (Envoy XFCC,
 * the `Cert="…"` element of the last, i.e. this gateway's, element).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { parseItem } from 'structured-headers';
import { WIRE_HEADERS } from '../conventions/index.js';
import { spiffeIdFromSubjectAltName } from '../topology/identity.js';

/** What a hop record keeps about its downstream, and what the stamper checks per request. */
export interface ClientCertFacts {
  /** `sha256:` + lowercase hex of the DER. */
  fingerprint: string;
  /** Subject Common Name. */
  cn: string;
  /** Serial number, hex (for revocation checks). */
  serial: string;
  /** The one SPIFFE ID URI SAN, or null (docs/topology.md#identities). */
  spiffeId: string | null;
  /** Validity window in ms since the epoch, checked on every request (a resumed TLS session skips it). */
  notBeforeMs: number;
  notAfterMs: number;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Returns the certificate facts, or a reason string when no usable certificate is present. */
export function clientCertFromHeaders(headers: Headers): ClientCertFacts | string {
  const rfc9440 = single(headers[WIRE_HEADERS.clientCert]);
  if (rfc9440 !== undefined) return facts(() => derFromClientCert(rfc9440));
  const escaped = single(headers[WIRE_HEADERS.stamperClientCert]);
  if (escaped !== undefined) return facts(() => new X509Certificate(decodeURIComponent(escaped)).raw);
  const xfcc = single(headers[WIRE_HEADERS.forwardedClientCert]);
  if (xfcc !== undefined) {
    const matches = [...xfcc.matchAll(/(?:^|[;,])\s*Cert="([^"]*)"/gi)];
    const last = matches.at(-1)?.[1];
    if (last === undefined) return 'X-Forwarded-Client-Cert has no Cert element';
    return facts(() => new X509Certificate(decodeURIComponent(last)).raw);
  }
  return 'no client certificate header';
}

function derFromClientCert(value: string): Buffer {
  const [bytes] = parseItem(value);
  if (!(bytes instanceof ArrayBuffer)) throw new Error('Client-Cert is not a Byte Sequence');
  return Buffer.from(bytes);
}

function facts(der: () => Buffer): ClientCertFacts | string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der());
  } catch {
    return 'the client certificate does not parse';
  }
  // `subject` is one attribute per line (`CN=scanner-01\nO=…`); a CN with a newline cannot occur.
  const cn = cert.subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3);
  if (!cn) return 'the client certificate has no Common Name';
  return {
    fingerprint: `sha256:${createHash('sha256').update(cert.raw).digest('hex')}`,
    cn,
    serial: cert.serialNumber,
    spiffeId: spiffeIdFromSubjectAltName(cert.subjectAltName),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}
