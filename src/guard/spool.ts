/**
 * The guard's body spool (docs/services.md#the-guard): a request body is written to a private
 * temp file while its SHA-256 is taken, so a blob of any size passes with a bounded amount of
 * memory, and the service behind the guard receives it only after `Content-Digest` was checked
 * against the whole of it. Nothing of a refused body ever leaves the guard.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { once } from 'node:events';
import type { StreamedBody } from '../provenance/verify.js';

/** A spooled body: what the binding check needs, and the file the guard forwards from. */
export interface SpooledBody extends StreamedBody {
  readonly file: string;
  /** Deletes the file; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Streams `body` into a new file of `dir` (mode 0600, created exclusively), hashing as it goes.
 * Past `maxBytes` it stops writing, deletes the file, reads the rest to the end and resolves
 * `'too-large'`, so the client still gets its answer on a healthy connection.
 *
 * @example
 * const spooled = await spoolBody(req, '/run/guard/spool', 64 * 1024 * 1024);
 * if (spooled !== 'too-large') try { … createReadStream(spooled.file) … } finally { await spooled.remove(); }
 */
export async function spoolBody(body: Readable, dir: string, maxBytes: number): Promise<SpooledBody | 'too-large'> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${Date.now()}-${randomBytes(12).toString('hex')}.body`);
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  const remove = async (): Promise<void> => {
    await rm(file, { force: true });
  };
  const hash = createHash('sha256');
  let length = 0;
  let tooLarge = false;
  try {
    await once(out, 'open');
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      length += buf.length;
      if (tooLarge) continue;
      if (length > maxBytes) {
        tooLarge = true;
        out.destroy();
        continue;
      }
      hash.update(buf);
      // Back-pressure: the client's upload waits for the disk, never piles up in memory.
      if (!out.write(buf)) await once(out, 'drain');
    }
    if (tooLarge) {
      await remove();
      return 'too-large';
    }
    out.end();
    await once(out, 'finish');
  } catch (error) {
    out.destroy();
    await remove();
    throw error;
  }
  return { file, length, sha256: hash.digest(), remove };
}
