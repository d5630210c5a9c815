/** Keys generated once per test file (RSA generation is slow) and small helpers for DSSE tests. */
import { ALGORITHM_NAMES, generateKey, parseKeyFile } from '../../../src/dsse/index.js';
import type { Algorithm, KeyMaterial } from '../../../src/dsse/index.js';

/** A private (or secret) key and the key verifiers use, per algorithm. */
export interface TestKey {
  algorithm: Algorithm;
  signing: KeyMaterial;
  verifying: KeyMaterial;
  pem: { private: string; public?: string };
}

/** Makes a fresh key of an algorithm. */
export function makeKey(algorithm: Algorithm): TestKey {
  const pem = generateKey(algorithm);
  const signing = parseKeyFile(Buffer.from(pem.private));
  const verifying = pem.public === undefined ? signing : parseKeyFile(Buffer.from(pem.public));
  return { algorithm, signing, verifying, pem };
}

let cache: Map<Algorithm, TestKey> | undefined;

/** One key per algorithm, shared by the tests of a file. */
export function keysByAlgorithm(): Map<Algorithm, TestKey> {
  cache ??= new Map(ALGORITHM_NAMES.map((alg) => [alg, makeKey(alg)]));
  return cache;
}

/**
 * Re-encodes an IEEE P1363 ECDSA signature (r‖s) as DER (X.690 SEQUENCE of two INTEGERs), so the
 * same signature can be checked in both encodings. Encoding only, no cryptography.
 */
export function p1363ToDer(raw: Uint8Array): Buffer {
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array): Buffer => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    let body = Buffer.from(bytes.subarray(start));
    if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const content = Buffer.concat([integer(raw.subarray(0, half)), integer(raw.subarray(half))]);
  const length = content.length < 0x80 ? Buffer.from([content.length]) : Buffer.from([0x81, content.length]);
  return Buffer.concat([Buffer.from([0x30]), length, content]);
}

/** Asserts-style helper: resolves to the DsseError code of a rejected promise or thrown call. */
export async function codeOf(action: () => unknown): Promise<string | undefined> {
  try {
    await action();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}
