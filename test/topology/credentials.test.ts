/**
 * Keys as systemd credentials (src/topology/credentials.ts): loadTopology reads a key from the
 * credentials folder when its credential is there, checks the keys the part holds, and leaves the
 * other parts' keys, which it may not read, unchecked. Real files on disk, made by pki bootstrap.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliInvocation } from '../../src/io/process.js';
import { credentialName } from '../../src/topology/credentials.js';
import { TopologyError } from '../../src/topology/errors.js';
import { loadTopology } from '../../src/topology/load.js';
import { tempDir } from '../support/tmp.js';

describe('loadTopology with a credentials folder', () => {
  const dir = tempDir('stella-creds-');
  const topologyFile = join(dir.path, 'topology.yaml');
  const creds = join(dir.path, 'creds');
  const edgeKey = join(dir.path, 'keys', 'gw-locker-edge.key');
  const edgeCredential = join(creds, credentialName('hop-mac', 'gw-locker-edge', 'locker-edge-2026-12'));
  before(() => {
    copyFileSync('examples/topology-two-edges.yaml', topologyFile);
    const { command, args } = cliInvocation(['pki', 'bootstrap', '--topology', topologyFile]);
    const result = spawnSync(command, args, { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    mkdirSync(creds);
    copyFileSync(edgeKey, edgeCredential);
  });
  after(() => dir.remove());

  it('points a key whose credential is there at the credential, and leaves the others at their paths', async () => {
    const topology = await loadTopology(topologyFile, { credentialsDirectory: creds, checkFiles: true });
    const hop = topology.hops.find((h) => h.id === 'gw-locker-edge')!;
    assert.equal(hop.stamp !== false && hop.stamp.keys[0]!.file, edgeCredential);
    assert.equal(topology.services[0]!.receiptKey, join(dir.path, 'keys', 'evidence-locker-receipt.pem'));
    const plain = await loadTopology(topologyFile, { credentialsDirectory: undefined });
    assert.equal(plain.hops[0]!.stamp !== false && plain.hops[0]!.stamp.keys[0]!.file, edgeKey);
  });

  it('checks only the keys it holds: the other parts\' keys may be unreadable, its own may not be bad', async () => {
    const receipt = join(dir.path, 'keys', 'evidence-locker-receipt.pem');
    renameSync(receipt, `${receipt}.away`);
    try {
      await loadTopology(topologyFile, { credentialsDirectory: creds, checkFiles: true });
      await assert.rejects(loadTopology(topologyFile, { credentialsDirectory: undefined, checkFiles: true }), (e: unknown) => e instanceof TopologyError && e.problems.some((p) => p.path === 'services[0].receiptKey'));
      const good = readFileSync(edgeCredential);
      writeFileSync(edgeCredential, 'not base64 at all!');
      try {
        await assert.rejects(loadTopology(topologyFile, { credentialsDirectory: creds, checkFiles: true }), (e: unknown) => e instanceof TopologyError && e.code === 'TOPOLOGY_INVALID' && e.problems.some((p) => p.path === 'hops[0].stamp.keys[0].file'));
      } finally {
        writeFileSync(edgeCredential, good);
      }
    } finally {
      renameSync(`${receipt}.away`, receipt);
    }
  });
});
