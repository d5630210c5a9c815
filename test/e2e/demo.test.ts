/**
 * The README's first command: `stella-gateway demo` runs the whole chain on the real programs
 * and says so truthfully — delivered evidence with a verified receipt, both forgeries rejected
 * with their codes, every part probed OK — and leaves no process behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runDemo } from '../../src/demo/run.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';

describe('stella-gateway demo', () => {
  it('delivers the sample SBOM through NGINX, the WAF and HAProxy, rejects both forgeries and cleans up', async () => {
    for (const program of ['nginx', 'apache2', 'haproxy']) requireProgram(program);
    const lines: string[] = [];
    const outcome = await runDemo({ print: (text) => lines.push(text) });

    assert.equal(outcome.ok, true, lines.join('\n'));
    assert.equal(outcome.delivered.length, 1);
    const [sbom] = outcome.delivered;
    assert.equal(sbom?.file, 'sbom.cdx.json');
    assert.deepEqual(sbom?.receipt.hops.map((h) => [h.seq, h.id, h.peerId]), [
      [1, 'gw-edge', 'scanner-01'],
      [2, 'gw-internal', 'waf'],
    ]);
    assert.deepEqual(
      outcome.rejections.map((r) => [r.status, r.code]),
      [
        [403, 'untrusted-peer'],
        [401, 'provenance-tampered'],
      ],
    );
    assert.deepEqual(outcome.probe.rows.map((r) => [r.id, r.status]), [
      ['gw-edge', 'ok'],
      ['waf', 'ok'],
      ['gw-internal', 'ok'],
      ['evidence-locker', 'ok'],
    ]);
    assert.match(lines.join('\n'), /HTTP 401 provenance-tampered/);
    // Without --keep and --dir the temp deployment is removed, so nothing is left to run from it.
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
