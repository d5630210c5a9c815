/**
 * `stella-gateway dsse sign | verify | keygen`: once spawned with real stdin/stdout, otherwise
 * in-process through `main()` (exit codes) and the command functions (outputs), which keeps the
 * file fast on a loaded machine. Interop with OpenSSL over the same PAE bytes in both directions.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildProgram, main } from '../../src/cli/main.js';
import { dsseKeygen, dsseSign, dsseVerify } from '../../src/cli/commands/dsse.js';
import { CliError } from '../../src/cli/output.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const ENTRY = "import('./src/cli/main.ts').then(async m=>{process.exitCode=await m.main(process.argv.slice(1))})";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in a child process, optionally feeding stdin. */
function cli(args: string[], stdin?: Uint8Array): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

const TYPE = 'application/vnd.in-toto+json';
const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","note":"caf\u00e9"}');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('stella-gateway dsse', () => {
  const dir = tempDir('stella-cli-dsse-');
  const path = (name: string) => join(dir.path, name);
  after(dir.remove);

  before(async () => {
    await dsseKeygen({ cliAlg: 'ed25519', out: path('ed.key') });
    await dsseKeygen({ cliAlg: 'hmac-sha256', out: path('mac.key') });
    writeFileSync(path('payload.bin'), payload);
  });

  it('documents every flag of README.md#command-line in --help of each command', () => {
    const dsse = buildProgram().commands.find((c) => c.name() === 'dsse');
    assert.ok(dsse);
    const help = (name: string) => dsse.commands.find((c) => c.name() === name)?.helpInformation() ?? '';
    for (const flag of ['--payload-type', '--key', '--keyid', '--in', '--out']) assert.match(help('sign'), new RegExp(`${flag} `));
    for (const flag of ['--payload-type', '--key', '--threshold', '--in']) assert.match(help('verify'), new RegExp(`${flag} `));
    for (const flag of ['--alg', '--out']) assert.match(help('keygen'), new RegExp(`${flag} `));
  });

  it('signs stdin to stdout and verifies stdin, printing keyids, payload type and payload SHA-256 (spawned)', async () => {
    const signed = await cli(['dsse', 'sign', '--payload-type', TYPE, '--key', path('ed.key')], payload);
    assert.equal(signed.code, 0, signed.stderr);
    const verified = await cli(['dsse', 'verify', '--payload-type', TYPE, '--key', path('ed.key.pub')], Buffer.from(signed.stdout));
    assert.equal(verified.code, 0, verified.stderr);
    const report = JSON.parse(verified.stdout) as { verified: boolean; keyids: string[]; payloadType: string; payloadSha256: string };
    assert.equal(report.verified, true);
    assert.equal(report.payloadType, TYPE);
    assert.equal(report.payloadSha256, sha256(payload));
    assert.equal(report.keyids.length, 1);
  });

  it('answers --help with exit 0', async () => {
    assert.equal(await main(['dsse', 'keygen', '--help']), 0);
  });

  it('keygen writes every algorithm, the private key with mode 0600 and the public key beside it, leaving no temp file', async () => {
    const algs = ['hmac-sha256', 'ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-pss'];
    for (const alg of algs) {
      const report = await dsseKeygen({ cliAlg: alg, out: path(`gen-${alg}`) });
      assert.equal(statSync(path(`gen-${alg}`)).mode & 0o777, 0o600);
      assert.match(report.keyId, /^sha256:[0-9a-f]{64}$/);
      if (alg === 'hmac-sha256') assert.equal(report.public, undefined);
      else assert.match(readFileSync(path(`gen-${alg}.pub`), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    }
    const written = readdirSync(dir.path).filter((f) => f.startsWith('gen-') || f.startsWith('.gen-')).sort();
    assert.deepEqual(written, algs.flatMap((a) => (a === 'hmac-sha256' ? [`gen-${a}`] : [`gen-${a}`, `gen-${a}.pub`])).sort());
  });

  it('keygen refuses to replace an existing key without --force (exit 2)', async () => {
    const before = readFileSync(path('ed.key'));
    assert.equal(await main(['dsse', 'keygen', '--alg', 'ed25519', '--out', path('ed.key')]), 2);
    assert.deepEqual(readFileSync(path('ed.key')), before);
  });

  it('meets a threshold of 2 with two keys given to one sign, and refuses threshold 3 (exit 1)', async () => {
    const signCode = await main(['dsse', 'sign', '--payload-type', TYPE, '--key', path('ed.key'), '--key', path('mac.key'), '--keyid', 'ed', '--keyid', 'mac', '--in', path('payload.bin'), '--out', path('two.json')]);
    assert.equal(signCode, 0);
    const keyFiles = [path('ed.key.pub'), path('mac.key')];
    const report = await dsseVerify({ payloadType: TYPE, keyFiles, threshold: 2, envelope: readFileSync(path('two.json')) });
    assert.equal(report.keyids.length, 2);
    const keys = keyFiles.flatMap((k) => ['--key', k]);
    assert.equal(await main(['dsse', 'verify', '--payload-type', TYPE, ...keys, '--threshold', '3', '--in', path('two.json')]), 1);
  });

  it('rejects a tampered payload and a wrong payload type with exit 1 and the error code', async () => {
    const envelope = await dsseSign({ payloadType: TYPE, keyFiles: [path('mac.key')], payload });
    const env = JSON.parse(envelope.toString()) as { payload: string };
    writeFileSync(path('tampered.json'), JSON.stringify({ ...env, payload: Buffer.from(`${payload.toString()} `).toString('base64') }));
    writeFileSync(path('good.json'), envelope);
    const codeOf = (e: unknown) => (e as { code?: string }).code;
    await assert.rejects(dsseVerify({ payloadType: TYPE, keyFiles: [path('mac.key')], envelope: readFileSync(path('tampered.json')) }), (e) => codeOf(e) === 'DSSE_THRESHOLD_NOT_MET');
    await assert.rejects(dsseVerify({ payloadType: 'application/json', keyFiles: [path('mac.key')], envelope: Buffer.from(envelope) }), (e) => codeOf(e) === 'DSSE_PAYLOAD_TYPE_MISMATCH');
    assert.equal(await main(['dsse', 'verify', '--payload-type', TYPE, '--key', path('mac.key'), '--in', path('tampered.json')]), 1);
    assert.equal(await main(['dsse', 'verify', '--payload-type', 'application/json', '--key', path('mac.key'), '--in', path('good.json')]), 1);
  });

  it('rejects input that is not an envelope with DSSE_MALFORMED (exit 1)', async () => {
    writeFileSync(path('junk.json'), '{"payload":"a b"}');
    await assert.rejects(dsseVerify({ payloadType: TYPE, keyFiles: [path('mac.key')], envelope: readFileSync(path('junk.json')) }), (e) => (e as { code?: string }).code === 'DSSE_MALFORMED');
    assert.equal(await main(['dsse', 'verify', '--payload-type', TYPE, '--key', path('mac.key'), '--in', path('junk.json')]), 1);
  });

  it('prints the rejection as JSON on stdout too, with exit 1 and the code on stderr (spawned)', async () => {
    const rejected = await cli(['dsse', 'verify', '--payload-type', TYPE, '--key', path('mac.key'), '--in', path('tampered.json')]);
    assert.equal(rejected.code, 1);
    const answer = JSON.parse(rejected.stdout) as { verified: boolean; code: string; message: string };
    assert.equal(answer.verified, false);
    assert.equal(answer.code, 'DSSE_THRESHOLD_NOT_MET');
    assert.match(answer.message, /required/);
    assert.match(rejected.stderr, /DSSE_THRESHOLD_NOT_MET/);
  });

  it('treats a missing key, a bad threshold, an unusable key file and a public signing key as usage errors (exit 2)', async () => {
    writeFileSync(path('short.key'), 'c2hvcnQ=');
    const input = ['--in', path('payload.bin')];
    assert.equal(await main(['dsse', 'verify', '--payload-type', TYPE, ...input]), 2);
    assert.equal(await main(['dsse', 'verify', '--payload-type', TYPE, '--key', path('mac.key'), '--threshold', '0', ...input]), 2);
    assert.equal(await main(['dsse', 'sign', '--payload-type', TYPE, '--key', path('short.key'), ...input]), 2);
    assert.equal(await main(['dsse', 'sign', '--payload-type', TYPE, '--key', path('ed.key.pub'), ...input]), 2);
    await assert.rejects(dsseSign({ payloadType: TYPE, keyFiles: [path('short.key')], payload }), (e) => e instanceof CliError && /DSSE_KEY_INVALID/.test(e.message));
  });
});

