/**
 * `stella_certificate_expiry_timestamp_seconds` follows the live reload
 * (docs/operations/running.md#metrics): a leaf re-issued on disk is swapped in by the running
 * service without a restart, and the next scrape shows the new certificate, not the one loaded at
 * start.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { prepareDeployment, type PreparedDeployment } from '../../src/deploy/prepare.js';
import { issueCertificate } from '../../src/pki/index.js';
import { startService, type RunningService } from '../../src/services/common/server.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';
import { get } from './support/children.js';

/** How long the file watcher may take to swap the certificate in. */
const RELOAD_DEADLINE_MS = 20_000;

/** The leaf series of a scrape: serial and notAfter. */
function leafOf(text: string): { serial: string; notAfter: number } | null {
  const match = /^stella_certificate_expiry_timestamp_seconds\{part="evidence-locker",role="leaf",subject="[^"]*",serial="([0-9a-f]+)"[^}]*\} (\d+)$/m.exec(text);
  return match ? { serial: match[1]!, notAfter: Number(match[2]) } : null;
}

describe('the certificate-expiry gauge', () => {
  const tmp = tempDir('stella-expiry-');
  let prepared: PreparedDeployment;
  let running: RunningService;
  before(async () => {
    prepared = await prepareDeployment({ topologyFile: 'examples/topology.yaml', workDir: join(tmp.path, 'dep'), freePorts: true, leafTtlSeconds: 3600 });
    running = await startService({ topology: prepared.topology, serviceId: 'evidence-locker', listen: '127.0.0.1:0', logger: false, ops: { listen: '127.0.0.1:0' } });
  });
  after(async () => {
    await running?.close();
    tmp.remove();
  });

  it('shows the certificate the live reload swapped in at the next scrape', async () => {
    const metricsUrl = `${running.opsUrl!}/metrics`;
    const before = leafOf((await get(metricsUrl)).text);
    assert.ok(before, 'a leaf series at start');
    // The one-hour leaf of prepareDeployment, then a one-day leaf in its place.
    assert.ok(before.notAfter - Date.now() / 1000 < 3700);
    const service = prepared.topology.services.find((s) => s.id === 'evidence-locker')!;
    const reissued = await issueCertificate({ dir: prepared.topology.pki.dir, role: 'service', name: service.id, dns: [service.serverName], ip: ['127.0.0.1'], ttlSeconds: 86_400 });
    assert.equal(reissued.paths?.chain, service.tls.chain, 'the re-issued leaf is where the service reads it');
    const now = await waitFor(
      async () => {
        const leaf = leafOf((await get(metricsUrl)).text);
        return leaf && leaf.serial !== before.serial ? leaf : null;
      },
      { what: `the gauge to show another serial than ${before.serial}`, timeout: RELOAD_DEADLINE_MS, interval: 100 },
    );
    // Both sides use the one serial form of the PKI (normalizeSerial: leading zero bytes dropped, a leading zero digit kept).
    assert.equal(now.serial, reissued.serial);
    assert.equal(now.notAfter, Math.floor(reissued.notAfter.getTime() / 1000));
    assert.ok(now.notAfter - Date.now() / 1000 > 80_000);
  });
});
