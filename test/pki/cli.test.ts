import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/tmp.js';
import { openssl } from './helpers.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// Runs several command lines through the real entry (`main`) in ONE child process: starting the
// CLI from sources costs seconds per process on these 2 cores. Each command's output is captured
// separately; the results go to stdout as JSON once all ran.
const RUNNER = `
const { main } = await import(${JSON.stringify(MAIN)});
const results = [];
const real = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
for (const argv of JSON.parse(process.argv[1])) {
  const out = [], err = [];
  process.stdout.write = (c) => out.push(String(c)) > 0;
  process.stderr.write = (c) => err.push(String(c)) > 0;
  const code = await main(argv);
  process.stdout.write = real.out; process.stderr.write = real.err;
  results.push({ code, stdout: out.join(''), stderr: err.join('') });
}
real.out(JSON.stringify(results));`;

function cli(...commands: string[][]): Promise<CliResult[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', RUNNER, JSON.stringify(commands)], { encoding: 'utf8', maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`CLI runner failed: ${stderr}`, { cause: error }));
      else resolve(JSON.parse(stdout) as CliResult[]);
    });
  });
}

describe('stella-gateway pki', () => {
  const tmp = tempDir('stella-pki-cli-');
  const dir = join(tmp.path, 'pki');
  let first: CliResult[];
  before(async () => {
    first = await cli(
      ['pki', 'init', '--dir', dir, '--trust-domain', 'cli.test'],
      ['pki', 'issue', '--dir', dir, '--role', 'gateway', '--name', 'gw-edge', '--dns', 'gw-edge', '--dns', 'localhost', '--ip', '127.0.0.1', '--ttl', '2h', '--json'],
      ['pki', 'token', '--dir', dir, '--role', 'scanner', '--name', 'scanner-01', '--ttl', '1h'],
      ['pki', 'revoke', '--dir', dir, '--serial', 'abc123'],
      ['pki', 'issue', '--dir', dir, '--role', 'admin', '--name', 'x'],
      ['pki', 'issue', '--dir', join(tmp.path, 'none'), '--role', 'scanner', '--name', 'x'],
      ['pki', 'issue', '--dir', dir, '--role', 'scanner', '--name', 'x', '--ttl', 'soon'],
      ['pki', 'init', '--dir', dir],
    );
  });
  after(() => tmp.remove());

  it('issues a gateway certificate that openssl verifies, then inspects and revokes it', async () => {
    const [init, issued] = first;
    assert.equal(init!.code, 0, init!.stderr);
    assert.equal(issued!.code, 0, issued!.stderr);
    const out = JSON.parse(issued!.stdout) as { cert: string; key: string; serial: string; fingerprint: string; notBefore: string; notAfter: string };
    assert.equal(out.cert, join(dir, 'issued/gateway/gw-edge/cert.pem'));
    assert.equal((await stat(out.key)).mode & 0o777, 0o600);
    assert.equal(Date.parse(out.notAfter) - Date.parse(out.notBefore), 2 * 3600_000);
    assert.equal((await openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediate.pem'), out.cert])).code, 0);

    const [inspected, revoked] = await cli(['pki', 'inspect', out.cert, '--json'], ['pki', 'revoke', '--dir', dir, '--serial', out.serial]);
    assert.equal(inspected!.code, 0);
    const summary = JSON.parse(inspected!.stdout) as { uris: string[]; dns: string[]; ip: string[]; fingerprint: string };
    assert.deepEqual([summary.uris, summary.dns, summary.ip], [['spiffe://cli.test/gateway/gw-edge'], ['gw-edge', 'localhost'], ['127.0.0.1']]);
    assert.equal(summary.fingerprint, out.fingerprint);
    assert.equal(revoked!.code, 0, revoked!.stderr);
    const check = await openssl(['verify', '-crl_check_all', '-CRLfile', join(dir, 'crl.pem'), '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediate.pem'), out.cert]);
    assert.match(check.stdout + check.stderr, /certificate revoked/);
  });

  it('prints a bootstrap token once', () => {
    const token = first[2]!;
    assert.equal(token.code, 0, token.stderr);
    assert.match(token.stdout, /^sgt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
  });

  it('exits 1 when revocation is refused and 2 for usage or configuration errors', () => {
    const [, , , unknownSerial, badRole, noCa, badTtl, initAgain] = first;
    assert.equal(unknownSerial!.code, 1);
    assert.match(unknownSerial!.stderr, /PKI_UNKNOWN_SERIAL/);
    assert.equal(badRole!.code, 2);
    assert.equal(noCa!.code, 2);
    assert.match(noCa!.stderr, /PKI_NOT_INITIALIZED/);
    assert.equal(badTtl!.code, 2);
    assert.equal(initAgain!.code, 2);
    assert.match(initAgain!.stderr, /PKI_ALREADY_INITIALIZED/);
  });
});
