/**
 * Stamping one v2 member (docs/provenance.md#v2-signature-base): what a hop that signs in Node (the
 * forward-auth stamper, tests, the demo) appends to `Signature-Input` and `Signature`. Pure apart
 * from the signing call.
 */
import type { KeyObject } from 'node:crypto';
import { serializeInnerList, serializeItem } from 'structured-headers';
import type { RequestFacts } from '../record.js';
import { V2_ALGORITHMS } from './algorithms.js';
import { signatureBase } from './base.js';
import { appendMember } from './fields.js';
import { V2_TAG, v2ComponentItems, v2Label, type V2StampAlg } from './profile.js';

/** Everything one v2 member signs. */
export interface V2StampInput {
  hop: string;
  /** 1-based position among the chain's stamping hops. */
  seq: number;
  /** Unix seconds. */
  created: number;
  /** 32 lowercase hex characters. */
  nonce: string;
  peer: string;
  peerId: string;
  keyid: string;
  alg: V2StampAlg;
  /** The hop's private key (or HMAC secret) as a KeyObject. */
  key: KeyObject;
  request: RequestFacts;
  /** The previous member's label and serialized `Signature` value; null for seq 1. */
  previous: { label: string; signatureValue: string } | null;
}

/** One stamped member: its label and the two serialized member values. */
export interface V2Stamp {
  label: string;
  /** The inner list for `Signature-Input` (also the `@signature-params` value). */
  signatureParams: string;
  /** `:base64:` for `Signature`. */
  signatureValue: string;
}

/**
 * Signs one member.
 * @example
 * const s1 = stampV2({ hop: 'gw-edge', seq: 1, created, nonce, peer, peerId: 'scanner-01', keyid, alg: 'ed25519', key, request, previous: null });
 * const s2 = stampV2({ ...hop2, seq: 2, previous: { label: s1.label, signatureValue: s1.signatureValue } });
 */
export function stampV2(input: V2StampInput): V2Stamp {
  const coversContentDigest = input.request.contentDigest !== null;
  const signatureParams = v2SignatureParams(input, coversContentDigest, input.previous?.label ?? null);
  const base = signatureBase(input.request, { coversContentDigest, previous: input.previous, signatureParams });
  const signature = V2_ALGORITHMS[input.alg].sign(input.key, base);
  return { label: v2Label(input.seq, input.hop), signatureParams, signatureValue: serializeItem(signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.byteLength) as ArrayBuffer) };
}

/**
 * A member's `Signature-Input` value (its `@signature-params`): the profile's covered components
 * and its parameters in the profile's order, serialized by RFC 9651.
 */
export function v2SignatureParams(
  params: Pick<V2StampInput, 'created' | 'nonce' | 'keyid' | 'alg' | 'peer' | 'peerId'>,
  coversContentDigest: boolean,
  previousLabel: string | null,
): string {
  const values = new Map<string, string | number>([
    ['created', params.created],
    ['nonce', params.nonce],
    ['keyid', params.keyid],
    ['alg', params.alg],
    ['tag', V2_TAG],
    ['peer', params.peer],
    ['peer-id', params.peerId],
  ]);
  return serializeInnerList([v2ComponentItems(coversContentDigest, previousLabel), values]);
}

/** Appends a stamped member to both fields. */
export function appendV2Stamp(fields: { signatureInput: string | null; signature: string | null }, stamp: V2Stamp): { signatureInput: string; signature: string } {
  return {
    signatureInput: appendMember(fields.signatureInput, stamp.label, stamp.signatureParams),
    signature: appendMember(fields.signature, stamp.label, stamp.signatureValue),
  };
}
