/**
 * `stella-gateway evidence verify | export` against a store the real locker app filled, run
 * in-process through `main()` (exit codes and stdout), plus tampered stores and exports.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { generateKey } from '../../src/dsse/index.js';
import { CommanderError } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { runEvidenceExport, runEvidenceVerify, type EvidenceExportCliOptions, type EvidenceVerifyCliOptions } from '../../src/cli/commands/evidence.js';
import { CliError, EXIT_USAGE } from '../../src/cli/output.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { ARTIFACT_FIXTURES } from '../fixtures/artifacts.js';
import { tempDir } from '../support/tmp.js';
import { send, sha256Hex, signedEnvelope, stamp } from '../services/support/fixture.js';
import { lockerWorld, NOW_MS } from '../services/support/locker.js';

interface VerifyJson {
  ok: boolean;
  records: { sha256: string; ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }[];
}

/** Runs a command function as the CLI would and returns the exit code `main()` would give. */
async function runCli(args: string[]): Promise<{ code: number; stdout: string }> {
  const chunks: string[] = [];
  const write = (text: string): void => void chunks.push(text);
  const program = buildProgram();
  // Route the two actions to the same functions with a collecting writer instead of stdout.
  const evidence = program.commands.find((c) => c.name() === 'evidence')!;
  evidence.commands.find((c) => c.name() === 'verify')!.action(async (options: EvidenceVerifyCliOptions) => void (await runEvidenceVerify(options, write)));
  evidence.commands.find((c) => c.name() === 'export')!.action(async (options: EvidenceExportCliOptions) => runEvidenceExport(options, write));
  for (const command of [program, evidence, ...evidence.commands]) command.exitOverride().configureOutput({ writeOut: write, writeErr: () => undefined });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, stdout: chunks.join('') };
  } catch (error) {
    if (error instanceof CliError) return { code: error.exitCode, stdout: chunks.join('') };
    if (error instanceof CommanderError) return { code: EXIT_USAGE, stdout: chunks.join('') };
    throw error;
  }
}

