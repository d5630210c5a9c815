import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import {
  MtlsCertificateProvider,
  attachToServer,
  caRolloverStep,
  certificateFingerprint,
  createMtlsSecureContextOptions,
  inspectCertificate,
  type TlsMaterial,
} from '../../src/pki/index.js';
import { createMtlsDispatcher } from '../../src/pki/dispatcher.js';
import { letTimePass, waitFor } from '../support/wait.js';
import { freshCa } from './helpers.js';

/** An HTTPS server requiring client certificates, recording every client certificate it saw. */
async function mtlsServer(provider: MtlsCertificateProvider): Promise<{ server: Server; url: string; seen: Set<string>; detach: () => void }> {
  const seen = new Set<string>();
  const server = createServer({ ...createMtlsSecureContextOptions(provider.current()), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerX509Certificate();
    if (peer) seen.add(certificateFingerprint(new Uint8Array(peer.raw)));
    res.end('ok');
  });
  const detach = attachToServer(server, provider);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen, detach };
}

/** Sends requests from `workers` loops until `stop()` is called; counts outcomes. */
function load(url: string, dispatcher: ReturnType<typeof createMtlsDispatcher>, workers = 4, pauseMs = 3) {
  let running = true;
  const result = { ok: 0, failed: 0, errors: [] as string[] };
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const res = await request(url, { dispatcher });
        const body = await res.body.text();
        if (res.statusCode === 200 && body === 'ok') result.ok += 1;
        else result.failed += 1;
      } catch (error) {
        result.failed += 1;
        result.errors.push(String((error as Error).message));
      }
      // A short pause leaves CPU for the rotations on these 2 cores; requests still overlap every swap.
      await letTimePass(pauseMs, 'CPU for the rotations between requests');
    }
  });
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

