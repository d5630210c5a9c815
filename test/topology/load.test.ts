import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadTopology, parseTopology } from '../../src/topology/load.js';
import { TopologyError } from '../../src/topology/errors.js';
import { checkFiles, decodeBase64Key, type FileProbe } from '../../src/topology/files-check.js';
import { tempDir } from '../support/tmp.js';
import { generateKey } from '../../src/dsse/index.js';

const EXAMPLE = readFileSync('examples/topology.yaml', 'utf8');
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** Writes every file the example topology names, as `pki issue` and key generation would. */
function populate(dir: string): void {
  const put = (rel: string, text: string): void => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };
  put('pki/ca-bundle.pem', PEM);
  put('pki/crl.pem', PEM.replaceAll('CERTIFICATE', 'X509 CRL'));
  for (const [role, name] of [['scanner', 'scanner-01'], ['scanner', 'scanner-02'], ['gateway', 'gw-edge'], ['gateway', 'waf'], ['gateway', 'gw-internal'], ['service', 'evidence-locker']]) {
    for (const f of ['cert.pem', 'key.pem', 'chain.pem']) put(`pki/issued/${role}/${name}/${f}`, PEM);
  }
  for (const k of ['scanner-01.hmac', 'scanner-02.hmac', 'gw-edge.key', 'gw-internal.key']) put(`keys/${k}`, `${randomBytes(32).toString('base64')}\n`);
  // The receipt key is parsed, not only found: it must be a real Ed25519 private key.
  put('keys/evidence-locker-receipt.pem', generateKey('ed25519').private);
}

describe('loadTopology', () => {
  const tmp = tempDir();
  after(tmp.remove);

  it('loads the example and resolves relative paths against the file folder', async () => {
    const topology = await loadTopology('examples/topology.yaml');
    const locker = topology.services[0]!;
    assert.deepEqual(locker.chain.map((h) => [h.id, h.stampSeq]), [['gw-edge', 1], ['waf', null], ['gw-internal', 2]]);
    assert.equal(topology.pki.caBundle, join(process.cwd(), 'examples/pki/ca-bundle.pem'));
    assert.equal(topology.scanners[0]!.edge, 'gw-edge');
  });

  for (const example of ['topology.yaml', 'topology-envoy.yaml']) {
    it(`checks the files of examples/${example} when asked and passes once every file exists`, async () => {
      const dir = join(tmp.path, example);
      mkdirSync(dir);
      writeFileSync(join(dir, 'topology.yaml'), readFileSync(`examples/${example}`, 'utf8'));
      await assert.rejects(loadTopology(join(dir, 'topology.yaml'), { checkFiles: true }), (e: unknown) => {
        assert.ok(e instanceof TopologyError);
        assert.equal(e.code, 'TOPOLOGY_INVALID');
        assert.ok(e.problems.some((p) => p.path === 'hops[0].stamp.keys[0].file' && p.message === `file not found: ${join(dir, 'keys/gw-edge.key')}`));
        return true;
      });
      populate(dir);
      const loaded = await loadTopology(join(dir, 'topology.yaml'), { checkFiles: true });
      assert.equal(loaded.hops[0]!.stamp !== false && loaded.hops[0]!.stamp.keys[0]!.file, join(dir, 'keys/gw-edge.key'));
    });
  }

  it('reads JSON by its extension', async () => {
    const file = join(tmp.path, 'topology.json');
    writeFileSync(file, JSON.stringify(parseTopology(EXAMPLE)));
    assert.equal((await loadTopology(file)).name, 'demo');
  });

  it('reports an unreadable file with its own code', async () => {
    await assert.rejects(loadTopology(join(tmp.path, 'missing.yaml')), (e: unknown) => e instanceof TopologyError && e.code === 'TOPOLOGY_UNREADABLE');
  });
});

describe('parseTopology', () => {
  it('reports YAML syntax errors with their line', () => {
    assert.throws(
      () => parseTopology('name: [a\nkind: Topology\n'),
      (e: unknown) => e instanceof TopologyError && e.code === 'TOPOLOGY_INVALID' && /^not valid YAML: line \d+, column \d+/.test(e.problems[0]!.message),
    );
  });

  it('reports a duplicate YAML key instead of silently keeping one', () => {
    assert.throws(() => parseTopology(`${EXAMPLE}\nname: other\n`), (e: unknown) => e instanceof TopologyError && /Map keys must be unique/.test(e.problems[0]!.message));
  });

  it('reports invalid JSON', () => {
    assert.throws(() => parseTopology('{', 'json'), (e: unknown) => e instanceof TopologyError && e.problems[0]!.message.startsWith('not valid JSON'));
  });

  it('puts every problem into the error message, one per line', () => {
    assert.throws(
      () => parseTopology(EXAMPLE.replace('next: gw-internal', 'next: gw-intrnal')),
      (e: unknown) => e instanceof TopologyError && e.message.includes('\nhops[1].next: no hop or service "gw-intrnal"'),
    );
  });
});

describe('file checks', () => {
  const topology = parseTopology(EXAMPLE);
  const files = (contents: Record<string, string>): FileProbe => ({
    read: (path) => (path in contents ? { size: Buffer.byteLength(contents[path]!), text: contents[path]! } : undefined),
  });

  it('rejects an HMAC key shorter than 32 bytes and one that is not base64', () => {
    const found = checkFiles(topology, files({ '/t/keys/gw-edge.key': randomBytes(16).toString('base64'), '/t/keys/gw-internal.key': 'not*base64' }), '/t');
    assert.ok(found.some((p) => p.path === 'hops[0].stamp.keys[0].file' && p.message === 'decodes to 16 bytes; an HMAC-SHA256 key needs at least 32: /t/keys/gw-edge.key'));
    assert.ok(found.some((p) => p.path === 'hops[2].stamp.keys[0].file' && p.message === 'not base64 text: /t/keys/gw-internal.key'));
  });

  it('decodes standard and URL-safe base64 and refuses stray characters', () => {
    const key = randomBytes(33);
    assert.deepEqual(decodeBase64Key(` ${key.toString('base64')}\n`), key);
    assert.deepEqual(decodeBase64Key(key.toString('base64url')), key);
    assert.equal(decodeBase64Key(`${key.toString('base64')}!`), undefined);
  });
});
