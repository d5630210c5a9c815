/**
 * Signing and threshold verification of envelopes (docs/dsse.md).
 */
import type { Algorithm } from './algorithms.js';
import type { Envelope } from './envelope.js';
import { DsseError } from './errors.js';
import { allocatePae, paeHeader, paeOfPayload } from './pae.js';
import { localSignParts, localVerify, type Signer, type Verifier } from './signers.js';

/** Options of {@link verifyEnvelope}. */
export interface VerifyOptions {
  /** The payload type the caller expects; any other is rejected (docs/dsse.md: explicit input). */
  payloadType: string;
  /** The trusted keys. A signature's keyid only narrows which of them are tried. */
  verifiers: Verifier[];
  /** How many DISTINCT keys must verify (default 1). */
  threshold?: number;
  /**
   * Whether a verified HMAC signature counts toward the threshold (default `true`: one signer
   * per HMAC key). A MAC proves possession of a shared secret, not identity: set `false` when
   * the threshold means independent signers.
   */
  macCountsAsSigner?: boolean;
}

/** One key that verified a signature of the envelope. */
export interface AcceptedKey {
  /** The keyid of the verifier that accepted (not the envelope's hint). */
  keyid: string;
  /** The key's stable identity. */
  keyId: string;
  algorithm: Algorithm;
}

/** The outcome of a successful verification: the exact bytes that were verified. */
export interface VerifiedEnvelope {
  payloadType: string;
  payload: Buffer;
  /** Every distinct key that verified, including MAC keys that did not count toward the threshold. */
  accepted: AcceptedKey[];
}

/**
 * Signs a payload with every signer, over one PAE computed once. When every signer takes the PAE
 * in parts (HMAC), the PAE is never built and the envelope's payload is the caller's bytes, not a
 * copy: leave them unchanged until the envelope is serialized (docs/dsse.md#memory).
 *
 * @throws {TypeError} when no signer is given.
 */
export async function signEnvelope(payloadType: string, payload: Uint8Array, signers: Signer[]): Promise<Envelope> {
  if (!Array.isArray(signers) || signers.length === 0) throw new TypeError('signEnvelope needs at least one signer');
  if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
  if (signers.every((s) => typeof s.signParts === 'function')) {
    const head = paeHeader(payloadType, payload.byteLength);
    let signatures: Envelope['signatures'];
    if (signers.length === 1) {
      // Awaited only when it is a promise: a local HMAC signer costs no extra microtask.
      const one = signOne(signers[0]!, head, payload);
      signatures = [one instanceof Promise ? await one : one];
    } else {
      signatures = await signAll(signers, (s) => s.signParts!(head, payload));
    }
    return { payloadType, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), signatures };
  }
  const { pae: encoded, payload: signed } = allocatePae(payloadType, payload.byteLength);
  signed.set(payload);
  // A view into the signed PAE: exactly the bytes the signatures cover, without another copy.
  return { payloadType, payload: signed, signatures: await signAll(signers, (s) => s.sign(encoded)) };
}

/**
 * One signer's entry over the PAE in parts; awaited by the caller, so a single signer costs one
 * promise, not a Promise.all. An HMAC signer made here signs synchronously (signers.ts).
 */
function signOne(signer: Signer, head: Buffer, payload: Uint8Array): Envelope['signatures'][number] | Promise<Envelope['signatures'][number]> {
  const local = localSignParts(signer);
  if (local !== undefined) return { keyid: signer.keyid, sig: local(head, payload) };
  return (async () => ({ keyid: signer.keyid, sig: await signer.signParts!(head, payload) }))();
}

/** Every signer's signature, in order. */
async function signAll(signers: Signer[], sign: (s: Signer) => Promise<Buffer>): Promise<Envelope['signatures']> {
  const sigs = await Promise.all(signers.map(sign));
  return signers.map((s, i) => ({ keyid: s.keyid, sig: sigs[i] ?? Buffer.alloc(0) }));
}

/**
 * Verifies an envelope against trusted keys with a threshold of distinct keys.
 *
 * The returned `payload` is a view into the PAE bytes the signatures were checked over, so a
 * caller acting on it acts on exactly what was verified. For an envelope from
 * {@link parseEnvelope} or {@link signEnvelope} those bytes are `env.payload` itself, read in
 * place without a copy: treat both as read-only.
 *
 * @throws {DsseError} `DSSE_PAYLOAD_TYPE_MISMATCH`, `DSSE_NO_SIGNATURES` or `DSSE_THRESHOLD_NOT_MET`.
 * @throws {TypeError} for a missing verifier list or a threshold that is not a positive integer.
 */
export async function verifyEnvelope(env: Envelope, options: VerifyOptions): Promise<VerifiedEnvelope> {
  const { payloadType, verifiers, threshold = 1, macCountsAsSigner = true } = options;
  if (typeof payloadType !== 'string') throw new TypeError('verifyEnvelope needs the expected payloadType');
  if (!Array.isArray(verifiers) || verifiers.length === 0) throw new TypeError('verifyEnvelope needs at least one verifier');
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new TypeError('threshold must be a positive integer');
  if (env.payloadType !== payloadType) {
    throw new DsseError('DSSE_PAYLOAD_TYPE_MISMATCH', `payload type ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(payloadType)}`);
  }
  if (env.signatures.length === 0) throw new DsseError('DSSE_NO_SIGNATURES', 'the envelope has no signature');

  const encoded = paeOfPayload(env.payloadType, env.payload);
  const accepted = new Map<string, AcceptedKey>();
  for (const signature of env.signatures) {
    // An empty sig is an entry the parser found unusable: skipped, the threshold decides (docs/dsse.md).
    if (signature.sig.length === 0) continue;
    for (const verifier of candidates(verifiers, signature.keyid)) {
      // A key already accepted cannot count twice, so it is not tried again.
      if (accepted.has(verifier.keyId)) continue;
      const local = localVerify(verifier);
      if (local !== undefined ? local(encoded, signature.sig) : await verifier.verify(encoded, signature.sig)) {
        accepted.set(verifier.keyId, { keyid: verifier.keyid, keyId: verifier.keyId, algorithm: verifier.algorithm });
        break;
      }
    }
  }
  let counted = 0;
  for (const a of accepted.values()) if (macCountsAsSigner || a.algorithm !== 'hmac-sha256') counted++;
  if (counted < threshold) {
    throw new DsseError('DSSE_THRESHOLD_NOT_MET', `${counted} distinct trusted key(s) verified, ${threshold} required`);
  }
  return { payloadType: env.payloadType, payload: encoded.subarray(encoded.length - env.payload.length), accepted: [...accepted.values()] };
}

/**
 * keyid is a hint (docs/dsse.md): verifiers with the signature's keyid are tried; when there are none
 * (or the keyid is empty), every verifier is tried.
 */
function candidates(verifiers: Verifier[], keyid: string): Verifier[] {
  // One verifier is tried whatever the keyid says: skip the filter.
  if (keyid === '' || verifiers.length === 1) return verifiers;
  const named = verifiers.filter((v) => v.keyid === keyid);
  return named.length > 0 ? named : verifiers;
}
