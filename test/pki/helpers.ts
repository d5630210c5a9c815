/** Shared pieces of the PKI tests: a fresh CA in a temp folder and a real openssl. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { initPki, type PkiInfo } from '../../src/pki/index.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';

const execFileAsync = promisify(execFile);

/** A CA in a temp folder; `remove` deletes it. */
export async function freshCa(trustDomain = 'stella.test'): Promise<{ dir: string; info: PkiInfo; remove: () => void }> {
  const tmp = tempDir('stella-pki-');
  const info = await initPki({ dir: tmp.path, trustDomain });
  return { dir: tmp.path, info, remove: tmp.remove };
}

/** Runs openssl; resolves with exit code and output (never rejects on a non-zero exit). */
export async function openssl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = requireProgram('openssl');
  try {
    const child = execFileAsync(bin, args, { encoding: 'utf8' });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
