/**
 * The hop record of `X-Stella-Provenance` (docs/provenance.md) as a typed value, and the formats of each
 * field. Pure: no I/O, no parsing of header text (that is `codec.ts`).
 */
import { CERT_FINGERPRINT_PATTERN, HOP_ID_PATTERN, KID_PATTERN, NONCE_PATTERN, PEER_ID_PATTERN, SCAN_ID_PATTERN, WIRE_HEADERS } from '../conventions/index.js';

/** The field formats of a record (docs/provenance.md#grammar-of-x-stella-provenance), from the conventions floor. */
export { HOP_ID_PATTERN, KID_PATTERN, NONCE_PATTERN, PEER_ID_PATTERN, SCAN_ID_PATTERN };

/** The version label that starts every MAC input (docs/provenance.md). */
export const MAC_CONTEXT = 'stella-provenance-v1';
/** HMAC-SHA256 output length in bytes. */
export const MAC_BYTES = 32;
/** `peer`: `sha256:` and the lowercase hex SHA-256 of the downstream's certificate (DER). */
export const PEER_FINGERPRINT_PATTERN = CERT_FINGERPRINT_PATTERN;
/** Header names, lower-case as Node presents them. */
export const HEADER = {
  provenance: WIRE_HEADERS.provenance,
  scanId: WIRE_HEADERS.scanId,
  contentDigest: WIRE_HEADERS.contentDigest,
} as const;

/** The path of the stamper contract (docs/CONVENTIONS.md): every forward-auth request goes to it. */
export const STAMPER_PATH = '/stamp';

/** Parameter names of a hop record, in the order they are serialized. */
export const RECORD_PARAMS = ['seq', 'ts', 'nonce', 'peer', 'peer-id', 'kid', 'mac'] as const;

/** One record: the hop id (the list member's Token) and its parameters. */
export interface HopRecord {
  hop: string;
  seq: number;
  /** Unix time in seconds. */
  ts: number;
  nonce: string;
  peer: string;
  peerId: string;
  kid: string;
  /** The 32-byte HMAC-SHA256. */
  mac: Uint8Array;
}

/** The request facts every MAC covers, as the receiving service (or hop) saw them. */
export interface RequestFacts {
  method: string;
  /** Path and query exactly as received (the request target in origin-form). */
  pathAndQuery: string;
  scanId: string;
  /** The `Content-Digest` field value as received, or null when absent. */
  contentDigest: string | null;
}
