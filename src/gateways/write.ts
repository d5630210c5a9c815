/**
 * Puts rendered files on disk (STYLE.md: "plan, then apply"). Each file is written to a temporary
 * name beside it and renamed into place, so a running gateway that reloads never reads half a file.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { DEFAULT_FILE_MODE, writeFileAtomic } from '../io/atomic-file.js';
import type { RenderedFile } from './types.js';

export { DEFAULT_FILE_MODE };

/**
 * The absolute target of a rendered file, or a `TypeError` when its path is absolute, empty or
 * leaves `outDir` (`../`), so a renderer bug can never write outside the output folder.
 */
export function targetPath(outDir: string, file: RenderedFile): string {
  if (file.path === '' || isAbsolute(file.path) || file.path.includes('\0')) throw new TypeError(`rendered file path "${file.path}" must be relative`);
  const root = resolve(outDir);
  const target = resolve(root, file.path);
  const rel = relative(root, target);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new TypeError(`rendered file path "${file.path}" leaves the output folder`);
  return target;
}

/**
 * Writes every file under `outDir` (folders created as needed), atomically per file, with its mode.
 * All paths are checked before the first write.
 *
 * @returns the absolute paths written, in order.
 * @example
 * await writeRenderedFiles('/etc/stella-gateway', renderTopology(topology, { outDir: '/etc/stella-gateway' }));
 */
export async function writeRenderedFiles(outDir: string, files: readonly RenderedFile[]): Promise<string[]> {
  const targets = files.map((file) => ({ file, target: targetPath(outDir, file) }));
  const written: string[] = [];
  for (const { file, target } of targets) {
    await writeFileAtomic(target, file.contents, file.mode ?? DEFAULT_FILE_MODE);
    written.push(target);
  }
  return written;
}