describe('evidence verify and export', () => {
  const dir = tempDir('stella-evidence-cli-');
  const db = join(dir.path, 'evidence.db');
  const receiptPub = join(dir.path, 'receipt.pub');
  const scannerKey = join(dir.path, 'scanner.hmac');
  const digests: string[] = [];
  const artifactDigests: string[] = [];

  before(async () => {
    const world = await lockerWorld({ store: openSqliteStore({ file: db }) });
    for (const [i, artifact] of ['sbom.json', 'findings.json'].entries()) {
      const bytes = ARTIFACT_FIXTURES[i === 0 ? 0 : 2]!.bytes;
      const body = await signedEnvelope(world.keys, { scanId: 'scan-cli', nowMs: NOW_MS, artifact, artifactBytes: bytes });
      const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-cli', body, nowMs: NOW_MS }));
      assert.equal(response.statusCode, 201);
      digests.push(sha256Hex(body));
      // The artifact's bytes after their statement (docs/services.md#artifacts).
      const upload = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: `/api/v1/artifacts/${sha256Hex(bytes)}`, scanId: 'scan-cli', body: bytes, nowMs: NOW_MS, contentType: 'application/octet-stream' }));
      assert.equal(upload.statusCode, 201, upload.body);
      artifactDigests.push(sha256Hex(bytes));
    }
    writeFileSync(receiptPub, world.keys.receiptPublicPem);
    writeFileSync(scannerKey, world.keys.scanner.type === 'secret' ? world.keys.scanner.secret.toString('base64') : '');
    await world.dispose();
  });
  after(() => dir.remove());

  const base = () => ['evidence', 'verify', '--receipt-key', receiptPub, '--key', `scanner-01=${scannerKey}`];

  it('verifies every record of a scan and exits 0', async () => {
    const { code, stdout } = await runCli([...base(), '--db', db, '--scan', 'scan-cli', '--json']);
    assert.equal(code, 0);
    const result = JSON.parse(stdout) as VerifyJson;
    assert.equal(result.ok, true);
    assert.deepEqual(result.records.map((r) => r.sha256), digests);
    for (const r of result.records) assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), [['digest', true], ['envelope', true], ['binding', true], ['hops', true], ['receipt', true], ['artifacts', true]]);
    assert.deepEqual(result.records.map((r) => r.checks.at(-1)?.detail), ['1 artifact(s) hash to a signed subject digest', '1 artifact(s) hash to a signed subject digest']);
  });

  it('prints a table for humans', async () => {
    const { code, stdout } = await runCli([...base(), '--db', db, '--sha256', digests[0]!]);
    assert.equal(code, 0);
    assert.match(stdout, /sha256\s+scan\s+digest\s+envelope\s+binding\s+hops\s+receipt\s+artifacts\s+result/);
    assert.match(stdout, /verified/);
  });

  it("refuses offline what the locker refuses: scanner-01's record with only another scanner's key fails the envelope check", async () => {
    const { code, stdout } = await runCli(['evidence', 'verify', '--receipt-key', receiptPub, '--key', `scanner-02=${scannerKey}`, '--db', db, '--scan', 'scan-cli', '--json']);
    assert.equal(code, 1);
    const result = JSON.parse(stdout) as VerifyJson;
    for (const r of result.records) {
      const envelope = r.checks.find((c) => c.name === 'envelope')!;
      assert.equal(envelope.ok, false);
      assert.match(envelope.detail, /no key of scanner scanner-01/);
    }
  });

  it('exits 2 for a --key that does not say whose key it is', async () => {
    assert.equal((await runCli(['evidence', 'verify', '--receipt-key', receiptPub, '--key', scannerKey, '--db', db, '--scan', 'scan-cli'])).code, 2);
  });

  it('exits 1 when no record matches', async () => {
    const { code, stdout } = await runCli([...base(), '--db', db, '--sha256', 'f'.repeat(64)]);
    assert.equal(code, 1);
    assert.match(stdout, /no evidence matched/);
  });

  it('exits 1 with the receipt check failed when the receipt key is another one', async () => {
    const other = join(dir.path, 'other.pub');
    writeFileSync(other, generateKey('ed25519').public!);
    const { code, stdout } = await runCli(['evidence', 'verify', '--receipt-key', other, '--key', `scanner-01=${scannerKey}`, '--db', db, '--sha256', digests[0]!, '--json']);
    assert.equal(code, 1);
    const checks = (JSON.parse(stdout) as VerifyJson).records[0]!.checks;
    assert.deepEqual(checks.filter((c) => !c.ok).map((c) => c.name), ['receipt']);
  });

  it('exports a scan and verifies the export offline with --in', async () => {
    const out = join(dir.path, 'export.json');
    assert.equal((await runCli(['evidence', 'export', '--db', db, '--scan', 'scan-cli', '--out', out])).code, 0);
    const { code, stdout } = await runCli([...base(), '--in', out, '--json']);
    assert.equal(code, 0);
    assert.equal((JSON.parse(stdout) as VerifyJson).records.length, 2);
  });

  it('exports the artifacts beside the records, named by digest, and verifies them offline', async () => {
    const out = join(dir.path, 'with-artifacts', 'export.json');
    mkdirSync(dirname(out));
    assert.equal((await runCli(['evidence', 'export', '--db', db, '--scan', 'scan-cli', '--out', out])).code, 0);
    const exported = JSON.parse(readFileSync(out, 'utf8')) as { artifacts: { sha256: string; size: number; file: string }[] }[];
    assert.deepEqual(exported.map((r) => r.artifacts.map((a) => a.file)), artifactDigests.map((d) => [`artifacts/${d}`]));
    assert.ok(readFileSync(join(dirname(out), 'artifacts', artifactDigests[0]!)).equals(ARTIFACT_FIXTURES[0]!.bytes));
    assert.equal((await runCli([...base(), '--in', out])).code, 0);
  });

  it('fails the artifacts check when an exported artifact file was changed or removed', async () => {
    const out = join(dir.path, 'swapped', 'export.json');
    mkdirSync(dirname(out));
    assert.equal((await runCli(['evidence', 'export', '--db', db, '--scan', 'scan-cli', '--out', out])).code, 0);
    writeFileSync(join(dirname(out), 'artifacts', artifactDigests[0]!), ARTIFACT_FIXTURES[1]!.bytes);
    rmSync(join(dirname(out), 'artifacts', artifactDigests[1]!));
    const { code, stdout } = await runCli([...base(), '--in', out, '--json']);
    assert.equal(code, 1);
    const records = (JSON.parse(stdout) as VerifyJson).records;
    assert.deepEqual(records.map((r) => r.checks.filter((c) => !c.ok).map((c) => c.name)), [['artifacts'], ['artifacts']]);
    assert.match(records[0]!.checks.at(-1)!.detail, /bytes hash to/);
    assert.match(records[1]!.checks.at(-1)!.detail, /bytes not available/);
  });

  it('refuses an export whose artifact entry points outside its folder', async () => {
    const out = join(dir.path, 'climb.json');
    assert.equal((await runCli(['evidence', 'export', '--db', db, '--sha256', digests[0]!, '--out', out])).code, 0);
    const record = JSON.parse(readFileSync(out, 'utf8')) as { artifacts: { file: string }[] };
    record.artifacts[0]!.file = `../${artifactDigests[0]}`;
    writeFileSync(out, JSON.stringify(record));
    const { code } = await runCli([...base(), '--in', out]);
    assert.equal(code, 1);
  });

  it('detects a stored artifact chunk changed in the database', async () => {
    const copy = join(dir.path, 'artifact-tampered.db');
    const source = openSqlite(db);
    await source.backup(copy);
    source.close();
    const tampered = openSqlite(copy);
    tampered.prepare('UPDATE artifact_chunks SET bytes = ? WHERE blob = (SELECT blob FROM artifacts WHERE sha256 = ?) AND idx = 0').run(Buffer.from('{"bomFormat":"CycloneDX"}'), artifactDigests[0]);
    tampered.close();
    const { code, stdout } = await runCli([...base(), '--db', copy, '--scan', 'scan-cli', '--json']);
    assert.equal(code, 1);
    const result = JSON.parse(stdout) as VerifyJson;
    assert.deepEqual(result.records.map((r) => r.checks.filter((c) => !c.ok).map((c) => c.name)), [['artifacts'], []]);
  });

  it('detects a stored hop chain changed after the receipt was signed', async () => {
    const copy = join(dir.path, 'tampered.db');
    const source = openSqlite(db);
    await source.backup(copy);
    source.close();
    const tampered = openSqlite(copy);
    const row = tampered.prepare('SELECT hops FROM evidence WHERE sha256 = ?').get(digests[1]) as { hops: string };
    tampered.prepare('UPDATE evidence SET hops = ? WHERE sha256 = ?').run(row.hops.replace('"peerId":"waf"', '"peerId":"gw-rogue"'), digests[1]);
    tampered.close();
    const { code, stdout } = await runCli([...base(), '--db', copy, '--scan', 'scan-cli', '--json']);
    assert.equal(code, 1);
    const result = JSON.parse(stdout) as VerifyJson;
    assert.deepEqual(result.records.map((r) => r.ok), [true, false]);
    assert.deepEqual(result.records[1]!.checks.filter((c) => !c.ok).map((c) => c.name), ['receipt']);
  });

  it('detects envelope bytes changed in an export', async () => {
    const out = join(dir.path, 'one.json');
    assert.equal((await runCli(['evidence', 'export', '--db', db, '--sha256', digests[0]!, '--out', out])).code, 0);
    const record = JSON.parse(readFileSync(out, 'utf8')) as { envelopeBase64: string };
    const envelope = JSON.parse(Buffer.from(record.envelopeBase64, 'base64').toString('utf8')) as { payload: string };
    envelope.payload = Buffer.from(`${Buffer.from(envelope.payload, 'base64').toString('utf8')} `).toString('base64');
    record.envelopeBase64 = Buffer.from(JSON.stringify(envelope)).toString('base64');
    writeFileSync(out, JSON.stringify(record));
    const { code, stdout } = await runCli([...base(), '--in', out, '--json']);
    assert.equal(code, 1);
    const failed = (JSON.parse(stdout) as VerifyJson).records[0]!.checks.filter((c) => !c.ok).map((c) => c.name);
    // The receipt still verifies for the recorded digest; the bytes no longer hash to it, and the
    // artifact has no verified statement left to be a subject of.
    assert.deepEqual(failed, ['digest', 'envelope', 'binding', 'artifacts']);
  });

  it('is wired into the CLI program with its flags', () => {
    const evidence = buildProgram().commands.find((c) => c.name() === 'evidence');
    const verify = evidence?.commands.find((c) => c.name() === 'verify');
    assert.ok(verify, 'evidence verify is registered');
    assert.match(verify.helpInformation(), /--receipt-key <file>[\s\S]*--key <scanner=file>[\s\S]*--json/);
  });

  it('exits 2 for usage errors: both --db and --in, no scanner key, a missing database file', async () => {
    assert.equal((await runCli([...base(), '--db', db, '--in', db, '--scan', 'x'])).code, 2);
    assert.equal((await runCli(['evidence', 'verify', '--receipt-key', receiptPub, '--db', db, '--scan', 'x'])).code, 2);
    assert.equal((await runCli([...base(), '--db', join(dir.path, 'nope.db'), '--scan', 'x'])).code, 2);
    assert.equal((await runCli(['evidence', 'export', '--db', db])).code, 2);
  });
});
