/**
 * `stella-gateway scanner submit | run | status` (docs/services.md, README.md#command-line; docs/scanner.md).
 *
 * Exit codes (src/cli/output.ts): submit → 0 every file delivered, 1 any rejected or still
 * pending after its attempts/deadline, 2 usage or configuration (bad topology, scanner, key,
 * scan id, unreadable file, unusable outbox). run → 0 after a graceful SIGTERM/SIGINT.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import pino from 'pino';
import { configurationStep } from '../failure.js';
import { CliError, EXIT_FAILED, EXIT_USAGE, formatTable, printJson } from '../output.js';
import { loadTopology } from '../../topology/load.js';
import type { ResolvedTopology } from '../../topology/resolve.js';
import { CERTIFICATE_SOURCES } from '../../scanner/certificates.js';
import type { CertificateSourceKind } from '../../scanner/certificates.js';
import { deliveryOptionsFor } from '../../scanner/config.js';
import type { ScannerSetup } from '../../scanner/config.js';
import { DEFAULT_RETENTION_MS, OUTBOX_STATES, Outbox, type OutboxSize } from '../../scanner/outbox.js';
import { runScanner } from '../../scanner/run.js';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS } from '../../scanner/backoff.js';
import type { BackoffPolicy } from '../../scanner/backoff.js';
import { DEFAULT_MAX_ATTEMPTS, assertScanId, submitArtifacts } from '../../scanner/submit.js';
import type { DeliveryEvent } from '../../scanner/worker.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerWorkerMetrics, startWorkerOps } from '../../scanner/metrics.js';
import { addObserveOptions, opsOf, type ObserveCliOptions } from '../observe.js';

/** Default outbox of a scanner: `<topology folder>/var/<scanner id>.outbox.db`. */
export function defaultOutboxPath(topology: ResolvedTopology, scannerId: string): string {
  return join(topology.baseDir, 'var', `${scannerId}.outbox.db`);
}

interface CommonFlags { topology: string; scanner: string; outbox?: string; receiptKey?: string; timeout?: number; backoffMax?: number; certSource?: CertificateSourceKind }

/** Loads the topology and builds the delivery setup; every failure here is a configuration error (exit 2). */
async function prepare(flags: CommonFlags): Promise<{ topology: ResolvedTopology; setup: ScannerSetup; outbox: Outbox }> {
  return configurationStep(async () => {
    const topology = await loadTopology(flags.topology);
    const setup = await deliveryOptionsFor(topology, flags.scanner, { receiptKey: flags.receiptKey, timeoutMs: flags.timeout, certificateSource: flags.certSource });
    try {
      return { topology, setup, outbox: Outbox.open(flags.outbox ?? defaultOutboxPath(topology, flags.scanner)) };
    } catch (error) {
      await setup.close();
      throw error;
    }
  });
}

/** The spool must be a folder (or not exist yet): checked before the worker says it started. */
async function checkSpool(spool: string): Promise<void> {
  const found = await stat(spool).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (found && !found.isDirectory()) throw new CliError(`--spool ${spool}: not a folder; name a folder (created when missing), e.g. /var/spool/stella/<scanner>`, EXIT_USAGE);
}