describe('interop with OpenSSL over the PAE bytes', () => {
  const dir = tempDir('stella-cli-openssl-');
  const path = (name: string) => join(dir.path, name);
  after(dir.remove);
  let openssl = '';

  before(async () => {
    openssl = requireProgram('openssl');
    writeFileSync(path('payload.bin'), payload);
    // Spelled out here rather than taken from src/dsse, so OpenSSL checks the PAE of docs/dsse.md itself.
    writeFileSync(path('pae.bin'), Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(TYPE)} ${TYPE} ${payload.length} `), payload]));
    for (const [alg, out] of [['ed25519', 'ed.key'], ['hmac-sha256', 'mac.key'], ['ecdsa-p256', 'ec.key']] as const) {
      await dsseKeygen({ cliAlg: alg, out: path(out) });
    }
  });

  /** What `dsse sign --in payload.bin --key KEY` writes, reduced to the signature bytes. */
  const signWithCli = async (key: string): Promise<Buffer> => {
    const env = JSON.parse((await dsseSign({ payloadType: TYPE, keyFiles: [path(key)], payload: readFileSync(path('payload.bin')) })).toString()) as { signatures: { sig: string }[] };
    return Buffer.from(env.signatures[0]?.sig ?? '', 'base64');
  };
  /** `dsse verify` of an envelope holding the given signature; resolves to the exit code. */
  const verifyWithCli = async (key: string, sig: Buffer): Promise<number> => {
    const env = { payloadType: TYPE, payload: payload.toString('base64'), signatures: [{ sig: sig.toString('base64') }] };
    const file = path(`env-${sig.toString('hex').slice(0, 8)}.json`);
    writeFileSync(file, JSON.stringify(env));
    return main(['dsse', 'verify', '--payload-type', TYPE, '--key', path(key), '--in', file]);
  };
  const hexKey = () => Buffer.from(readFileSync(path('mac.key'), 'utf8').trim(), 'base64').toString('hex');

  it('an Ed25519 signature from dsse sign verifies with openssl pkeyutl -verify -rawin', async () => {
    writeFileSync(path('ed.sig'), await signWithCli('ed.key'));
    const { stdout } = await run(openssl, ['pkeyutl', '-verify', '-pubin', '-inkey', path('ed.key.pub'), '-rawin', '-in', path('pae.bin'), '-sigfile', path('ed.sig')]);
    assert.match(stdout, /Signature Verified Successfully/);
  });

  it('an Ed25519 signature from openssl pkeyutl -sign -rawin verifies with dsse verify', async () => {
    await run(openssl, ['pkeyutl', '-sign', '-inkey', path('ed.key'), '-rawin', '-in', path('pae.bin'), '-out', path('ed-openssl.sig')]);
    assert.equal(await verifyWithCli('ed.key.pub', readFileSync(path('ed-openssl.sig'))), 0);
  });

  it('an HMAC from dsse sign equals openssl dgst -sha256 -mac HMAC over the PAE', async () => {
    const sig = await signWithCli('mac.key');
    const { stdout } = await run(openssl, ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey()}`, '-r', path('pae.bin')]);
    assert.equal(stdout.split(' ')[0], sig.toString('hex'));
  });

  it('an HMAC from openssl dgst verifies with dsse verify', async () => {
    await run(openssl, ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey()}`, '-binary', '-out', path('mac-openssl.sig'), path('pae.bin')]);
    assert.equal(await verifyWithCli('mac.key', readFileSync(path('mac-openssl.sig'))), 0);
  });

  it('an ECDSA P-256 DER signature verifies in both directions with openssl dgst', async () => {
    writeFileSync(path('ec.sig'), await signWithCli('ec.key'));
    const { stdout } = await run(openssl, ['dgst', '-sha256', '-verify', path('ec.key.pub'), '-signature', path('ec.sig'), path('pae.bin')]);
    assert.match(stdout, /Verified OK/);
    await run(openssl, ['dgst', '-sha256', '-sign', path('ec.key'), '-out', path('ec-openssl.sig'), path('pae.bin')]);
    assert.equal(await verifyWithCli('ec.key.pub', readFileSync(path('ec-openssl.sig'))), 0);
  });
});
