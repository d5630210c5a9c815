/**
 * The spool folder of `scanner run` (docs/scanner.md "Spool folder"): producers drop artifacts
 * as `<spool>/<scan-id>/<file>`; the worker commits each file to the outbox and only then removes
 * it from the spool. Nothing is delivered from the spool directly, so a full outage of the edge
 * never blocks producers and a crash never loses or duplicates a file.
 *
 * Producer contract: write the file under a name starting with `.` or ending in `.part`, then
 * rename it into place (rename is atomic within a file system). As a safety net for producers that
 * do not, files younger than `settleMs` are left for the next sweep.
 */
import { chmod, mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Outbox } from './outbox.js';
import { SCAN_ID_PATTERN } from './submit.js';

/** Where files that cannot be attributed to a scan are moved (inside the spool). */
export const SPOOL_REJECTED_DIR = '.rejected';
/** Files modified more recently than this are left for the next sweep. */
export const DEFAULT_SETTLE_MS = 1_000;

/** What one sweep did. */
export interface SpoolSweep {
  accepted: { scanId: string; name: string; itemId: number; created: boolean }[];
  /** Entries moved to `.rejected/`, with why. */
  invalid: { path: string; reason: string }[];
}

/** Options of {@link sweepSpool}. */
export interface SweepOptions {
  settleMs?: number | undefined;
  now?: (() => number) | undefined;
}

const inProgress = (name: string): boolean => name.startsWith('.') || name.endsWith('.part');

/** One pass over the spool: enqueue every settled file, then remove it from the spool. */
export async function sweepSpool(dir: string, outbox: Outbox, options: SweepOptions = {}): Promise<SpoolSweep> {
  const now = options.now ?? Date.now;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const result: SpoolSweep = { accepted: [], invalid: [] };
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (inProgress(entry.name)) continue;
    const path = join(dir, entry.name);
    if (!entry.isDirectory()) {
      if (entry.isFile() && (await settled(path, settleMs, now))) await reject(dir, path, 'not inside a <scan-id>/ folder', result);
      continue;
    }
    if (!SCAN_ID_PATTERN.test(entry.name)) {
      await reject(dir, path, `folder name is not a valid scan id (${SCAN_ID_PATTERN.source})`, result);
      continue;
    }
    for (const file of await readdir(path, { withFileTypes: true })) {
      if (!file.isFile() || inProgress(file.name)) continue;
      const filePath = join(path, file.name);
      if (!(await settled(filePath, settleMs, now))) continue;
      const bytes = await readFile(filePath);
      // Commit first, unlink second: a crash in between re-enqueues the same bytes, which the
      // outbox recognises (idempotent per scan id + digest + name).
      const { item, created } = outbox.enqueue({ scanId: entry.name, name: file.name, bytes });
      await unlink(filePath);
      result.accepted.push({ scanId: entry.name, name: file.name, itemId: item.id, created });
    }
  }
  return result;
}

async function settled(path: string, settleMs: number, now: () => number): Promise<boolean> {
  if (settleMs <= 0) return true;
  try {
    return now() - (await stat(path)).mtimeMs >= settleMs;
  } catch {
    return false;
  }
}

async function reject(dir: string, path: string, reason: string, result: SpoolSweep): Promise<void> {
  const target = join(dir, SPOOL_REJECTED_DIR);
  await mkdir(target, { recursive: true, mode: 0o700 });
  const name = `${Date.now()}-${path.slice(dir.length + 1).replace(/[/\\]/g, '_')}`;
  await rename(path, join(target, name));
  // What the worker keeps is readable by its user only, whatever mode the producer wrote it with.
  await chmod(join(target, name), (await stat(join(target, name))).isDirectory() ? 0o700 : 0o600);
  result.invalid.push({ path, reason });
}