describe('hot swap under load', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  before(async () => {
    ca = await freshCa();
  });
  after(() => ca.remove());

  it('loses no request while client and server certificates rotate 10 times, and the server sees every new client certificate', async () => {
    const serverProvider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'service', name: 'svc-load', ip: ['127.0.0.1'], ttlSeconds: 600 } });
    const clientProvider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'scanner', name: 'scanner-load', ttlSeconds: 600 } });
    await serverProvider.start();
    await clientProvider.start();
    const clientCerts = [clientProvider.current().fingerprint];
    const serverCerts = [serverProvider.current().fingerprint];
    clientProvider.on('rotated', (m: TlsMaterial) => clientCerts.push(m.fingerprint));
    serverProvider.on('rotated', (m: TlsMaterial) => serverCerts.push(m.fingerprint));
    const { server, url, seen, detach } = await mtlsServer(serverProvider);
    const dispatcher = createMtlsDispatcher(clientProvider);
    const traffic = load(url, dispatcher);
    try {
      for (let i = 0; i < 10; i++) {
        await letTimePass(120, 'requests on the current certificates');
        await serverProvider.rotate();
        await letTimePass(60, 'requests with only the server certificate new');
        await clientProvider.rotate();
      }
      await letTimePass(300, 'requests after the last rotation');
      const result = await traffic.stop();
      assert.deepEqual(result.errors, []);
      assert.equal(result.failed, 0);
      assert.ok(result.ok > 200, `only ${result.ok} requests went through`);
      assert.ok(new Set(clientCerts.filter((c, i) => clientCerts.indexOf(c) === i)).size >= 11);
      assert.ok(new Set(serverCerts).size >= 11);
      for (const fp of new Set(clientCerts)) assert.ok(seen.has(fp), `server never saw client certificate ${fp}`);
    } finally {
      await traffic.stop();
      detach();
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      serverProvider.stop();
      clientProvider.stop();
    }
  });

  it('loses no request while the CA rolls over: add the new CA, re-issue, drop the old one', async () => {
    const serverProvider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'service', name: 'svc-roll', ip: ['127.0.0.1'] } });
    const clientProvider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'scanner', name: 'scanner-roll' } });
    await serverProvider.start();
    await clientProvider.start();
    const firstIssuer = inspectCertificate(clientProvider.current().cert).issuer;
    const { server, url, seen, detach } = await mtlsServer(serverProvider);
    const dispatcher = createMtlsDispatcher(clientProvider);
    const traffic = load(url, dispatcher);
    const reloadEverywhere = () => Promise.all([serverProvider.reloadTrust(), clientProvider.reloadTrust()]);
    try {
      // Each step of the rollover runs under load: the pauses are requests made in every state.
      await letTimePass(150, 'requests under the old CA only');
      assert.deepEqual((await caRolloverStep({ dir: ca.dir, step: 'add' })).trustedGenerations, [1, 2]);
      await reloadEverywhere();
      await letTimePass(150, 'requests while both CAs are trusted');
      await caRolloverStep({ dir: ca.dir, step: 'activate' });
      await serverProvider.rotate();
      await letTimePass(100, 'requests with only the server certificate from the new CA');
      await clientProvider.rotate();
      await letTimePass(150, 'requests with both certificates from the new CA');
      assert.deepEqual((await caRolloverStep({ dir: ca.dir, step: 'retire' })).trustedGenerations, [2]);
      await reloadEverywhere();
      await letTimePass(300, 'requests once the old CA is gone');
      const result = await traffic.stop();
      assert.deepEqual(result.errors, []);
      assert.equal(result.failed, 0);
      assert.ok(result.ok > 50, `only ${result.ok} requests went through`);
      const client = inspectCertificate(clientProvider.current().cert);
      assert.notEqual(client.issuer, firstIssuer);
      assert.match(client.issuer, /G2/);
      assert.ok(seen.has(clientProvider.current().fingerprint), 'the server saw the client certificate of the new CA');
      assert.equal(clientProvider.current().ca.match(/BEGIN CERTIFICATE/g)?.length, 2, 'the old CA left the client bundle');
      assert.equal(serverProvider.current().ca.match(/BEGIN CERTIFICATE/g)?.length, 2, 'the old CA left the server bundle');
    } finally {
      await traffic.stop();
      detach();
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      serverProvider.stop();
      clientProvider.stop();
    }
  });
  it('lets a request in flight on the old Agent finish after a rotation, then closes that Agent', async () => {
    const serverProvider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'service', name: 'svc-slow', ip: ['127.0.0.1'] } });
    const clientProvider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'scanner', name: 'scanner-slow' } });
    await serverProvider.start();
    const before = await clientProvider.start();
    const seenBy = new Map<string, string>();
    // The slow answer is held until the test releases it: it is in flight across the rotation.
    let releaseSlow = (): void => undefined;
    const server = createServer({ ...createMtlsSecureContextOptions(serverProvider.current()), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerX509Certificate();
      seenBy.set(req.url ?? '', peer ? certificateFingerprint(new Uint8Array(peer.raw)) : 'none');
      if (req.url === '/slow') releaseSlow = () => res.end('ok');
      else res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dispatcher = createMtlsDispatcher(clientProvider);
    try {
      const slow = request(`${base}/slow`, { dispatcher }).then(async (r) => [r.statusCode, await r.body.text()]);
      await waitFor(() => seenBy.has('/slow'), { what: 'the slow request at the server' });
      const after = await clientProvider.rotate();
      assert.equal(dispatcher.retiringAgents, 1, 'the old Agent is closing, not destroyed');
      const fast = await request(`${base}/fast`, { dispatcher });
      assert.equal(await fast.body.text(), 'ok');
      releaseSlow();
      assert.deepEqual(await slow, [200, 'ok']);
      assert.equal(seenBy.get('/slow'), before.fingerprint);
      assert.equal(seenBy.get('/fast'), after.fingerprint, 'new requests use the new certificate at once');
      await waitFor(() => dispatcher.retiringAgents === 0, { what: 'the old Agent to close once its request finished', timeout: 5_000 });
    } finally {
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      serverProvider.stop();
      clientProvider.stop();
    }
  });
});
