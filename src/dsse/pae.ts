/**
 * The DSSE v1 Pre-Authentication Encoding (SPEC §3; secure-systems-lab/dsse protocol.md).
 *
 * `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN being the decimal
 * byte length without leading zeros. Signatures are always over these bytes, never over the
 * payload alone, so a signature cannot be replayed under another payload type.
 */

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Computes the PAE bytes of a payload type and payload.
 *
 * @throws {TypeError} when `payloadType` holds a lone UTF-16 surrogate: it has no UTF-8 encoding,
 *   and replacing it (as `Buffer.from` would) lets two different types share one PAE.
 * @example pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()
 *   // 'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  if (typeof payloadType !== 'string') throw new TypeError('payloadType must be a string');
  if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
  if (LONE_SURROGATE.test(payloadType)) throw new TypeError('payloadType is not well-formed Unicode');
  const typeBytes = Buffer.byteLength(payloadType, 'utf8');
  const head = `DSSEv1 ${typeBytes} ${payloadType} ${payload.byteLength} `;
  const headBytes = Buffer.byteLength(head, 'utf8');
  // One allocation, one copy of the payload: the verify path of large payloads depends on it.
  const out = Buffer.allocUnsafe(headBytes + payload.byteLength);
  out.write(head, 0, 'utf8');
  out.set(payload, headBytes);
  return out;
}

/** Whether a string can be encoded as UTF-8 without replacement (no lone surrogate). */
export function isWellFormedText(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}
