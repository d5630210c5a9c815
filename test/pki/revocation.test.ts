import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { createMtlsSecureContextOptions, issueCertificate, MtlsCertificateProvider, revokeCertificate, type IssuedCertificate } from '../../src/pki/index.js';
import { pemBlocks } from '../../src/pki/x509.js';
import { freePort, requireProgram } from '../support/programs.js';
import { waitForPort } from '../support/wait.js';
import { freshCa, openssl } from './helpers.js';

/** GETs `url` presenting `leaf`, trusting `caPem`; resolves to the status or the error message. */
async function tryClient(url: string, leaf: IssuedCertificate, caPem: string): Promise<number | string> {
  const agent = new Agent({ connect: { key: leaf.keyPem!, cert: leaf.chainPem, ca: caPem } });
  try {
    const res = await request(url, { dispatcher: agent });
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await agent.close();
  }
}

describe('servers using the published trust bundle and CRL', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  let otherCa: Awaited<ReturnType<typeof freshCa>>;
  let good: IssuedCertificate;
  let revoked: IssuedCertificate;
  let expired: IssuedCertificate;
  let foreign: IssuedCertificate;
  let bundle: string;
  before(async () => {
    ca = await freshCa();
    otherCa = await freshCa();
    good = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'good' });
    revoked = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'revoked' });
    const now = Date.now();
    expired = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'expired', notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000) });
    foreign = await issueCertificate({ dir: otherCa.dir, role: 'scanner', name: 'good' });
    await revokeCertificate({ dir: ca.dir, serial: revoked.serial });
    bundle = await readFile(join(ca.dir, 'ca-bundle.pem'), 'utf8');
  });
  after(() => {
    ca.remove();
    otherCa.remove();
  });

  it('a Node HTTPS server with the crl option admits a valid certificate and refuses revoked, expired and wrong-CA ones', async () => {
    const provider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'service', name: 'svc', ip: ['127.0.0.1'] } });
    const material = await provider.start();
    provider.stop();
    assert.ok(material.crl, 'the local CA source carries the CRL');
    const server: Server = createServer({ ...createMtlsSecureContextOptions(material), requestCert: true, rejectUnauthorized: true }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      assert.equal(await tryClient(url, good, bundle), 200);
      for (const leaf of [revoked, expired, foreign]) {
        const outcome = await tryClient(url, leaf, bundle);
        assert.equal(typeof outcome, 'string', `${leaf.name} from ${leaf === foreign ? 'another CA' : 'this CA'} was admitted`);
      }
      // Test only: a twin server that lets the handshake finish (rejectUnauthorized: false) and
      // answers with OpenSSL's verdict, to show each refusal above happens for the right reason.
      const reasons = createServer({ ...createMtlsSecureContextOptions(material), requestCert: true, rejectUnauthorized: false }, (req, res) =>
        res.end(String((req.socket as TLSSocket).authorizationError ?? 'authorized')),
      );
      await new Promise<void>((resolve) => reasons.listen(0, '127.0.0.1', resolve));
      const reasonUrl = `https://127.0.0.1:${(reasons.address() as AddressInfo).port}/`;
      try {
        const verdict = async (leaf: IssuedCertificate) => {
          const agent = new Agent({ connect: { key: leaf.keyPem!, cert: leaf.chainPem, ca: bundle } });
          try {
            return await (await request(reasonUrl, { dispatcher: agent })).body.text();
          } finally {
            await agent.close();
          }
        };
        assert.equal(await verdict(good), 'authorized');
        assert.equal(await verdict(revoked), 'CERT_REVOKED');
        assert.equal(await verdict(expired), 'CERT_HAS_EXPIRED');
        // OpenSSL reports the last error of a chain it could not complete; for a foreign chain that
        // is the missing issuer or, with CRL checking on, the missing CRL of the unknown issuer.
        assert.match(await verdict(foreign), /^(UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_CRL)$/);
      } finally {
        reasons.closeAllConnections();
        await new Promise((resolve) => reasons.close(resolve));
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('openssl s_server -crl_check_all refuses the revoked certificate and admits the valid one', async () => {
    // s_server's -CRL takes one CRL; a hashed -CApath folder hands it the CRLs of every CA.
    const capath = join(ca.dir, 'capath');
    await mkdir(capath);
    const crls = pemBlocks(await readFile(join(ca.dir, 'crl.pem'), 'utf8'), 'X509 CRL');
    await Promise.all(crls.map((crl, i) => writeFile(join(capath, `crl${i}.pem`), crl)));
    await Promise.all(pemBlocks(bundle).map((cert, i) => writeFile(join(capath, `ca${i}.pem`), cert)));
    assert.equal((await openssl(['rehash', capath])).code, 0);
    const svc = await issueCertificate({ dir: ca.dir, role: 'service', name: 'svc-openssl', ip: ['127.0.0.1'] });
    const port = await freePort();
    const child: ChildProcess = spawn(requireProgram('openssl'), [
      's_server', '-accept', `127.0.0.1:${port}`, '-cert', svc.paths!.cert, '-key', svc.paths!.key!, '-cert_chain', join(ca.dir, 'intermediate.pem'),
      '-CApath', capath, '-crl_check_all', '-Verify', '2', '-verify_return_error', '-www', '-quiet',
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await serverListening(port, child);
      const url = `https://127.0.0.1:${port}/`;
      assert.equal(await tryClient(url, good, bundle), 200);
      assert.equal(typeof (await tryClient(url, revoked, bundle)), 'string', 'the revoked certificate was admitted');
    } finally {
      await stopChild(child);
    }
  });
  it('HAProxy with crl-file crl.pem (every CA of the chain) refuses the revoked certificate and admits the valid one', async () => {
    const svc = await issueCertificate({ dir: ca.dir, role: 'gateway', name: 'gw-haproxy', ip: ['127.0.0.1'] });
    const pem = join(ca.dir, 'gw-haproxy.pem');
    await writeFile(pem, `${svc.chainPem}${svc.keyPem!}`);
    const port = await freePort();
    const cfg = join(ca.dir, 'haproxy.cfg');
    await writeFile(
      cfg,
      [
        'defaults',
        '  mode http',
        '  timeout connect 5s',
        '  timeout client 5s',
        '  timeout server 5s',
        'frontend fe',
        `  bind 127.0.0.1:${port} ssl crt ${pem} ca-file ${join(ca.dir, 'ca-bundle.pem')} verify required crl-file ${join(ca.dir, 'crl.pem')}`,
        '  http-request return status 200 content-type text/plain string ok',
        '',
      ].join('\n'),
    );
    const child: ChildProcess = spawn(requireProgram('haproxy'), ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await serverListening(port, child);
      const url = `https://127.0.0.1:${port}/`;
      assert.equal(await tryClient(url, good, bundle), 200);
      assert.equal(typeof (await tryClient(url, revoked, bundle)), 'string', 'the revoked certificate was admitted');
      assert.equal(typeof (await tryClient(url, foreign, bundle)), 'string', 'the wrong-CA certificate was admitted');
    } finally {
      await stopChild(child);
    }
  });
});

function serverListening(port: number, child: ChildProcess): Promise<void> {
  return waitForPort(port, { what: `${child.spawnfile} listening on ${port}`, timeout: 5_000, abortIf: () => child.exitCode !== null && `it exited with ${child.exitCode}` });
}

/** Stops a program the test started, by its PID, and waits until it exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
