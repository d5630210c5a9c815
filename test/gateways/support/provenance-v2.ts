/**
 * Two independent readings of provenance v2 (docs/provenance.md#part-2-version-2) for gateway tests,
 * neither sharing code with the product: an oracle that parses the headers with the third-party
 * `structured-field-values` (RFC 9651), rebuilds each member's signature base (RFC 9421 §2.5) and
 * checks it with node:crypto; and the npm RFC 9421 implementation `http-message-signatures`,
 * asked about ONE label at a time (its `verifyMessage()` reports only the last member's result).
 */
import { createHmac, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import { createVerifier, httpbis } from 'http-message-signatures';
import { decodeDict, serializeInnerList, serializeItem } from 'structured-field-values';
import type { ReceivedRequest } from './upstream.js';
import type { V2TestKey } from './pki.js';

/** One member of `Signature-Input` with its `Signature` value. */
export interface V2Member {
  readonly label: string;
  /** The covered components as serialized in the inner list, e.g. `"signature";key="stella-1-gw-edge"`. */
  readonly covered: readonly string[];
  readonly params: Readonly<Record<string, unknown>>;
  /** The inner list with its parameters, serialized: the `@signature-params` value. */
  readonly signatureParams: string;
  readonly signature: Buffer;
}

function header(request: ReceivedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

type Sf = { value: unknown; params: Record<string, unknown> | null };

/** Every member of the request's `Signature-Input`, in order, with its signature bytes. */
export function parseV2Members(request: ReceivedRequest): V2Member[] {
  const inputs = decodeDict(header(request, 'signature-input') ?? '') as unknown as Record<string, Sf>;
  const signatures = decodeDict(header(request, 'signature') ?? '') as unknown as Record<string, Sf>;
  return Object.entries(inputs).map(([label, input]) => {
    const sig = signatures[label];
    if (!Array.isArray(input.value) || !sig || !(sig.value instanceof Uint8Array)) throw new Error(`member ${label} is not an inner list with a byte-sequence signature`);
    return {
      label,
      covered: (input.value as Sf[]).map((item) => serializeItem(item as never)),
      params: input.params ?? {},
      signatureParams: serializeInnerList(input),
      signature: Buffer.from(sig.value),
    };
  });
}

/** RFC 9421 §2.5: the signature base of one member, from the request as the service received it. */
export function v2SignatureBase(member: V2Member, request: ReceivedRequest): string {
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const query = q < 0 ? '?' : request.url.slice(q);
  const signatures = decodeDict(header(request, 'signature') ?? '') as unknown as Record<string, Sf>;
  const lines = member.covered.map((component) => {
    const key = /^"signature";key="([^"]+)"$/.exec(component)?.[1];
    if (key !== undefined) {
      const previous = signatures[key];
      if (!previous) throw new Error(`${member.label} covers ${key}, which is absent`);
      return `${component}: ${serializeItem(previous as never)}`;
    }
    switch (component) {
      case '"@method"':
        return `${component}: ${request.method}`;
      case '"@path"':
        return `${component}: ${path}`;
      case '"@query"':
        return `${component}: ${query}`;
      default: {
        const value = header(request, JSON.parse(component) as string);
        if (value === undefined) throw new Error(`${member.label} covers ${component}, which is absent`);
        return `${component}: ${value.trim()}`;
      }
    }
  });
  return [...lines, `"@signature-params": ${member.signatureParams}`].join('\n');
}

/** The oracle: node:crypto over our own signature base (ECDSA as raw r‖s, RFC 9421 §3.3.4). */
export function v2VerifiesWithNodeCrypto(member: V2Member, request: ReceivedRequest, key: V2TestKey): boolean {
  const base = Buffer.from(v2SignatureBase(member, request));
  switch (key.alg) {
    case 'hmac-sha256': {
      const expected = createHmac('sha256', key.secret).update(base).digest();
      return expected.length === member.signature.length && timingSafeEqual(expected, member.signature);
    }
    case 'ecdsa-p256-sha256':
      return member.signature.length === 64 && cryptoVerify('sha256', base, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, member.signature);
    case 'ed25519':
      return cryptoVerify(null, base, key.publicKey, member.signature);
  }
}

/**
 * The npm library's verdict on ONE member: its key lookup answers only for the member whose nonce
 * is this one's, so the verdict is that member's own, whatever comes after it.
 */
export async function v2VerifiesWithLibrary(member: V2Member, request: ReceivedRequest, key: V2TestKey, host: string): Promise<boolean> {
  const verifier = createVerifier(key.alg === 'hmac-sha256' ? key.secret : key.publicKey, key.alg);
  const result = await httpbis.verifyMessage(
    {
      keyLookup: async (params) => (params.nonce === member.params.nonce ? { id: String(params.keyid), algs: [key.alg], verify: verifier } : null),
      tolerance: 60,
    },
    { method: request.method, url: `https://${host}${request.url}`, headers: request.headers as Record<string, string | string[]> },
  );
  return result === true;
}
