/**
 * Provenance version 2 (docs/provenance.md#part-2-version-2): RFC 9421 HTTP Message Signatures,
 * one member per stamping hop, each signed with the hop's own key and covering the previous
 * hop's signature.
 */
export { V2_TAG, V2_LABEL_PREFIX, V2_NONCE_PATTERN, V2_NONCE_BYTES, V2_HEADER, V2_PARAMS, v2Label, parseV2Label, v2ComponentItems, v2CoveredComponents } from './profile.js';
export type { V2StampAlg, V2Member, V2Params } from './profile.js';
export { V2_ALGORITHMS, isV2Alg } from './algorithms.js';
export type { V2Algorithm } from './algorithms.js';
export { signatureBase, pathAndQueryComponents } from './base.js';
export type { BaseInputs } from './base.js';
export { parseV2Fields, stripV2Members, appendMember, splitDictionary } from './fields.js';
export type { RawMember, StrippedFields, V2Limits } from './fields.js';
export { stampV2, appendV2Stamp } from './sign.js';
export type { V2Stamp, V2StampInput } from './sign.js';
export { verifyV2Chain } from './verify.js';
export type { V2ChainContext } from './verify.js';
export { loadV2Keyring, loadV2SigningKey, readV2Key, stampsV1, stampsV2 } from './keys.js';
export type { V2HopKeys, V2Keyring, V2SigningKey } from './keys.js';
