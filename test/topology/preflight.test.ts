/**
 * `topology validate` is the one preflight (docs/operations/running.md#preflight): what `serve`,
 * `stamper` and `scanner` would refuse at start it refuses first, it warns about key files others
 * can read, and it names the field a typo meant. `pki bootstrap` output passes it; each part loads
 * only the MAC keys of its own chain.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../../src/dsse/index.js';
import { bootstrapTopology } from '../../src/deploy/bootstrap.js';
import { loadServiceRuntime } from '../../src/services/common/runtime.js';
import { TopologyError, type TopologyProblem } from '../../src/topology/errors.js';
import { keyFileWarnings } from '../../src/topology/files-check.js';
import { loadTopology, nodeFileProbe } from '../../src/topology/load.js';
import type { ResolvedTopology } from '../../src/topology/resolve.js';
import { tempDir } from '../support/tmp.js';

const EXAMPLE = 'examples/topology-two-edges.yaml';

async function problemsOf(file: string): Promise<readonly TopologyProblem[]> {
  try {
    await loadTopology(file, { checkFiles: true });
    return [];
  } catch (error) {
    if (error instanceof TopologyError) return error.problems;
    throw error;
  }
}

describe('topology validate as the preflight', () => {
  const tmp = tempDir();
  const base = join(tmp.path, 'base');
  const file = join(base, 'topology.yaml');
  /** A copy of the bootstrapped folder, so that each case breaks one thing. */
  const copyOfBase = (name: string): string => {
    const dir = join(tmp.path, name);
    cpSync(base, dir, { recursive: true });
    return dir;
  };
  let topology: ResolvedTopology;
  before(async () => {
    mkdirSync(base);
    copyFileSync(EXAMPLE, file);
    topology = await loadTopology(file);
    await bootstrapTopology(topology);
  });
  after(tmp.remove);

  const variant = async (name: string, breakIt: (dir: string) => void): Promise<readonly TopologyProblem[]> => {
    const dir = copyOfBase(name);
    breakIt(dir);
    return problemsOf(join(dir, 'topology.yaml'));
  };

  it('passes what pki bootstrap made, with no warning', async () => {
    assert.deepEqual(await problemsOf(file), []);
    assert.deepEqual(keyFileWarnings(topology.source, nodeFileProbe, topology.baseDir), []);
  });

  it('refuses a certificate as the receipt key', async () => {
    const problems = await variant('variant-cert-receipt', (dir) => copyFileSync(join(dir, 'pki/issued/service/evidence-locker/cert.pem'), join(dir, 'keys/evidence-locker-receipt.pem')));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, 'services[0].receiptKey');
    assert.match(problems[0]!.message, /^not usable as a receipt key \(an Ed25519 PKCS#8 private key\): .*CERTIFICATE/);
  });

  it('refuses an ECDSA receipt key', async () => {
    const problems = await variant('variant-ecdsa-receipt', (dir) => writeFileSync(join(dir, 'keys/evidence-locker-receipt.pem'), generateKey('ecdsa-p256-sha256').private));
    assert.deepEqual(problems.map((p) => p.path), ['services[0].receiptKey']);
    assert.match(problems[0]!.message, /key is ecdsa-p256-sha256, expected ed25519/);
  });

  it('refuses a public key as a signing key', async () => {
    const problems = await variant('variant-public-signing', (dir) => copyFileSync(join(dir, 'keys/scanner-01.pub.pem'), join(dir, 'keys/scanner-01.pem')));
    assert.ok(problems.some((p) => p.path === 'scanners[0].signing.keys[0].file' && /expected a private key/.test(p.message)), JSON.stringify(problems));
  });

  it('refuses a publicFile that is not the public half of the signing key', async () => {
    const problems = await variant('variant-mismatched-public', (dir) => writeFileSync(join(dir, 'keys/scanner-01.pub.pem'), generateKey('ed25519').public!));
    assert.deepEqual(problems.map((p) => p.path), ['scanners[0].signing.keys[0].publicFile']);
    assert.match(problems[0]!.message, /is not the public half of/);
  });

  it('warns, without failing, about a key file its group or others can read', async () => {
    const dir = copyOfBase('variant-modes');
    chmodSync(join(dir, 'keys/gw-locker-edge.key'), 0o644);
    const loaded = await loadTopology(join(dir, 'topology.yaml'), { checkFiles: true });
    const warnings = keyFileWarnings(loaded.source, nodeFileProbe, loaded.baseDir);
    assert.deepEqual(warnings, [
      { path: 'hops[0].stamp.keys[0].file', message: `private key open to its group and others (mode 0644); chmod 600 ${join(dir, 'keys/gw-locker-edge.key')}` },
    ]);
  });

  it('names the field a typo meant', async () => {
    const typo = join(base, 'typo.yaml');
    writeFileSync(typo, readFileSync(file, 'utf8').replace('receiptKey:', 'recieptKey:').replace('kind: haproxy', 'kind: haproxy\n    servername: gw.example'));
    const problems = await problemsOf(typo);
    assert.ok(problems.some((p) => p.path === 'services[0].recieptKey' && p.message === 'unknown field; did you mean "receiptKey"?'), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.path === 'hops[1].servername' && p.message === 'unknown field; did you mean "serverName"?'), JSON.stringify(problems));
  });

  it('starts a service holding only the MAC keys of its own chain', async () => {
    const dir = copyOfBase('variant-other-key-gone');
    // The other edge's key is not on this machine: the locker does not need it.
    rmSync(join(dir, 'keys/gw-webservice-edge.key'));
    const loaded = await loadTopology(join(dir, 'topology.yaml'));
    const runtime = await loadServiceRuntime(loaded, 'evidence-locker');
    try {
      assert.deepEqual([...runtime.hopKeys.keys()], ['gw-locker-edge']);
    } finally {
      await runtime.store.close();
      await runtime.replayCache.close();
    }
  });
});