/** Adds the `scanner` group. */
export function register(program: Command): void {
  const group = program.command('scanner').description('Sign scan artifacts and deliver them through the gateway chain (docs/services.md)');
  const common = (c: Command): Command =>
    c
      .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
      .requiredOption('--scanner <id>', 'scanner id of the topology')
      .option('--outbox <file>', 'outbox database (default: <topology folder>/var/<scanner>.outbox.db)')
      .option('--receipt-key <file>', "the locker's receipt public key (default: <service receiptKey>.pub when present)")
      .option('--timeout <duration>', 'whole-request timeout, e.g. 30s', parseDurationMs)
      .addOption(new Option('--cert-source <kind>', 'client certificate source (default: files when the topology sets scanner.tls, else local-ca)').choices(CERTIFICATE_SOURCES))
      .option('--backoff-max <duration>', `longest wait between retries, e.g. 30s (default ${DEFAULT_BACKOFF_CAP_MS / 1000}s)`, parseDurationMs);

  common(group.command('submit'))
    .description('Enqueue files durably, deliver them with retries, print one result per file')
    .requiredOption('--scan-id <id>', 'scan id (X-Stella-Scan-Id)')
    .option('--max-attempts <n>', `attempts per file in this run (default ${DEFAULT_MAX_ATTEMPTS})`, parsePositive)
    .option('--deadline <duration>', 'stop retrying after this long, e.g. 2m (default 5m)', parseDurationMs)
    .option('--json', 'machine-readable output')
    .option('--retention <duration>', `afterwards, drop the bytes of items delivered longer ago than this (default ${DEFAULT_RETENTION_MS / 86_400_000}d)`, parseDurationMs)
    .option('--keep-delivered', 'never prune delivered items')
    .argument('<file...>', 'artifact files')
    .action(async (files: string[], o: CommonFlags & { scanId: string; maxAttempts?: number; deadline?: number; json?: boolean; retention?: number; keepDelivered?: boolean }) => {
      await configurationStep(async () => assertScanId(o.scanId));
      const { setup, outbox } = await prepare(o);
      try {
        const results = await configurationStep(() =>
          submitArtifacts({ ...setup, outbox, backoff: backoffOf(o), scanId: o.scanId, files, maxAttempts: o.maxAttempts, deadlineMs: o.deadline }),
        );
        if (o.json) printJson({ scanId: o.scanId, receiptVerified: setup.receiptKeyFile !== undefined, results });
        else {
          process.stdout.write(`${formatTable(
            ['file', 'result', 'code', 'attempts', 'envelope sha256', 'receipt sha256'],
            results.map((r) => [r.name, r.state, r.code ?? (r.status === null ? '' : String(r.status)), String(r.attempts), r.envelopeSha256 ?? '', r.receiptSha256 ?? '']),
          )}\n`);
          if (!setup.receiptKeyFile) process.stderr.write('stella-gateway: note: no receipt key configured; receipts were stored unverified\n');
        }
        // The default retention (docs/scanner.md#outbox-size-and-pruning): a worker that only ever
        // runs `submit` keeps its disk bounded too.
        if (!o.keepDelivered) outbox.prune(Date.now() - (o.retention ?? DEFAULT_RETENTION_MS));
        if (results.some((r) => r.state !== 'delivered')) throw new CliError('', EXIT_FAILED);
      } finally {
        outbox.close();
        await setup.close();
      }
    });

  addObserveOptions(common(group.command('run'))
    .description('Daemon: move files of <spool>/<scan-id>/ into the outbox and deliver them in the background')
    .requiredOption('--spool <dir>', 'spool folder (created when missing)')
    .option('--poll-interval <duration>', 'how often the spool is swept, e.g. 500ms (default 500ms)', parseDurationMs)
    .option('--retention <duration>', `delivered items keep their bytes this long, e.g. 12h (default ${DEFAULT_RETENTION_MS / 86_400_000}d)`, parseDurationMs)
    .option('--keep-delivered', 'never prune delivered items'))
    .action(async (o: CommonFlags & ObserveCliOptions & { spool: string; pollInterval?: number; retention?: number; keepDelivered?: boolean }) => {
      await checkSpool(o.spool);
      const { setup, outbox } = await prepare(o);
      const log = pino({ name: 'stella-scanner', base: { scanner: o.scanner }, level: o.logLevel ?? 'info' }, pino.destination({ fd: 2, sync: true }));
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      const metrics = registerWorkerMetrics(registry, outbox);
      const options = opsOf(o);
      const ops = await configurationStep(async () => (options ? startWorkerOps(options, `scanner-${o.scanner}`, registry, outbox) : null)).catch(async (error: unknown) => {
        outbox.close();
        await setup.close();
        throw error;
      });
      const stop = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        log.info({ signal }, 'stopping after the attempt in flight');
        stop.abort();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      const progress = process.stdout.isTTY ? setInterval(() => writeProgress(outbox), 1000) : undefined;
      log.info({ spool: o.spool, edge: setup.endpoint.origin, certificateSource: setup.certificateSource, receiptVerified: setup.receiptKeyFile !== undefined, ops: ops?.url ?? null }, 'scanner worker started');
      try {
        await runScanner({
          ...setup, outbox, backoff: backoffOf(o), spoolDir: o.spool, signal: stop.signal, pollIntervalMs: o.pollInterval,
          retentionMs: o.keepDelivered ? null : (o.retention ?? DEFAULT_RETENTION_MS),
          onPrune: (pruned) => log.info({ items: pruned.items, bytes: pruned.bytes }, 'pruned delivered items'),
          onEvent: (event) => {
            metrics.record(event);
            logEvent(log, event);
          },
          onSweep: (sweep) => {
            for (const a of sweep.accepted) log.info({ scanId: a.scanId, artifact: a.name, item: a.itemId, duplicate: !a.created }, 'accepted');
            for (const i of sweep.invalid) log.warn({ path: i.path, reason: i.reason }, 'moved to .rejected');
          },
          onSweepError: (error) => log.error({ err: error }, 'spool sweep failed'),
          onLoopError: (error) => log.error({ err: error }, 'delivery loop error; pausing'),
        });
      } finally {
        if (progress) {
          clearInterval(progress);
          process.stdout.write('\n');
        }
        process.removeListener('SIGTERM', onSignal);
        process.removeListener('SIGINT', onSignal);
        await ops?.close();
        const { counts } = outbox.summary(0);
        log.info({ counts }, 'scanner worker stopped');
        outbox.close();
        await setup.close();
      }
    });

  group
    .command('status')
    .description('Counts of outbox items by state and the latest errors')
    .requiredOption('--outbox <file>', 'outbox database')
    .option('--json', 'machine-readable output')
    .action(async (o: { outbox: string; json?: boolean }) => {
      const outbox = await configurationStep(async () => Outbox.open(o.outbox, { readonly: true }));
      try {
        const summary = outbox.summary();
        if (o.json) printJson(summary);
        else {
          process.stdout.write(`${OUTBOX_STATES.map((s) => `${s}: ${summary.counts[s]}`).join('  ')}\n`);
          if (summary.oldestPendingMs !== null) process.stdout.write(`oldest pending: accepted ${Math.round((Date.now() - summary.oldestPendingMs) / 1000)} s ago\n`);
          process.stdout.write(`${describeSize(summary.size)}\n`);
          if (summary.lastErrors.length > 0) {
            process.stdout.write(`\n${formatTable(
              ['item', 'scan id', 'file', 'state', 'attempts', 'code', 'message'],
              summary.lastErrors.map((e) => [String(e.id), e.scanId, e.name, e.state, String(e.attempts), e.code, (e.message ?? '').slice(0, 80)]),
            )}\n`);
          }
        }
      } finally {
        outbox.close();
      }
    });

  group
    .command('prune')
    .description('Drop the bytes of delivered items (digests and receipts stay), then shrink the outbox file')
    .requiredOption('--outbox <file>', 'outbox database (not in use by a running worker)')
    .option('--older-than <duration>', 'only items delivered longer ago than this, e.g. 7d')
    .option('--all', 'every delivered item')
    .option('--no-vacuum', 'do not rewrite the file (freed space is reused by later items)')
    .option('--json', 'machine-readable output')
    .action(async (o: { outbox: string; olderThan?: string; all?: boolean; vacuum: boolean; json?: boolean }) => {
      if (Boolean(o.all) === (o.olderThan !== undefined)) throw new CliError('pass exactly one of --older-than DURATION or --all', EXIT_USAGE);
      let olderThanMs = 0;
      if (o.olderThan !== undefined) {
        try {
          olderThanMs = parseDurationMs(o.olderThan);
        } catch (error) {
          throw new CliError(`--older-than: ${(error as Error).message}`, EXIT_USAGE);
        }
      }
      if (!existsSync(o.outbox)) throw new CliError(`--outbox ${o.outbox}: no such file`, EXIT_USAGE);
      const outbox = await configurationStep(async () => Outbox.open(o.outbox));
      try {
        const pruned = outbox.prune(Date.now() - olderThanMs);
        if (o.vacuum) outbox.vacuum();
        const { size } = outbox.summary(0);
        if (o.json) printJson({ pruned, size });
        else process.stdout.write(`pruned ${pruned.items} delivered item(s), ${formatBytes(pruned.bytes)}\n${describeSize(size)}\n`);
      } finally {
        outbox.close();
      }
    });
}

