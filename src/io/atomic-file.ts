/**
 * Atomic file writes, used by the PKI store (CA and leaf keys, certificates, CA state, tokens),
 * `deploy` bootstrap (hop and scanner keys), `dsse keygen` and the gateway config writer: a temp
 * file beside the target (same file system) created with its final mode, the mode forced past
 * the umask, fsync, then rename. A reader (a gateway reloading, a crash recovery) sees the old
 * file or the new one, never half of one, and a private key is never readable by others, even
 * briefly. One key file is written elsewhere: the Apache hop's combined upstream certificate and
 * key (src/gateways/apache/prepare.ts), created 0600 and renamed into place, without fsync.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Mode of files that do not say otherwise. */
export const DEFAULT_FILE_MODE = 0o644;

/**
 * Writes `contents` to `path` atomically with exactly `mode`, creating missing parent folders
 * (mode 0700: a folder this creates may hold keys).
 *
 * @example
 * await writeFileAtomic('keys/gw-edge.key', secretBase64, 0o600);
 */
export async function writeFileAtomic(path: string, contents: string | Uint8Array, mode: number = DEFAULT_FILE_MODE): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.chmod(mode); // open's mode is narrowed by the umask; the plan's mode is exact
    await handle.writeFile(contents);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
