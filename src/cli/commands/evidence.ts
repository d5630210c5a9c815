/**
 * `stella-gateway evidence verify|export` (README.md#command-line): re-verify stored evidence offline — the
 * envelope, its stored hop chain and the locker's receipt — from a store (`--db`, a SQLite file
 * or a postgres:// URL) or an exported record file (`--in`); and export records as JSON.
 * Exit 0 every record verifies, 1 a record failed or none matched, 2 usage or configuration.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { createVerifier, loadKeyFile, type KeyMaterial, type Verifier } from '../../dsse/index.js';
import { exportRecord, parseExportedRecords, type ExportedArtifact } from '../../evidence/export.js';
import { verifyEvidenceRecord, EVIDENCE_CHECKS, type ArtifactDigestInput, type EvidenceRecordInput, type EvidenceVerification } from '../../evidence/verify.js';
import type { ScannerKeyring } from '../../provenance/envelope.js';
import { loadHopKeyring, type HopKeyring } from '../../provenance/keys.js';
import { loadScannerKeyring } from '../../services/common/runtime.js';
import { loadTopology } from '../../topology/load.js';
import { hopPublicKeysOf } from './hop-public-keys.js';
import { openPostgresStore, openSqliteStore, type EvidenceRecord, type EvidenceStore } from '../../storage/index.js';
import { CliError, EXIT_FAILED, EXIT_USAGE, formatTable } from '../output.js';

/** Where a command writes its output (stdout; tests pass a collector). */
export type Write = (text: string) => void;
const toStdout: Write = (text) => void process.stdout.write(text);

/** Options of {@link runEvidenceVerify}. */
export interface EvidenceVerifyCliOptions {
  db?: string;
  in?: string;
  sha256?: string;
  scan?: string;
  receiptKey: string;
  key: string[];
  topology?: string;
  threshold?: string;
  /** Recompute every hop MAC with the hop keys of `topology`. */
  hopKeys?: boolean;
  /** v2: HOP=FILE public keys (or an HMAC hop's secret) to verify stored v2 members with. */
  hopKey?: string[];
  json?: boolean;
}

