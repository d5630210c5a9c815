/**
 * `stella-gateway dsse sign | verify | keygen` (docs/dsse.md, README.md#command-line).
 *
 * Exit codes (src/cli/output.ts): 0 ok; 1 the envelope was rejected (the DSSE error code is
 * printed); 2 usage or configuration, which includes an unusable key file.
 */
import { createHash } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { InvalidArgumentError, Option } from 'commander';
import { writeFileAtomic } from '../../io/atomic-file.js';
import type { Command } from 'commander';
import { configurationStep } from '../failure.js';
import { CliError, EXIT_USAGE, printJson } from '../output.js';
import {
  ALGORITHMS,
  ALGORITHM_NAMES,
  DsseError,
  algorithmByCliName,
  createSigner,
  createVerifier,
  generateKey,
  loadKeyFile,
  parseEnvelope,
  parseKeyFile,
  serializeEnvelopeBytes,
  signEnvelope,
  verifyEnvelope,
} from '../../dsse/index.js';
import type { KeyMaterial } from '../../dsse/index.js';

/** Options of {@link dsseSign}. */
export interface DsseSignOptions {
  payloadType: string;
  keyFiles: string[];
  /** keyid per key file, in order; when absent a key's identity is used. */
  keyids?: string[];
  payload: Uint8Array;
}

/** Options of {@link dsseVerify}. */
export interface DsseVerifyOptions {
  payloadType: string;
  keyFiles: string[];
  threshold?: number;
  envelope: Uint8Array;
}

/** What `dsse verify` prints on success. */
export interface DsseVerifyReport {
  verified: true;
  keyids: string[];
  payloadType: string;
  /** Lowercase hex SHA-256 of the verified payload bytes. */
  payloadSha256: string;
}

/** Signs a payload with every key file into one envelope; resolves to the envelope JSON bytes. */
export async function dsseSign(options: DsseSignOptions): Promise<Buffer> {
  const keyids = options.keyids ?? [];
  if (keyids.length > 0 && keyids.length !== options.keyFiles.length) {
    throw new CliError('give one --keyid per --key, in the same order', EXIT_USAGE);
  }
  const keys = await loadKeys(options.keyFiles, 'private');
  const signers = keys.map((key, i) => createSigner(key, keyids[i]));
  return serializeEnvelopeBytes(await signEnvelope(options.payloadType, options.payload, signers));
}

/**
 * Verifies an envelope against the key files with a threshold of distinct keys.
 *
 * @throws {DsseError} when the envelope is malformed or rejected.
 */
export async function dsseVerify(options: DsseVerifyOptions): Promise<DsseVerifyReport> {
  const keys = await loadKeys(options.keyFiles);
  const env = parseEnvelope(options.envelope);
  const verifyOptions = { payloadType: options.payloadType, verifiers: keys.map((k) => createVerifier(k)) };
  const result = await verifyEnvelope(env, options.threshold === undefined ? verifyOptions : { ...verifyOptions, threshold: options.threshold });
  return {
    verified: true,
    keyids: result.accepted.map((a) => a.keyid),
    payloadType: result.payloadType,
    payloadSha256: createHash('sha256').update(result.payload).digest('hex'),
  };
}

/**
 * Generates a key: the private key (or HMAC secret) at `out`, mode 0600, written atomically; the
 * SPKI public key at `out.pub` for asymmetric algorithms. Refuses to replace files unless `force`.
 */
export async function dsseKeygen(options: { cliAlg: string; out: string; force?: boolean }): Promise<{ algorithm: string; keyId: string; private: string; public?: string }> {
  const algorithm = algorithmByCliName(options.cliAlg);
  if (algorithm === undefined) throw new CliError(`unknown --alg ${options.cliAlg}`, EXIT_USAGE);
  const generated = generateKey(algorithm);
  const publicPath = `${options.out}.pub`;
  if (!options.force) {
    for (const path of generated.public === undefined ? [options.out] : [options.out, publicPath]) {
      if (await exists(path)) throw new CliError(`${path} exists; pass --force to replace it`, EXIT_USAGE);
    }
  }
  await writeFileAtomic(options.out, `${generated.private.trimEnd()}\n`, 0o600);
  if (generated.public !== undefined) await writeFileAtomic(publicPath, generated.public, 0o644);
  const { keyId } = parseKeyFile(Buffer.from(generated.private));
  return generated.public === undefined ? { algorithm, keyId, private: options.out } : { algorithm, keyId, private: options.out, public: publicPath };
}

