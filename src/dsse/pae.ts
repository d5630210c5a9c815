
/**
 * The DSSE v1 Pre-Authentication Encoding (docs/dsse.md; secure-systems-lab/dsse protocol.md).
 *
 * `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN being the decimal
 * byte length without leading zeros. Signatures are always over these bytes, never over the
 * payload alone, so a signature cannot be replayed under another payload type.
 */

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Payload views whose PAE buffer this module built (by {@link allocatePae}): the payload is the
 * tail of that buffer, so the PAE of a parsed or freshly signed envelope is found without copying
 * the payload again. Keyed by the exact view object; held weakly.
 */
const PAE_OF_PAYLOAD = new WeakMap<Uint8Array, Buffer>();

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
  const { pae: out, payload: view } = allocatePae(payloadType, payload.byteLength);
  view.set(payload);
  return out;
}

/**
 * Allocates the PAE buffer of a payload type and a payload length with the header written; the
 * caller fills `payload` (a view of its tail) in place. The pair is remembered so that
 * {@link paeOfPayload} finds it again without a copy.
 *
 * @throws {TypeError} like {@link pae}.
 */
export function allocatePae(payloadType: string, payloadLength: number): { pae: Buffer; payload: Buffer } {
  if (typeof payloadType !== 'string') throw new TypeError('payloadType must be a string');
  if (LONE_SURROGATE.test(payloadType)) throw new TypeError('payloadType is not well-formed Unicode');
  const head = header(payloadType, payloadLength);
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + payloadLength);
  out.write(head, 0, 'utf8');
  const payload = out.subarray(headBytes);
  PAE_OF_PAYLOAD.set(payload, out);
  return { pae: out, payload };
}

/**
 * The PAE header alone (`DSSEv1 LEN(type) type LEN(body) `), for a signer that takes the PAE in
 * two parts (`Signer.signParts`).
 *
 * @throws {TypeError} like {@link pae}.
 */
export function paeHeader(payloadType: string, payloadLength: number): Buffer {
  if (typeof payloadType !== 'string') throw new TypeError('payloadType must be a string');
  if (LONE_SURROGATE.test(payloadType)) throw new TypeError('payloadType is not well-formed Unicode');
  return Buffer.from(header(payloadType, payloadLength), 'utf8');
}

/**
 * The PAE of a payload type and payload: the buffer {@link allocatePae} made for this very
 * payload view when its header still matches `payloadType` (the payload bytes are shared, so
 * they are always current), otherwise a fresh {@link pae}. Verification of a parsed envelope
 * therefore reads the payload in place instead of copying megabytes.
 */
export function paeOfPayload(payloadType: string, payload: Buffer): Buffer {
  const known = PAE_OF_PAYLOAD.get(payload);
  if (known !== undefined) {
    const headBytes = known.length - payload.length;
    const head = header(payloadType, payload.length);
    // Same length and same bytes: the remembered header is exactly this PAE's header.
    if (Buffer.byteLength(head, 'utf8') === headBytes && known.toString('utf8', 0, headBytes) === head && !LONE_SURROGATE.test(payloadType)) {
      return known;
    }
  }
  return pae(payloadType, payload);
}

function header(payloadType: string, payloadLength: number): string {
  return `DSSEv1 ${Buffer.byteLength(payloadType, 'utf8')} ${payloadType} ${payloadLength} `;
}

/** Whether a string can be encoded as UTF-8 without replacement (no lone surrogate). */
export function isWellFormedText(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}
