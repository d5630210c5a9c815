/**
 * An independent reading of docs/provenance.md for gateway tests: parses `X-Stella-Provenance` with the
 * third-party `structured-headers` (RFC 9651) and recomputes each MAC with node:crypto. It uses
 * no product code, so a renderer bug cannot hide behind a shared helper.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseList, Token } from 'structured-headers';

/** One parsed record. */
export interface ParsedRecord {
  readonly hop: string;
  readonly seq: number;
  readonly ts: number;
  readonly nonce: string;
  readonly peer: string;
  readonly peerId: string;
  readonly kid: string;
  readonly mac: Buffer;
}

function param<T>(params: Map<string, unknown>, name: string, check: (v: unknown) => v is T): T {
  const value = params.get(name);
  if (!check(value)) throw new Error(`record parameter ${name} missing or of the wrong type: ${String(value)}`);
  return value;
}
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isBytes = (v: unknown): v is ArrayBuffer => v instanceof ArrayBuffer;

/** Parses the header as an RFC 9651 List of hop records; throws on anything else. */
export function parseProvenance(header: string): ParsedRecord[] {
  return parseList(header).map((member) => {
    const [value, params] = member;
    if (!(value instanceof Token)) throw new Error(`list member is not a Token: ${String(value)}`);
    const p = params as Map<string, unknown>;
    return {
      hop: value.toString(),
      seq: param(p, 'seq', isInt),
      ts: param(p, 'ts', isInt),
      nonce: param(p, 'nonce', isString),
      peer: param(p, 'peer', isString),
      peerId: param(p, 'peer-id', isString),
      kid: param(p, 'kid', isString),
      mac: Buffer.from(param(p, 'mac', isBytes)),
    };
  });
}

/** What the MAC of a record covers besides the record itself (docs/provenance.md). */
export interface RequestFacts {
  readonly method: string;
  readonly pathAndQuery: string;
  readonly scanId: string;
  readonly contentDigest: string;
}

/** docs/provenance.md's MAC input, written out field by field. */
export function macInput(record: ParsedRecord, request: RequestFacts, previous: ParsedRecord | undefined): string {
  return [
    'stella-provenance-v1', record.hop, String(record.seq), String(record.ts), record.nonce, record.peer, record.peerId,
    request.method, request.pathAndQuery, request.scanId, request.contentDigest,
    previous ? previous.mac.toString('base64') : '',
  ].join('|');
}

/** Whether the record's MAC is HMAC-SHA256(key, MAC input), compared in constant time. */
export function macVerifies(record: ParsedRecord, request: RequestFacts, previous: ParsedRecord | undefined, key: Buffer): boolean {
  const expected = createHmac('sha256', key).update(macInput(record, request, previous), 'utf8').digest();
  return expected.length === record.mac.length && timingSafeEqual(expected, record.mac);
}
