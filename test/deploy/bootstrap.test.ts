/**
 * `pki bootstrap` (docs/operations/running.md#bootstrap): each leaf with its role and the SANs of
 * its part's `serverName` and `listen`, written to the very files the topology names; nothing
 * overwritten without `force`, and the CA never.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapTopology, subjectNames } from '../../src/deploy/bootstrap.js';
import { inspectCertificate } from '../../src/pki/index.js';
import { loadTopology } from '../../src/topology/load.js';
import type { ResolvedTopology } from '../../src/topology/resolve.js';
import { tempDir } from '../support/tmp.js';

const TOPOLOGY = `
apiVersion: stella-gateway/v1
kind: Topology
name: bootstrap
trustDomain: example.test
pki: { dir: ./pki }
scanners:
  - id: scanner-01
    signing: { keys: [{ kid: s1, file: ./keys/s1.pem, publicFile: ./keys/s1.pub }] }
hops:
  - id: gw-edge
    kind: nginx
    listen: 192.0.2.10:8443
    serverName: edge.example.test
    tls: { cert: ./tls/edge.crt, key: ./tls/edge.key, chain: ./tls/edge-chain.crt }
    stamp: { via: native, keys: [{ kid: e1, file: ./keys/edge.key }] }
    next: evidence-locker
services:
  - id: evidence-locker
    kind: evidence-locker
    listen: locker.internal.test:9443
    serverName: locker.example.test
    receiptKey: ./keys/receipt.pem
`;

describe('bootstrapTopology', () => {
  const tmp = tempDir();
  let topology: ResolvedTopology;
  before(async () => {
    writeFileSync(join(tmp.path, 'topology.yaml'), TOPOLOGY);
    topology = await loadTopology(join(tmp.path, 'topology.yaml'));
  });
  after(tmp.remove);

  it('issues each leaf with its role and SANs into the files the topology names, and every key', async () => {
    const steps = await bootstrapTopology(topology);
    assert.ok(steps.every((s) => s.action === 'created'), JSON.stringify(steps));
    const edge = inspectCertificate(readFileSync(join(tmp.path, 'tls/edge.crt'), 'utf8'));
    assert.equal(edge.commonName, 'gw-edge');
    assert.deepEqual(edge.organizationalUnits, ['gateway']);
    assert.deepEqual(edge.uris, ['spiffe://example.test/gateway/gw-edge']);
    assert.deepEqual(edge.dns, ['edge.example.test']);
    assert.deepEqual(edge.ip, ['192.0.2.10']);
    assert.match(readFileSync(join(tmp.path, 'tls/edge-chain.crt'), 'utf8'), /(-----BEGIN CERTIFICATE-----[\s\S]+){2}/);
    assert.equal(statSync(join(tmp.path, 'tls/edge.key')).mode & 0o777, 0o600);
    const locker = inspectCertificate(readFileSync(join(tmp.path, 'pki/issued/service/evidence-locker/cert.pem'), 'utf8'));
    assert.deepEqual(locker.organizationalUnits, ['service']);
    assert.deepEqual(locker.dns, ['locker.example.test', 'locker.internal.test']);
    assert.deepEqual(locker.ip, []);
    for (const key of ['keys/edge.key', 'keys/s1.pem', 'keys/receipt.pem']) assert.equal(statSync(join(tmp.path, key)).mode & 0o777, 0o600, key);
    await loadTopology(join(tmp.path, 'topology.yaml'), { checkFiles: true });
  });

  it('keeps everything on a second run, and with force replaces leaves and keys but never the CA', async () => {
    const read = (rel: string): string => readFileSync(join(tmp.path, rel), 'utf8');
    const before = { ca: read('pki/ca-bundle.pem'), leaf: read('tls/edge.crt'), key: read('keys/edge.key') };
    assert.ok((await bootstrapTopology(topology)).every((s) => s.action === 'kept'));
    assert.deepEqual({ ca: read('pki/ca-bundle.pem'), leaf: read('tls/edge.crt'), key: read('keys/edge.key') }, before);

    const forced = await bootstrapTopology(topology, { force: true });
    assert.deepEqual(forced.filter((s) => s.action === 'kept').map((s) => s.kind), ['ca']);
    assert.equal(read('pki/ca-bundle.pem'), before.ca);
    assert.notEqual(read('tls/edge.crt'), before.leaf);
    assert.notEqual(read('keys/edge.key'), before.key);
    await loadTopology(join(tmp.path, 'topology.yaml'), { checkFiles: true });
  });
});

describe('subjectNames', () => {
  it('names the serverName, an IP listen address as an IP SAN and a host name as a DNS SAN; an unspecified address not at all', () => {
    assert.deepEqual(subjectNames('gw', '127.0.0.1:8443'), { dns: ['gw'], ip: ['127.0.0.1'] });
    assert.deepEqual(subjectNames('gw', '[::1]:8443'), { dns: ['gw'], ip: ['::1'] });
    assert.deepEqual(subjectNames('gw', '0.0.0.0:8443'), { dns: ['gw'], ip: [] });
    assert.deepEqual(subjectNames('gw', 'gw.internal:8443'), { dns: ['gw', 'gw.internal'], ip: [] });
    assert.deepEqual(subjectNames('gw', 'gw:8443'), { dns: ['gw'], ip: [] });
    // A replicated service: one certificate names every replica's host, once each.
    assert.deepEqual(subjectNames('locker', '10.0.0.1:9443', '10.0.0.2:9443', '10.0.0.1:9444', 'locker-b.internal:9443'), { dns: ['locker', 'locker-b.internal'], ip: ['10.0.0.1', '10.0.0.2'] });
  });
});

describe('bootstrapTopology for provenance v2 signing keys', () => {
  const tmp = tempDir();
  after(tmp.remove);

  it('makes each hop\'s v2 key of its algorithm (0600), with the public half where the topology names it, and the file checks pass', async () => {
    const v2 = TOPOLOGY.replace(
      'stamp: { via: native, keys: [{ kid: e1, file: ./keys/edge.key }] }',
      'stamp: { via: native, profile: both, keys: [{ kid: e1, file: ./keys/edge.key }], signing: { alg: ecdsa-p256-sha256, keys: [{ kid: e2, file: ./keys/edge.v2.pem, publicFile: ./keys/edge.v2.pub.pem }] } }',
    ).replace('kind: nginx', 'kind: haproxy');
    writeFileSync(join(tmp.path, 'topology.yaml'), v2);
    const steps = await bootstrapTopology(await loadTopology(join(tmp.path, 'topology.yaml')));
    assert.ok(steps.some((s) => s.subject === 'hop gw-edge v2 signing key e2' && s.action === 'created'), JSON.stringify(steps));
    const key = createPrivateKey(readFileSync(join(tmp.path, 'keys/edge.v2.pem')));
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(statSync(join(tmp.path, 'keys/edge.v2.pem')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(tmp.path, 'keys/edge.v2.pub.pem'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    await loadTopology(join(tmp.path, 'topology.yaml'), { checkFiles: true });
  });
});
