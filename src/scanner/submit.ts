/**
 * `scanner submit` as a library call (docs/scanner.md, README.md#command-line): enqueue every file durably, then deliver
 * with retries until each item is delivered or rejected, or until `maxAttempts` / the deadline.
 * Items still pending at the end stay in the outbox; a later `submit` or `scanner run` over the
 * same outbox delivers them (never twice: enqueue is idempotent, envelopes are frozen).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { SCAN_ID_PATTERN } from '../conventions/index.js';
import { ScannerError } from './errors.js';
import type { Outbox, OutboxItem } from './outbox.js';
import { processItem } from './worker.js';
import type { WorkerOptions } from './worker.js';

/** `X-Stella-Scan-Id` syntax (docs/provenance.md#2-headers), from the conventions floor. */
export { SCAN_ID_PATTERN };
/** Attempts per item per `submit` run when none is given. */
export const DEFAULT_MAX_ATTEMPTS = 8;
/** How long one `submit` keeps retrying when no deadline is given. */
export const DEFAULT_SUBMIT_DEADLINE_MS = 5 * 60_000;

/** Options of {@link submitArtifacts}. */
export interface SubmitOptions extends WorkerOptions {
  outbox: Outbox;
  scanId: string;
  files: readonly string[];
  maxAttempts?: number | undefined;
  /** Give up retrying this long after the start (items stay pending in the outbox). */
  deadlineMs?: number | undefined;
  /** Waits between rounds; injected so tests need not wait for real. */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/** The outcome for one file. `failed` = still pending after the attempts/deadline of this run. */
export interface SubmitResult {
  file: string;
  name: string;
  itemId: number;
  state: 'delivered' | 'rejected' | 'failed';
  /** For rejected/failed: the problem code or scanner code of the last attempt. */
  code: string | null;
  status: number | null;
  message: string | null;
  attempts: number;
  artifactSha256: string;
  envelopeSha256: string | null;
  /** SHA-256 (hex) of the stored receipt JSON. */
  receiptSha256: string | null;
  /** True when the outbox already held this artifact from an earlier run. */
  alreadyEnqueued: boolean;
}

/** Throws `SCANNER_SCAN_ID_INVALID` unless `scanId` matches {@link SCAN_ID_PATTERN}. */
export function assertScanId(scanId: string): void {
  if (!SCAN_ID_PATTERN.test(scanId)) throw new ScannerError('SCANNER_SCAN_ID_INVALID', `scan id ${JSON.stringify(scanId)} does not match ${SCAN_ID_PATTERN.source}`);
}

/**
 * Enqueues and delivers `files` for one scan. Every file is read and committed to the outbox
 * before the first request is sent.
 *
 * @throws ScannerError `SCANNER_SCAN_ID_INVALID`, `SCANNER_ARTIFACT_UNREADABLE` (nothing enqueued then).
 */
export async function submitArtifacts(options: SubmitOptions): Promise<SubmitResult[]> {
  assertScanId(options.scanId);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const deadline = now() + (options.deadlineMs ?? DEFAULT_SUBMIT_DEADLINE_MS);

  const contents = await Promise.all(
    options.files.map(async (file) => {
      try {
        return { file, bytes: await readFile(file) };
      } catch (error) {
        throw new ScannerError('SCANNER_ARTIFACT_UNREADABLE', `${file}: ${(error as Error).message}`, { cause: error });
      }
    }),
  );
  const entries = contents.map(({ file, bytes }) => {
    const { item, created } = options.outbox.enqueue({ scanId: options.scanId, name: basename(file), bytes });
    return { file, id: item.id, alreadyEnqueued: !created, attemptsThisRun: 0 };
  });

  for (;;) {
    const open = entries.map((e) => ({ e, item: options.outbox.get(e.id) })).filter(
      (x): x is { e: (typeof entries)[number]; item: OutboxItem } => x.item?.state === 'pending' && x.e.attemptsThisRun < maxAttempts,
    );
    if (open.length === 0 || now() >= deadline) break;
    const due = open.filter((x) => x.item.nextAttemptMs <= now());
    if (due.length === 0) {
      const next = Math.min(...open.map((x) => x.item.nextAttemptMs));
      await sleep(Math.max(1, Math.min(next, deadline) - now()));
      continue;
    }
    for (const { e, item } of due) {
      e.attemptsThisRun += 1;
      await processItem(options.outbox, item, options);
    }
  }

  return entries.map((e) => {
    const item = options.outbox.get(e.id);
    if (!item) throw new TypeError(`submitArtifacts: outbox item ${e.id} vanished`);
    return resultOf(e.file, item, e.alreadyEnqueued);
  });
}

function resultOf(file: string, item: OutboxItem, alreadyEnqueued: boolean): SubmitResult {
  const delivered = item.state === 'delivered';
  return {
    file,
    name: item.name,
    itemId: item.id,
    state: item.state === 'pending' ? 'failed' : item.state,
    code: delivered ? null : item.lastErrorCode,
    status: item.lastStatus,
    message: delivered ? null : item.lastErrorMessage,
    attempts: item.attempts,
    artifactSha256: item.artifactSha256,
    envelopeSha256: item.envelopeSha256,
    receiptSha256: item.receipt ? createHash('sha256').update(item.receipt).digest('hex') : null,
    alreadyEnqueued,
  };
}