/** One line: what the outbox holds on disk and how much of it is artifact bytes by state. */
function describeSize(size: OutboxSize): string {
  const held = OUTBOX_STATES.map((s) => `${s} ${formatBytes(size.artifactBytes[s])}`).join(', ');
  return `size: ${formatBytes(size.fileBytes + size.walBytes)} on disk (wal ${formatBytes(size.walBytes)}); artifact bytes: ${held}; pruned items: ${size.prunedItems}`;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function logEvent(log: pino.Logger, event: DeliveryEvent): void {
  const base = { item: event.item.id, scanId: event.item.scanId, artifact: event.item.name, attempts: event.item.attempts };
  switch (event.type) {
    case 'delivered':
      // reqId: the chain's id of each request (docs/operations/running.md#the-request-id), to find its lines in every part's log.
      log.info({ ...base, status: event.delivered.status, envelopeSha256: event.delivered.envelopeSha256, reqId: event.delivered.requestId, artifactReqId: event.delivered.artifact.requestId }, 'delivered');
      return;
    case 'rejected':
      log.warn({ ...base, code: event.error.outcomeCode, status: event.error.status, reqId: event.error.requestId }, 'rejected');
      return;
    case 'retry':
      log.info({ ...base, code: event.error.outcomeCode, status: event.error.status, reqId: event.error.requestId, retryInMs: event.nextAttemptMs - Date.now() }, 'will retry');
      return;
    default:
      throw new TypeError(`unknown event ${String((event satisfies never) as unknown)}`);
  }
}

function writeProgress(outbox: Outbox): void {
  try {
    const { counts } = outbox.summary(0);
    process.stdout.write(`\rpending ${counts.pending}  delivered ${counts.delivered}  rejected ${counts.rejected}   `);
  } catch {
    // The outbox is closing; the final counts are logged on stop.
  }
}

function backoffOf(flags: CommonFlags): BackoffPolicy {
  const capMs = flags.backoffMax ?? DEFAULT_BACKOFF_CAP_MS;
  return { baseMs: Math.min(DEFAULT_BACKOFF_BASE_MS, capMs), capMs };
}

function parsePositive(value: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(value)) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

/** `500ms`, `30s`, `2m`, `1h`, `7d` → milliseconds. */
export function parseDurationMs(value: string): number {
  const match = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('must be a duration like 500ms, 30s, 2m, 1h or 7d');
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * factor;
  if (ms <= 0) throw new InvalidArgumentError('must be positive');
  return ms;
}
