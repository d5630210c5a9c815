/**
 * An independent RFC 9421 verifier for the v2 profile: `http-message-signatures` (npm), which
 * shares no code with src/provenance/v2. Its verifyMessage() reports only the LAST signature's
 * result even with `all: true`, so each label is verified alone: Signature-Input is cut down to
 * that one member while Signature stays whole (a later member covers an earlier one's value).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createVerifier, httpbis } from 'http-message-signatures';
import { splitDictionary } from '../../../src/provenance/v2/fields.js';
import type { ResolvedTopology } from '../../../src/topology/resolve.js';

/** A message as it reached the verifier. */
export interface SignedMessage {
  method: string;
  /** Origin-form target; the oracle needs an absolute URL and prefixes a fixed origin. */
  url: string;
  headers: Record<string, string>;
}

/** keyid → [alg, verification key] as the hops publish them. */
export type PublicKeys = ReadonlyMap<string, { alg: string; key: KeyObject }>;

/**
 * Verifies ONE label with the library: true when it verifies, false when it does not, and the
 * library's error message when it refuses to judge (unknown key, malformed input).
 */
export async function verifyLabel(message: SignedMessage, label: string, keys: PublicKeys): Promise<boolean | string> {
  const member = splitDictionary(message.headers['signature-input']!).find((m) => m.label === label);
  if (!member) return `no member ${label}`;
  const headers = { ...message.headers, 'signature-input': member.raw };
  try {
    const result = await httpbis.verifyMessage(
      {
        keyLookup: async (params) => {
          const found = typeof params.keyid === 'string' ? keys.get(params.keyid) : undefined;
          return found ? { id: params.keyid as string, algs: [found.alg], verify: createVerifier(found.key, found.alg) } : null;
        },
        all: true,
      },
      { method: message.method, url: `https://gateway.test${message.url}`, headers },
    );
    return result === true;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Every label of Signature-Input, verified one by one, in order: `[label, result]`. */
export async function verifyEveryLabel(message: SignedMessage, keys: PublicKeys): Promise<[string, boolean | string][]> {
  const labels = splitDictionary(message.headers['signature-input']!).map((m) => m.label);
  const results: [string, boolean | string][] = [];
  for (const label of labels) results.push([label, await verifyLabel(message, label, keys)]);
  return results;
}

/** The public keys every v2 hop of a resolved topology publishes (`stamp.signing.keys[].publicFile`), by kid. */
export async function publishedKeys(topology: ResolvedTopology): Promise<PublicKeys> {
  const keys = new Map<string, { alg: string; key: KeyObject }>();
  for (const hop of topology.hops) {
    if (hop.stamp === false || !hop.stamp.signing) continue;
    for (const k of hop.stamp.signing.keys) {
      if (k.publicFile) keys.set(k.kid, { alg: hop.stamp.signing.alg, key: createPublicKey(await readFile(k.publicFile)) });
    }
  }
  return keys;
}

/** The request a receipt's embedded v2 chain covers, as the independent verifier reads it. */
export function receiptMessage(v2: { request: { method: string; pathAndQuery: string; contentDigest: string | null }; signatureInput: string; signature: string }, scanId: string): SignedMessage {
  const headers: Record<string, string> = { 'x-stella-scan-id': scanId, 'signature-input': v2.signatureInput, signature: v2.signature };
  if (v2.request.contentDigest !== null) headers['content-digest'] = v2.request.contentDigest;
  return { method: v2.request.method, url: v2.request.pathAndQuery, headers };
}