/** Options of {@link runEvidenceExport}. */
export interface EvidenceExportCliOptions {
  db: string;
  sha256?: string;
  scan?: string;
  out?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Registers the `evidence` group. */
export function register(program: Command): void {
  const evidence = program.command('evidence').description('Re-verify and export evidence stored by the Evidence Locker');
  evidence
    .command('verify')
    .description('Check stored envelopes, their hop chains and receipts offline')
    .option('--db <file|url>', 'SQLite file of the locker, or a postgres:// URL')
    .option('--in <file>', 'exported record JSON (from evidence export) instead of a store')
    .option('--sha256 <hex>', 'the envelope digest to verify')
    .option('--scan <id>', 'verify every envelope of this scan')
    .requiredOption('--receipt-key <file>', "the locker's Ed25519 public key (PEM)")
    .option('--key <scanner=file>', "a scanner's key: SCANNER=FILE (repeatable); only the keys of the scanner hop 1 saw count", collect, [])
    .option('--topology <file>', "take every scanner's keys from this topology file")
    .option('--threshold <n>', 'distinct scanner keys that must verify', '1')
    .option('--hop-keys', "also recompute every hop record's MAC with the hop keys of --topology")
    .option('--hop-key <hop=file>', "v2: a hop's public key HOP=FILE (repeatable); stored v2 chains are verified with these and the public keys of --topology", collect, [])
    .option('--json', 'print the result as JSON')
    .action(async (options: EvidenceVerifyCliOptions) => {
      await runEvidenceVerify(options);
    });
  evidence
    .command('export')
    .description('Write stored records (envelope bytes, hop chain, receipt) as JSON')
    .requiredOption('--db <file|url>', 'SQLite file of the locker, or a postgres:// URL')
    .option('--sha256 <hex>', 'one envelope digest')
    .option('--scan <id>', 'every envelope of this scan')
    .option('--out <file>', 'write here instead of stdout')
    .action(async (options: EvidenceExportCliOptions) => {
      await runEvidenceExport(options);
    });
}

/** Opens an existing store read-mostly; never creates an empty database by mistake. */
async function openExisting(db: string): Promise<EvidenceStore> {
  if (/^postgres(ql)?:\/\//.test(db)) return openPostgresStore({ url: db, poolSize: 2 });
  if (!existsSync(db)) throw new CliError(`--db ${db}: no such file`, EXIT_USAGE);
  return openSqliteStore({ file: db });
}

async function select(store: EvidenceStore, sha256: string | undefined, scan: string | undefined): Promise<EvidenceRecord[]> {
  if (sha256) {
    const record = await store.getEvidence(sha256.toLowerCase());
    return record && (!scan || record.scanId === scan) ? [record] : [];
  }
  return store.listByScan(scan!);
}

/** The artifacts a store keeps with one statement: the references of its scan that name it. */
async function artifactsOf(store: EvidenceStore, record: EvidenceRecord): Promise<{ sha256: string; size: number }[]> {
  return (await store.listArtifactsByScan(record.scanId)).filter((ref) => ref.evidenceSha256 === record.sha256).map((ref) => ({ sha256: ref.sha256, size: ref.size }));
}

/** SHA-256 of a byte stream, chunk by chunk (a large artifact is never held whole); null when it cannot be read. */
async function hashStream(chunks: AsyncIterable<Buffer | string> | null): Promise<string | null> {
  if (!chunks) return null;
  const hash = createHash('sha256');
  try {
    for await (const chunk of chunks) hash.update(chunk);
  } catch {
    return null;
  }
  return hash.digest('hex');
}

/** The artifacts of a stored record, hashed from the store. */
async function storedArtifactDigests(store: EvidenceStore, record: EvidenceRecord): Promise<ArtifactDigestInput[]> {
  const out: ArtifactDigestInput[] = [];
  for (const { sha256 } of await artifactsOf(store, record)) {
    const stored = await store.getArtifact(sha256);
    out.push({ sha256, actualSha256: await hashStream(stored ? stored.chunks() : null) });
  }
  return out;
}

/** Where `evidence export --out FILE` writes artifacts, relative to FILE's folder. */
export const EXPORT_ARTIFACTS_DIR = 'artifacts';

function requireOneSelector(options: { sha256?: string; scan?: string }, optional: boolean): void {
  if (!optional && !options.sha256 && !options.scan) throw new CliError('pass --sha256 HEX or --scan ID', EXIT_USAGE);
  if (options.sha256 && !/^[0-9a-fA-F]{64}$/.test(options.sha256)) throw new CliError('--sha256 must be 64 hex characters', EXIT_USAGE);
}

async function loadKey(file: string, what: string): Promise<KeyMaterial> {
  try {
    return await loadKeyFile(file);
  } catch (error) {
    throw new CliError(`${what} ${file}: ${(error as Error).message}`, EXIT_USAGE);
  }
}

/**
 * The scanner keyring of `--topology` and `--key SCANNER=FILE`: whose key each is must be said,
 * because only the keys of the scanner hop 1 saw may verify (docs/services.md).
 */
async function scannerKeysOf(options: EvidenceVerifyCliOptions): Promise<ScannerKeyring> {
  const keyring = new Map<string, Verifier[]>();
  if (options.topology) {
    try {
      const topology = await loadTopology(options.topology);
      for (const [id, verifiers] of await loadScannerKeyring(topology)) keyring.set(id, [...verifiers]);
    } catch (error) {
      throw new CliError(`--topology ${options.topology}: ${(error as Error).message}`, EXIT_USAGE);
    }
  }
  for (const value of options.key) {
    const match = /^([A-Za-z0-9._-]{1,64})=(.+)$/.exec(value);
    if (!match) throw new CliError(`--key ${value}: say whose key it is, as --key SCANNER=FILE (e.g. --key scanner-01=keys/scanner-01.hmac)`, EXIT_USAGE);
    const [, scannerId, file] = match;
    const list = keyring.get(scannerId!) ?? [];
    list.push(createVerifier(await loadKey(file!, '--key')));
    keyring.set(scannerId!, list);
  }
  return keyring;
}

/** The hop MAC keys of `--topology`, for `--hop-keys`. */
async function hopKeysOf(topologyFile: string | undefined): Promise<HopKeyring> {
  if (!topologyFile) throw new CliError('--hop-keys reads the hop keys of --topology FILE', EXIT_USAGE);
  try {
    return await loadHopKeyring(await loadTopology(topologyFile));
  } catch (error) {
    throw new CliError(`--topology ${topologyFile}: ${(error as Error).message}`, EXIT_USAGE);
  }
}

/** Verifies and prints; throws a CliError carrying exit 1 when anything failed. */
export async function runEvidenceVerify(options: EvidenceVerifyCliOptions, write: Write = toStdout): Promise<EvidenceVerification[]> {
  if (Boolean(options.db) === Boolean(options.in)) throw new CliError('pass exactly one of --db or --in', EXIT_USAGE);
  requireOneSelector(options, Boolean(options.in));
  const threshold = Number(options.threshold ?? '1');
  if (!Number.isInteger(threshold) || threshold < 1) throw new CliError('--threshold must be a positive integer', EXIT_USAGE);
  if (options.key.length === 0 && !options.topology) throw new CliError('pass the scanner keys with --key SCANNER=FILE (repeatable) or --topology FILE', EXIT_USAGE);
  const receiptKey = await loadKey(options.receiptKey, '--receipt-key');
  if (receiptKey.algorithm !== 'ed25519') throw new CliError('--receipt-key must be an Ed25519 PEM key', EXIT_USAGE);
  const scannerKeys = await scannerKeysOf(options);
  const hopKeys = options.hopKeys ? await hopKeysOf(options.topology) : undefined;
  const v2Keys = await hopPublicKeysOf(options.hopKey ?? [], options.topology);

  let records: EvidenceRecordInput[];
  if (options.in) {
    let text: string;
    try {
      text = await readFile(options.in, 'utf8');
    } catch (error) {
      throw new CliError(`--in ${options.in}: ${(error as Error).message}`, EXIT_USAGE);
    }
    let parsed: ReturnType<typeof parseExportedRecords>;
    try {
      parsed = parseExportedRecords(JSON.parse(text) as unknown);
    } catch (error) {
      throw new CliError(`--in ${options.in}: ${(error as Error).message}`, EXIT_FAILED);
    }
    const base = dirname(options.in);
    parsed = parsed.filter(({ record: r }) => (!options.sha256 || r.sha256 === options.sha256.toLowerCase()) && (!options.scan || r.scanId === options.scan));
    records = [];
    for (const { record, artifacts } of parsed) {
      // The exported files are hashed as they are on disk: a swapped or truncated file fails.
      const digests = await Promise.all(artifacts.map(async (a) => ({ sha256: a.sha256, actualSha256: await hashStream(a.file ? createReadStream(join(base, a.file)) : null) })));
      records.push({ ...record, artifacts: digests });
    }
  } else {
    const store = await openExisting(options.db!);
    try {
      records = [];
      for (const record of await select(store, options.sha256, options.scan)) records.push({ ...record, artifacts: await storedArtifactDigests(store, record) });
    } finally {
      await store.close();
    }
  }

  const results: EvidenceVerification[] = [];
  // Each record is checked in the version the locker verified: `macs` for a v1 chain, `signatures`
  // for a v2 one (it holds no MACs). A v2 receipt still refuses a record whose members were removed.
  for (const record of records) {
    const keys = record.provenanceV2 ? (v2Keys ? { v2Keys } : {}) : hopKeys ? { hopKeys } : {};
    results.push(await verifyEvidenceRecord(record, { receiptKey, scannerKeys, threshold, ...keys }));
  }
  const ok = results.length > 0 && results.every((r) => r.ok);
  if (options.json) write(`${JSON.stringify({ ok, records: results }, null, 2)}\n`);
  else if (results.length === 0) write('no evidence matched\n');
  else {
    const names = EVIDENCE_CHECKS.filter((name) => results.some((r) => r.checks.some((c) => c.name === name)));
    const header = ['sha256', 'scan', ...names, 'result'];
    const rows = results.map((r) => [r.sha256.slice(0, 16), r.scanId, ...names.map((name) => (r.checks.find((c) => c.name === name)?.ok ? 'ok' : 'FAIL')), r.ok ? 'verified' : 'FAILED']);
    write(`${formatTable(header, rows)}\n`);
    for (const r of results) for (const c of r.checks) if (!c.ok) write(`${r.sha256.slice(0, 16)} ${c.name}: ${c.detail}\n`);
  }
  if (!ok) throw new CliError('', EXIT_FAILED);
  return results;
}

/** Exports the selected records as JSON (one object for --sha256, a list for --scan). */
export async function runEvidenceExport(options: EvidenceExportCliOptions, write: Write = toStdout): Promise<void> {
  requireOneSelector(options, false);
  const store = await openExisting(options.db);
  const exported: ReturnType<typeof exportRecord>[] = [];
  try {
    const records = await select(store, options.sha256, options.scan);
    if (records.length === 0) throw new CliError('no evidence matched', EXIT_FAILED);
    for (const record of records) {
      const artifacts: ExportedArtifact[] = [];
      for (const artifact of await artifactsOf(store, record)) {
        // Beside the export, named by digest (content-addressed: the same bytes for every record naming them).
        if (!options.out) {
          artifacts.push(artifact);
          continue;
        }
        const file = `${EXPORT_ARTIFACTS_DIR}/${artifact.sha256}`;
        const stored = await store.getArtifact(artifact.sha256);
        if (!stored) throw new CliError(`artifact ${artifact.sha256} is referenced but not stored`, EXIT_FAILED);
        await mkdir(join(dirname(options.out), EXPORT_ARTIFACTS_DIR), { recursive: true });
        await pipeline(Readable.from(stored.chunks()), createWriteStream(join(dirname(options.out), file), { mode: 0o644 }));
        artifacts.push({ ...artifact, file });
      }
      exported.push(exportRecord(record, artifacts));
    }
  } finally {
    await store.close();
  }
  const text = `${JSON.stringify(options.sha256 ? exported[0] : exported, null, 2)}\n`;
  if (options.out) await writeFile(options.out, text, { mode: 0o644 });
  else write(text);
}
