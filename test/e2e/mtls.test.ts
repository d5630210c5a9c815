/**
 * docs/operations/certificates.md, docs/gateways/README.md, docs/faults.md: the NGINX edge requires a client certificate from the product's CA, with the
 * CRL applied. No certificate, one from another CA, an expired one and a revoked one are all
 * refused before anything reaches the WAF, and the scanner worker reports a clear error code.
 * NGINX reads the CRL at start, so the revoked certificate is revoked before the edge restarts.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { parse, stringify } from 'yaml';
import { cliInvocation } from '../../src/io/process.js';
import { initPki, issueCertificate, revokeCertificate } from '../../src/pki/index.js';
import type { ClientCredentials } from '../../src/scanner/credentials.js';
import { deliveryOptionsFor } from '../../src/scanner/config.js';
import { ScannerError } from '../../src/scanner/errors.js';
import { tempDir } from '../support/tmp.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { logLinesWith } from '../support/logs.js';
import { edgeHost, fingerprintOf, problemCode, send, startWorker, storedCount, type Answer } from './support/client.js';

const DAY_MS = 86_400_000;

interface CertFiles {
  cert: string;
  chain: string;
  key: string;
}

let chain: Chain;
const otherCa = tempDir('stella-e2e-other-ca-');
const certs: Record<'wrongCa' | 'expired' | 'revoked' | 'good', CertFiles> = {} as Record<'wrongCa' | 'expired' | 'revoked' | 'good', CertFiles>;
const agents: Agent[] = [];

const filesOf = (paths: { cert: string; chain: string; key?: string } | undefined): CertFiles => {
  if (!paths?.key) throw new TypeError('issueCertificate wrote no key');
  return { cert: paths.cert, chain: paths.chain, key: paths.key };
};

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  const pki = chain.topology.pki.dir;
  const out = (name: string): string => join(chain.workDir, 'test-certs', name);
  // The same identity (CN scanner-01) every time: only the issuer, the validity or the CRL differ.
  await initPki({ dir: otherCa.path, trustDomain: chain.topology.trustDomain });
  certs.wrongCa = filesOf((await issueCertificate({ dir: otherCa.path, role: 'scanner', name: 'scanner-01' })).paths);
  const now = Date.now();
  certs.expired = filesOf(
    (await issueCertificate({ dir: pki, role: 'scanner', name: 'scanner-01', notBefore: new Date(now - 3 * DAY_MS), notAfter: new Date(now - DAY_MS), out: out('expired') })).paths,
  );
  const revoked = await issueCertificate({ dir: pki, role: 'scanner', name: 'scanner-01', out: out('revoked') });
  certs.revoked = filesOf(revoked.paths);
  certs.good = filesOf((await issueCertificate({ dir: pki, role: 'scanner', name: 'scanner-01', out: out('good') })).paths);
  await revokeCertificate({ dir: pki, serial: revoked.serial });
  await chain.deployment.restartGateway('gw-edge');
});
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await chain?.close();
  otherCa.remove();
});

const wafAccessLog = (): string => join(chain.deployment.gatewaysDir, 'waf', 'logs', 'access.log');

async function agentWith(files: CertFiles | null): Promise<Agent> {
  const ca = await readFile(chain.topology.pki.caBundle);
  const client = files ? { cert: await readFile(files.chain), key: await readFile(files.key) } : {};
  const agent = new Agent({ connect: { ca, servername: chain.edgeServerName(), ...client } });
  agents.push(agent);
  return agent;
}

async function getEvidence(files: CertFiles | null, scanId: string): Promise<Answer> {
  return send(await agentWith(files), `${chain.edgeUrl()}/api/v1/scans/${scanId}/evidence`, { headers: { host: edgeHost(chain), 'x-stella-scan-id': scanId } });
}

/** Credentials that always present `files`, whatever they are: the worker then meets the edge's verdict. */
async function fixedCredentials(files: CertFiles): Promise<ClientCredentials> {
  const material = {
    cert: await readFile(files.cert, 'utf8'),
    chain: await readFile(files.chain, 'utf8'),
    key: await readFile(files.key, 'utf8'),
    ca: await readFile(chain.topology.pki.caBundle, 'utf8'),
    fingerprint: await fingerprintOf(files.cert),
  };
  return { current: () => material };
}

