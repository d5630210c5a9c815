/**
 * Reading key files from disk (the I/O layer above {@link parseKeyFile}).
 */
import { readFile } from 'node:fs/promises';
import { MAX_KEY_FILE_BYTES } from '../conventions/index.js';
import { DsseError } from './errors.js';
import { parseKeyFile } from './keys.js';
import type { KeyMaterial, ParseKeyOptions } from './keys.js';

/** Largest key file read: PEM keys and base64 secrets are a few KiB at most (the conventions floor's limit). */
export { MAX_KEY_FILE_BYTES };

/**
 * Reads and parses a key file (README.md#command-line).
 *
 * @throws {DsseError} `DSSE_KEY_INVALID` when the file is unreadable, too large or not a usable key.
 */
export async function loadKeyFile(path: string, opts?: ParseKeyOptions): Promise<KeyMaterial> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new DsseError('DSSE_KEY_INVALID', `${path}: cannot read key file (${reason})`, { cause: error });
  }
  if (bytes.length > MAX_KEY_FILE_BYTES) throw new DsseError('DSSE_KEY_INVALID', `${path}: key file larger than ${MAX_KEY_FILE_BYTES} bytes`);
  try {
    return parseKeyFile(bytes, opts);
  } catch (error) {
    if (error instanceof DsseError) throw new DsseError(error.code, `${path}: ${error.message}`, { cause: error });
    throw error;
  }
}
