/**
 * The v2 wire profile (docs/provenance.md#part-2-version-2): RFC 9421 HTTP Message Signatures with
 * one `Signature-Input` / `Signature` member per stamping hop. Facts only: names, patterns, the
 * covered components and the parameter order. Pure.
 */
import { serializeItem } from 'structured-headers';
import type { InnerList } from 'structured-headers';
import { HOP_ID_PATTERN, WIRE_HEADERS } from '../../conventions/index.js';
import type { V2StampAlg } from '../../topology/schema.js';

export type { V2StampAlg };

/** The `tag` parameter every member of the profile carries. */
export const V2_TAG = 'stella-provenance-v2';
/** Every label of the profile starts with this; the edge strips client-sent members that do. */
export const V2_LABEL_PREFIX = 'stella-';
/** `nonce`: 32 lowercase hex characters (16 random bytes). */
export const V2_NONCE_PATTERN = /^[0-9a-f]{32}$/;
/** Bytes of randomness in a v2 nonce. */
export const V2_NONCE_BYTES = 16;

/** Header names, lower-case as Node presents them. */
export const V2_HEADER = {
  signatureInput: WIRE_HEADERS.signatureInput,
  signature: WIRE_HEADERS.signature,
} as const;

/** Signature parameters, in the order they are serialized (and the only order accepted). */
export const V2_PARAMS = ['created', 'nonce', 'keyid', 'alg', 'tag', 'peer', 'peer-id'] as const;


/** `stella-<seq>-<hop id>` for the hop at 1-based position `seq` among its chain's stamping hops. */
export function v2Label(seq: number, hop: string): string {
  return `${V2_LABEL_PREFIX}${seq}-${hop}`;
}

/** The seq of a label (1–999, no leading zero), as pattern source: shared with the fast reader (canonical.ts). */
export const V2_LABEL_SEQ_SOURCE = '[1-9][0-9]{0,2}';

const V2_LABEL = new RegExp(`^${V2_LABEL_PREFIX}(${V2_LABEL_SEQ_SOURCE})-(.+)$`);

/** Splits a label of the profile into seq and hop id, or null when it is not one. */
export function parseV2Label(label: string): { seq: number; hop: string } | null {
  const match = V2_LABEL.exec(label);
  if (!match || !HOP_ID_PATTERN.test(match[2]!)) return null;
  return { seq: Number(match[1]), hop: match[2]! };
}

/**
 * The covered components of a member, in order, as Inner List items (docs/provenance.md#v2-covered-components):
 * the one list both the signer and the verifier derive from.
 */
export function v2ComponentItems(withContentDigest: boolean, previousLabel: string | null): InnerList[0] {
  const items: InnerList[0] = [['@method', new Map()], ['@path', new Map()], ['@query', new Map()]];
  if (withContentDigest) items.push([WIRE_HEADERS.contentDigest, new Map()]);
  items.push([WIRE_HEADERS.scanId, new Map()]);
  if (previousLabel !== null) items.push(['signature', new Map([['key', previousLabel]])]);
  return items;
}

/** The covered component identifiers of a member, each as serialized in its inner list. */
export function v2CoveredComponents(withContentDigest: boolean, previousLabel: string | null): string[] {
  return v2ComponentItems(withContentDigest, previousLabel).map(([name, params]) => serializeItem(name, params));
}

/** The signature parameters of one member. */
export interface V2Params {
  /** Unix seconds. */
  created: number;
  nonce: string;
  keyid: string;
  alg: V2StampAlg;
  peer: string;
  peerId: string;
}

/** One member of the profile after parsing both headers. */
export interface V2Member {
  label: string;
  hop: string;
  seq: number;
  /** Whether the covered list names `content-digest`. */
  coversContentDigest: boolean;
  /** The label the member's `"signature";key=…` component names, or null when it names none. */
  coveredPrevious: string | null;
  params: V2Params;
  /** The member's inner list exactly as in `Signature-Input` (canonical): the `@signature-params` value. */
  signatureParams: string;
  /** The member's Byte Sequence as serialized in `Signature` (`:base64:`). */
  signatureValue: string;
  signature: Buffer;
}
