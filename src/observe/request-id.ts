/**
 * The request id (docs/operations/running.md#the-request-id): one `X-Request-Id` per request,
 * set by the edge gateway, forwarded unchanged by every hop, written in every access log and in
 * each decision line of the services, the stamper and the guard, and echoed in their answers.
 *
 * A receiver keeps an incoming id only when it is 1–128 visible ASCII characters (no space, no
 * control character): such an id cannot break a log line or forge another one. Anything else is
 * replaced by a fresh id, never rejected: the id is for correlation, not a reason to refuse.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HEADERS, WIRE_HEADERS } from '../conventions/index.js';

/** The header, as every gateway, service, stamper and guard writes it. */
export const REQUEST_ID_HEADER = HEADERS.requestId;
/** Longest id kept: a UUID is 36, NGINX's `$request_id` 32, Apache's UNIQUE_ID 27. */
export const MAX_REQUEST_ID_LENGTH = 128;
/** Visible ASCII (0x21–0x7E), 1 to {@link MAX_REQUEST_ID_LENGTH} characters. */
export const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** Whether an incoming value may be kept as the request id. */
export function isAcceptableRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value);
}

/**
 * The request id of a request: its `X-Request-Id` when there is exactly one acceptable value,
 * else a new UUID from `generate`.
 * @example
 * requestIdOf({ 'x-request-id': '4f1c…' }) // '4f1c…'
 * requestIdOf({ 'x-request-id': 'a b\n' }) // a fresh UUID
 */
export function requestIdOf(headers: IncomingHttpHeaders, generate: () => string = randomUUID): string {
  const value = headers[WIRE_HEADERS.requestId];
  return isAcceptableRequestId(value) ? value : generate();
}
