/**
 * HTTP names every part shares: the protocol's header fields and the health and metrics paths.
 * Header names are given as the docs write them ({@link HEADERS}, for rendered configs) and lower
 * case ({@link WIRE_HEADERS}, as Node presents incoming headers).
 *
 * Part of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor): imports nothing.
 */

/** Header fields of the protocol and its gateways (docs/provenance.md#2-headers, docs/CONVENTIONS.md#the-stamper-contract-forward-auth). */
export const HEADERS = {
  /** The v1 hop records (docs/provenance.md#grammar-of-x-stella-provenance). */
  provenance: 'X-Stella-Provenance',
  /** The scan a request belongs to; a MAC input. */
  scanId: 'X-Stella-Scan-Id',
  /** RFC 9530 digest of the body; a MAC input. */
  contentDigest: 'Content-Digest',
  /** v2 members (docs/provenance.md#v2-the-profile). */
  signatureInput: 'Signature-Input',
  /** v2 signatures (docs/provenance.md#v2-the-profile). */
  signature: 'Signature',
  /** RFC 9440 client certificate, `:base64-DER:`. */
  clientCert: 'Client-Cert',
  /** RFC 9440 client certificate chain. */
  clientCertChain: 'Client-Cert-Chain',
  /** Envoy's XFCC. */
  forwardedClientCert: 'X-Forwarded-Client-Cert',
  /** The verified certificate a forward-auth hop hands its stamper (URL-encoded PEM). */
  stamperClientCert: 'X-Stella-Client-Cert',
  /** docs/operations/running.md#the-request-id. */
  requestId: 'X-Request-Id',
} as const;

/** {@link HEADERS} in lower case, as Node presents incoming headers. */
export const WIRE_HEADERS = Object.fromEntries(Object.entries(HEADERS).map(([k, v]) => [k, v.toLowerCase()])) as {
  readonly [K in keyof typeof HEADERS]: Lowercase<(typeof HEADERS)[K]>;
};

/** Every `/healthz/*` path starts with this; a hop forwards the ones that are not its own. */
export const HEALTH_PREFIX = '/healthz/';

/** The health paths of a service, a guard and a stamper (docs/services.md#health-and-metrics). */
export const HEALTH_PATHS = {
  /** The process answers. */
  live: '/healthz/live',
  /** Database, keys and certificate. */
  ready: '/healthz/ready',
  /** The full provenance validation, through the chain. */
  traversal: '/healthz/traversal',
} as const;

/** The Prometheus metrics path, on a service and on the ops listener. */
export const METRICS_PATH = '/metrics';

/** The plain-HTTP ops listener's paths (docs/operations/running.md#the-ops-listener). */
export const OPS_PATHS = {
  live: '/livez',
  ready: '/readyz',
  metrics: METRICS_PATH,
} as const;

/** The path a hop answers itself: `GET /healthz/hop/<its id>` (docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements). */
export function hopHealthPath(hopId: string): string {
  return `${HEALTH_PREFIX}hop/${hopId}`;
}