describe('the NGINX edge', () => {
  it('answers a fresh, valid scanner certificate of the CA (the control)', async () => {
    const answer = await getEvidence(certs.good, 'scan-mtls-good');
    // The locker itself answered (a problem document, not a gateway's page): nothing is stored under it.
    assert.equal(answer.status, 404, answer.text);
    assert.equal(problemCode(answer), 'scan-not-found');
    // The WAF logs what it forwards: its silence about the refused requests below means something.
    // Apache writes the access-log line after the response left: give it a moment.
    await logLinesWith(wafAccessLog(), 'scan-mtls-good', 5_000);
    assert.match(await readFile(wafAccessLog(), 'utf8'), /scan-mtls-good/);
  });

  const refusals: Array<{ name: string; files: () => CertFiles | null; says: RegExp }> = [
    { name: 'no client certificate', files: () => null, says: /No required SSL certificate was sent/ },
    { name: 'a certificate from another CA', files: () => certs.wrongCa, says: /The SSL certificate error/ },
    { name: 'an expired certificate', files: () => certs.expired, says: /The SSL certificate error/ },
    { name: 'a revoked certificate (CRL)', files: () => certs.revoked, says: /The SSL certificate error/ },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name} with 400 before the request goes on to the WAF`, async () => {
      const scanId = `scan-mtls-${refusal.name.replace(/[^a-z]+/g, '-')}`.replace(/-+$/, '');
      const marker = `${scanId}-${Date.now()}`;
      const answer = await getEvidence(refusal.files(), marker);
      assert.equal(answer.status, 400);
      assert.match(answer.text, refusal.says);
      const wafLog = await readFile(wafAccessLog(), 'utf8');
      assert.ok(!wafLog.includes(marker), 'the WAF never saw the request');
    });
  }
});

describe('the scanner worker with a refused certificate', () => {
  for (const which of ['wrongCa', 'expired', 'revoked'] as const) {
    it(`reports ${which === 'wrongCa' ? 'another CA' : which}: rejected with SCANNER_REJECTED and HTTP 400, nothing stored`, async () => {
      const worker = await startWorker(chain, { credentials: await fixedCredentials(certs[which]) });
      try {
        const scanId = `scan-worker-${which}`;
        const [result] = await worker.submit(scanId, { 'sbom.json': `{"cert":"${which}"}` });
        assert.equal(result?.state, 'rejected');
        assert.equal(result?.code, 'SCANNER_REJECTED');
        assert.equal(result?.status, 400);
        assert.match(result?.message ?? '', /^HTTP 400/);
        assert.equal(await storedCount(chain, scanId), 0);
      } finally {
        await worker.close();
      }
    });
  }

  it('refuses to start from an expired certificate file: SCANNER_CONFIG naming PKI_CERT_EXPIRED', async () => {
    const scanner = chain.scanner();
    const topology = { ...chain.topology, scanners: [{ ...scanner, tls: certs.expired }] };
    await assert.rejects(deliveryOptionsFor(topology, scanner.id, { certificateSource: 'files' }), (error: unknown) => {
      assert.ok(error instanceof ScannerError);
      assert.equal(error.code, 'SCANNER_CONFIG');
      assert.match(error.message, /PKI_CERT_EXPIRED/);
      return true;
    });
  });

  it('refuses to start from a certificate of another CA: SCANNER_CONFIG naming PKI_CHAIN_INVALID', async () => {
    const scanner = chain.scanner();
    const topology = { ...chain.topology, scanners: [{ ...scanner, tls: certs.wrongCa }] };
    await assert.rejects(deliveryOptionsFor(topology, scanner.id, { certificateSource: 'files' }), (error: unknown) => {
      assert.ok(error instanceof ScannerError);
      assert.equal(error.code, 'SCANNER_CONFIG');
      assert.match(error.message, /PKI_CHAIN_INVALID/);
      return true;
    });
  });
});

describe('`stella-gateway scanner submit` with a refused certificate', () => {
  /** The deployment's topology with the scanner's certificate files replaced, beside the original. */
  async function topologyWith(files: CertFiles, name: string): Promise<string> {
    const document = parse(await readFile(join(chain.workDir, 'topology.yaml'), 'utf8')) as { scanners: Array<Record<string, unknown>> };
    const scanner = document.scanners[0];
    if (!scanner) throw new TypeError('no scanner');
    scanner.tls = { cert: files.cert, key: files.key, chain: files.chain };
    const file = join(chain.workDir, `topology-${name}.yaml`);
    await writeFile(file, stringify(document));
    return file;
  }

  async function submitCli(topology: string, scanId: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const artifact = join(chain.workDir, `${scanId}.json`);
    await writeFile(artifact, JSON.stringify({ scanId }));
    const cli = cliInvocation(['scanner', 'submit', '--topology', topology, '--scanner', 'scanner-01', '--scan-id', scanId, '--outbox', join(chain.workDir, 'var', `${scanId}.outbox.db`), '--max-attempts', '1', '--json', artifact]);
    const child = spawn(cli.command, cli.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    return { code, stdout, stderr };
  }

  it('delivers with the valid certificate (the control): exit 0', async () => {
    const run = await submitCli(await topologyWith(certs.good, 'good'), 'scan-cli-good');
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { results: Array<{ state: string }> }).results[0]?.state, 'delivered');
  });

  it('exits 1 with the revoked certificate and reports the rejection code and HTTP 400', async () => {
    const run = await submitCli(await topologyWith(certs.revoked, 'revoked'), 'scan-cli-revoked');
    assert.equal(run.code, 1, run.stderr);
    const [result] = (JSON.parse(run.stdout) as { results: Array<{ state: string; code: string; status: number }> }).results;
    assert.deepEqual([result?.state, result?.code, result?.status], ['rejected', 'SCANNER_REJECTED', 400]);
    assert.equal(await storedCount(chain, 'scan-cli-revoked'), 0);
  });

  it('exits 2 with the expired certificate, naming SCANNER_CONFIG and PKI_CERT_EXPIRED', async () => {
    const run = await submitCli(await topologyWith(certs.expired, 'expired'), 'scan-cli-expired');
    assert.equal(run.code, 2, run.stdout);
    assert.match(run.stderr, /SCANNER_CONFIG/);
    assert.match(run.stderr, /PKI_CERT_EXPIRED/);
  });
});