/** Registers the `dsse` group. */
export function register(program: Command): void {
  const group = program.command('dsse').description('Sign and verify DSSE envelopes, generate keys (docs/dsse.md)');
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

  group
    .command('sign')
    .description('Sign a payload (stdin or --in) into a DSSE envelope (stdout or --out)')
    .requiredOption('--payload-type <type>', 'payload type, e.g. application/vnd.in-toto+json')
    .requiredOption('--key <file>', 'private key: PEM PKCS#8, or HMAC secret as base64 text (repeatable)', collect)
    .option('--keyid <id>', 'keyid hint per --key, in order (default: the key identity)', collect)
    .option('--in <file>', 'payload file (default: stdin)')
    .option('--out <file>', 'envelope file (default: stdout)')
    .action(async (o: { payloadType: string; key: string[]; keyid?: string[]; in?: string; out?: string }) => {
      const envelope = await dsseSign({ payloadType: o.payloadType, keyFiles: o.key, keyids: o.keyid ?? [], payload: await readInput(o.in) });
      const newline = Buffer.from('\n');
      if (o.out === undefined) {
        process.stdout.write(envelope);
        process.stdout.write(newline);
      } else await writeFile(o.out, [envelope, newline]);
    });

  group
    .command('verify')
    .description('Verify an envelope (stdin or --in); print JSON either way: {verified: true, …} and exit 0, or {verified: false, code, message} (the code on stderr too) and exit 1')
    .requiredOption('--payload-type <type>', 'the payload type the envelope must have')
    .requiredOption('--key <file>', 'trusted key: PEM SPKI or PKCS#8, or HMAC secret (repeatable)', collect)
    .option('--threshold <n>', 'distinct keys that must verify', parseThreshold)
    .option('--in <file>', 'envelope file (default: stdin)')
    .option('--json', 'machine-readable output (the default: verify always prints JSON)')
    .action(async (o: { payloadType: string; key: string[]; threshold?: number; in?: string }) => {
      let report: DsseVerifyReport;
      try {
        report = await dsseVerify({ payloadType: o.payloadType, keyFiles: o.key, envelope: await readInput(o.in), ...(o.threshold === undefined ? {} : { threshold: o.threshold }) });
      } catch (error) {
        if (!(error instanceof DsseError)) throw error;
        // A rejection is a result too: scripts read stdout either way, people read stderr.
        printJson({ verified: false, code: error.code, message: error.message });
        throw error;
      }
      printJson(report);
    });

  group
    .command('keygen')
    .description('Generate a key; asymmetric keys also get FILE.pub (SPKI)')
    .addOption(new Option('--alg <alg>', 'algorithm').choices(ALGORITHM_NAMES.map((a) => ALGORITHMS[a].cliName)).makeOptionMandatory())
    .requiredOption('--out <file>', 'private key file (mode 0600)')
    .option('--force', 'replace existing files')
    .option('--json', 'machine-readable output')
    .action(async (o: { alg: string; out: string; force?: boolean; json?: boolean }) => {
      const result = await dsseKeygen({ cliAlg: o.alg, out: o.out, force: o.force === true });
      if (o.json) printJson(result);
      else process.stdout.write(`${result.algorithm} key ${result.keyId}\n  private ${result.private}\n${result.public ? `  public  ${result.public}\n` : ''}`);
    });
}

function parseThreshold(value: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(value)) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

/** Loads key files; an unusable key is a configuration error (exit 2), not a rejection. */
async function loadKeys(files: string[], type?: KeyMaterial['type']): Promise<KeyMaterial[]> {
  if (files.length === 0) throw new CliError('at least one --key is required', EXIT_USAGE);
  const keys: KeyMaterial[] = [];
  for (const file of files) {
    const key = await configurationStep(() => loadKeyFile(file));
    if (type === 'private' && key.type === 'public') throw new CliError(`${file}: a public key cannot sign`, EXIT_USAGE);
    keys.push(key);
  }
  return keys;
}

async function readInput(path: string | undefined): Promise<Buffer> {
  if (path !== undefined) {
    try {
      return await readFile(path);
    } catch (error) {
      throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, EXIT_USAGE);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

