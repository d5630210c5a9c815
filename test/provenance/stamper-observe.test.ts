/**
 * What the stamper tells an operator (docs/operations/running.md#metrics, #logs): a counter of
 * stamps, the refusals by code, a latency histogram, and one decision line per stamp request
 * with the gateway's request id.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { stamperCore, STAMPER_DURATION_METRIC, STAMPER_REFUSALS_METRIC, STAMPER_STAMPS_METRIC } from '../../src/provenance/stamper.js';
import { initPki, issueCertificate } from '../../src/pki/index.js';
import { tempDir } from '../support/tmp.js';
import { fixtureKeys, fixtureTopology, NOW_MS } from './support/fixture.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);

describe('the stamper tells what it did', () => {
  it('counts and times each stamp and refusal and logs one line per decision, with the request id', async () => {
    const dir = tempDir('stella-stamper-observe-');
    try {
      const clock = (): Date => new Date(NOW_MS - 60_000);
      await initPki({ dir: join(dir.path, 'pki'), clock });
      const { certPem } = await issueCertificate({ dir: join(dir.path, 'pki'), role: 'scanner', name: 'scanner-01', clock });
      const clientCert = `:${new X509Certificate(certPem).raw.toString('base64')}:`;
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      });
      const core = stamperCore({ topology, hopId: 'gw-edge', keys, now: () => NOW_MS - 1000, decisionLog: pino({ level: 'info' }, sink) });
      const headers = { 'x-stella-scan-id': 'scan-0001', 'x-original-method': 'GET', 'x-original-uri': '/api/v1/scans/scan-0001', 'client-cert': clientCert };

      const stamped = core.stamp('GET', '/stamp', { ...headers, 'x-request-id': 'edge-0001' });
      assert.equal(stamped.status, 200);
      assert.equal(stamped.requestId, 'edge-0001');
      const refused = core.stamp('GET', '/stamp', { ...headers, 'x-stella-scan-id': 'bad|scan', 'x-request-id': 'bad id' });
      assert.equal(refused.status, 403);
      assert.match(refused.requestId, /^[0-9a-f-]{36}$/, 'an unusable id is replaced');

      const text = await core.registry.metrics();
      assert.match(text, new RegExp(`^${STAMPER_STAMPS_METRIC}\\{hop="gw-edge"\\} 1$`, 'm'));
      assert.match(text, new RegExp(`^${STAMPER_REFUSALS_METRIC}\\{hop="gw-edge",reason="provenance-malformed"\\} 1$`, 'm'));
      assert.match(text, new RegExp(`^${STAMPER_DURATION_METRIC}_count\\{hop="gw-edge"\\} 2$`, 'm'));

      assert.equal(lines.length, 2);
      assert.deepEqual([lines[0]!.reqId, lines[0]!.msg, (lines[0]!.stamper as { code: string }).code], ['edge-0001', 'stamped', 'stamped']);
      assert.deepEqual([lines[1]!.reqId, lines[1]!.msg, (lines[1]!.stamper as { code: string }).code], [refused.requestId, 'stamp refused', 'provenance-malformed']);
      assert.equal(lines[1]!.level, 40, 'a refusal is a warning');
    } finally {
      dir.remove();
    }
  });
});
