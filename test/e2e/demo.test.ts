/**
 * The README's first command: `stella-gateway demo` runs the whole chain on the real programs
 * and says so truthfully — delivered evidence with a verified receipt, both forgeries rejected
 * with their codes, every part probed OK — and leaves no process behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DEMO_ARTIFACTS, runDemo } from '../../src/demo/run.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';
import { EXAMPLES } from '../support/chain.js';

describe('stella-gateway demo', () => {
  it('delivers the sample SBOM through NGINX, the WAF and HAProxy, rejects both forgeries and cleans up', async () => {
    for (const program of ['nginx', 'apache2', 'haproxy']) requireProgram(program);
    const lines: string[] = [];
    const outcome = await runDemo({ print: (text) => lines.push(text) });

    assert.equal(outcome.ok, true, lines.join('\n'));
    assert.equal(outcome.delivered.length, 1);
    const [sbom] = outcome.delivered;
    assert.equal(sbom?.file, 'sbom.cdx.json');
    // The SBOM itself reached the locker and came back through the chain byte for byte.
    const sbomSha256 = createHash('sha256').update(readFileSync(join(DEMO_ARTIFACTS, 'sbom.cdx.json'))).digest('hex');
    assert.equal(sbom?.artifactSha256, sbomSha256);
    assert.equal(sbom?.fetchedSha256, sbomSha256);
    assert.match(lines.join('\n'), new RegExp(`stored as artifact sha256 ${sbomSha256}`));
    assert.match(lines.join('\n'), /fetched back through the chain: \d+ bytes, sha256 matches the signed subject/);
    assert.deepEqual(sbom?.receipt.hops.map((h) => [h.seq, h.id, h.peerId]), [
      [1, 'gw-edge', 'scanner-01'],
      [2, 'gw-internal', 'waf'],
    ]);
    assert.deepEqual(
      outcome.rejections.map((r) => [r.status, r.code]),
      [
        [403, 'untrusted-peer'],
        [401, 'provenance-tampered'],
        [401, 'envelope-invalid'],
      ],
    );
    assert.deepEqual(outcome.probe.rows.map((r) => [r.id, r.status]), [
      ['gw-edge', 'ok'],
      ['waf', 'ok'],
      ['gw-internal', 'ok'],
      ['evidence-locker', 'ok'],
    ]);
    assert.match(lines.join('\n'), /HTTP 401 provenance-tampered/);
    assert.match(lines.join('\n'), /scanner-02's certificate, scanner-01's key: HTTP 401 envelope-invalid/);
    assert.equal(sbom?.receipt.scanner?.id, 'scanner-01');
    // Without --keep and --dir the temp deployment is removed, so nothing is left to run from it.
    assert.equal(existsSync(outcome.workDir), false);
  });

  it('with the registry topology, pushes an artifact and its attestation through the chain to docker-registry and reads them back verified', async () => {
    for (const program of ['nginx', 'apache2', 'haproxy', 'docker-registry']) requireProgram(program);
    const lines: string[] = [];
    const outcome = await runDemo({ topologyFile: join(EXAMPLES, 'topology-registry.yaml'), print: (text) => lines.push(text) });

    assert.equal(outcome.ok, true, lines.join('\n'));
    assert.equal(outcome.delivered.length, 0);
    assert.match(outcome.registry?.imageDigest ?? '', /^sha256:[a-f0-9]{64}$/);
    assert.equal(outcome.registry?.attestationTag, `${outcome.registry?.imageDigest.replace(':', '-')}.att`);
    assert.deepEqual(outcome.registry?.verifiedKeyids, ['scanner-01-hmac']);
    assert.deepEqual(outcome.rejections.map((r) => [r.status, r.code]), [
      [403, 'untrusted-peer'],
      [401, 'provenance-tampered'],
    ]);
    assert.deepEqual(outcome.probe.rows.map((r) => [r.id, r.kind, r.status]).at(-1), ['registry', 'oci-registry', 'ok']);
    assert.equal(existsSync(outcome.workDir), false);
  });

  it('runs a topology with two edges: delivers through the locker\'s chain and probes each chain from its own edge', async () => {
    for (const program of ['nginx', 'haproxy']) requireProgram(program);
    const tmp = tempDir();
    try {
      // The webservice's scanner listed first: the demo must still send to the locker with the
      // scanner of the locker's edge, and probe each chain with a scanner of that chain.
      const document = parse(readFileSync('examples/topology-two-edges.yaml', 'utf8')) as { scanners: unknown[] };
      document.scanners.reverse();
      const file = join(tmp.path, 'topology.yaml');
      writeFileSync(file, stringify(document));
      const lines: string[] = [];
      const outcome = await runDemo({ topologyFile: file, print: (text) => lines.push(text) });
      assert.equal(outcome.ok, true, lines.join('\n'));
      assert.deepEqual(outcome.delivered[0]?.receipt.hops.map((h) => [h.seq, h.id, h.peerId]), [[1, 'gw-locker-edge', 'scanner-01']]);
      assert.deepEqual(outcome.probe.rows.map((r) => [r.id, r.status]), [
        ['gw-locker-edge', 'ok'],
        ['gw-webservice-edge', 'ok'],
        ['evidence-locker', 'ok'],
        ['scanner-webservice', 'ok'],
      ]);
    } finally {
      tmp.remove();
    }
  });
});
