import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox } from '../../src/scanner/outbox.js';
import type { OutboxSummary } from '../../src/scanner/outbox.js';
import { waitFor } from '../support/wait.js';
import { inProcess, runCli, startCli } from './support/cli.js';
import { scannerFixture } from './support/fixture.js';
import type { ScannerFixture } from './support/fixture.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('stella-gateway scanner (child processes against a real mTLS edge)', () => {
  let fx: ScannerFixture;
  let base: string[];
  before(async () => {
    fx = await scannerFixture();
    base = ['--topology', fx.deployment.topologyFile, '--scanner', 'scanner-01'];
  });
  after(async () => fx.cleanup());

  const statusOf = (outbox: string): OutboxSummary => {
    const box = Outbox.open(outbox, { readonly: true });
    try {
      return box.summary();
    } finally {
      box.close();
    }
  };

  it('submit exits 0 once every file is delivered with a verified, stored receipt', async () => {
    const outbox = join(fx.dir, 'submit.db');
    const files = [fx.artifact('c1.json', '{"c":1}'), fx.artifact('c2.json', '{"c":2}')];
    const { code } = await inProcess(['scanner', 'submit', ...base, '--outbox', outbox, '--scan-id', 'cli-1', '--json', ...files]);
    assert.equal(code, 0);
    const box = Outbox.open(outbox, { readonly: true });
    const items = box.itemsOfScan('cli-1');
    box.close();
    assert.deepEqual(items.map((i) => [i.name, i.state, i.lastStatus]), [['c1.json', 'delivered', 201], ['c2.json', 'delivered', 201]]);
    assert.ok(items.every((i) => i.receipt !== null && fx.edge.stored.get(i.envelopeSha256 ?? '')?.receipt === i.receipt));
  });

  it('submit exits 1 and records the problem code when the chain rejects a file', async () => {
    fx.edge.plan.push({ status: 422, code: 'binding-mismatch' });
    const { code } = await inProcess(['scanner', 'submit', ...base, '--outbox', join(fx.dir, 'rejected.db'), '--scan-id', 'cli-2', fx.artifact('r.json', '{"r":1}')]);
    assert.equal(code, 1);
    assert.equal(statusOf(join(fx.dir, 'rejected.db')).lastErrors[0]?.code, 'binding-mismatch');
  });

  it('submit exits 2 for a scan id outside the docs/provenance.md syntax, an unknown scanner, or a missing file', async () => {
    const file = fx.artifact('u.json', '{}');
    const badScan = await inProcess(['scanner', 'submit', ...base, '--outbox', join(fx.dir, 'u.db'), '--scan-id', '-bad id', file]);
    assert.equal(badScan.code, 2);
    assert.match(badScan.stderr, /SCANNER_SCAN_ID_INVALID/);
    const badScanner = await inProcess(['scanner', 'submit', '--topology', fx.deployment.topologyFile, '--scanner', 'nobody', '--outbox', join(fx.dir, 'u.db'), '--scan-id', 's', file]);
    assert.equal(badScanner.code, 2);
    assert.match(badScanner.stderr, /SCANNER_CONFIG/);
    const missing = await inProcess(['scanner', 'submit', ...base, '--outbox', join(fx.dir, 'u.db'), '--scan-id', 's', join(fx.dir, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /SCANNER_ARTIFACT_UNREADABLE/);
  });

  it('after a SIGKILL mid-send, a rerun delivers the rest and every artifact is stored exactly once', async () => {
    const outbox = join(fx.dir, 'killed.db');
    const files = [1, 2, 3, 4].map((n) => fx.artifact(`k${n}.json`, `{"k":${n}}`));
    const storedBefore = fx.edge.stored.size;
    // k1 is stored and answered; k2 is stored but the answer never comes: the worker dies waiting.
    const postsBefore = fx.edge.seen.filter((s) => s.scanId === 'cli-kill').length;
    fx.edge.plan.push('pass', 'store-and-hang');
    const first = startCli(['scanner', 'submit', ...base, '--outbox', outbox, '--scan-id', 'cli-kill', '--timeout', '60s', ...files]);
    await waitFor(() => fx.edge.seen.filter((s) => s.scanId === 'cli-kill').length === postsBefore + 2, { what: 'the second POST to hang' });
    first.child.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(fx.edge.stored.size, storedBefore + 2);
    assert.equal(statusOf(outbox).counts.pending, 3, 'k2..k4 are still pending in the outbox');

    const rerun = await runCli(['scanner', 'submit', ...base, '--outbox', outbox, '--scan-id', 'cli-kill', '--json', ...files]);
    assert.equal(rerun.code, 0, rerun.stderr);
    const stored = [...fx.edge.stored.values()].filter((s) => s.scanId === 'cli-kill');
    assert.equal(stored.length, 4);
    assert.deepEqual(stored.map((s) => s.artifactSha256).sort(), [1, 2, 3, 4].map((n) => sha256(`{"k":${n}}`)).sort());
    // Each CLI run gets a fresh leaf from the local CA, so the rerun cannot resend k2's frozen
    // envelope (its intent names the dead process's certificate): it asks the locker first, finds
    // k2 stored, and adopts its receipt instead of storing a re-signed copy.
    const mine = fx.edge.seen.filter((s) => s.scanId === 'cli-kill');
    assert.deepEqual(mine.filter((s) => s.method === 'POST').map((s) => s.status), [201, 0, 201, 201]);
    assert.deepEqual(mine.filter((s) => s.method === 'GET').map((s) => s.status), [200]);
  });

  it('run keeps accepting spool files while the edge is down, delivers each once when it returns, and stops on SIGTERM', async () => {
    const spool = join(fx.dir, 'spool');
    const outbox = join(fx.dir, 'daemon.db');
    await fx.edge.stop();
    const daemon = startCli(['scanner', 'run', ...base, '--spool', spool, '--outbox', outbox, '--poll-interval', '100ms', '--backoff-max', '300ms']);
    try {
      await waitFor(() => existsSync(spool), { what: 'the spool folder' });
      const drop = (scanId: string, name: string, text: string): void => {
        mkdirSync(join(spool, scanId), { recursive: true });
        writeFileSync(join(spool, scanId, `.${name}.tmp`), text);
        renameSync(join(spool, scanId, `.${name}.tmp`), join(spool, scanId, name));
      };
      drop('run-a', 'one.json', '{"run":1}');
      drop('run-a', 'two.json', '{"run":2}');
      drop('run-b', 'three.json', '{"run":3}');
      writeFileSync(join(spool, 'stray.json'), '{}');
      await waitFor(() => existsSync(outbox) && statusOf(outbox).counts.pending === 3, { what: 'the spool to be emptied into the outbox' });
      // Each file leaves the spool just after its outbox commit: wait for the last unlink too.
      await waitFor(() => readdirSync(join(spool, 'run-a')).length === 0 && readdirSync(join(spool, 'run-b')).length === 0, { what: 'the scan folders to be emptied' });
      // The stray file was written last, so it may settle (1 s) one sweep after the others.
      await waitFor(() => existsSync(join(spool, '.rejected')) && readdirSync(join(spool, '.rejected')).some((n) => n.endsWith('stray.json')), { what: 'a file outside a scan folder to be set aside' });
      assert.ok(!existsSync(join(spool, 'stray.json')));
      await waitFor(() => statusOf(outbox).lastErrors[0]?.code === 'SCANNER_NETWORK', { what: 'a refused attempt to be recorded' });

      await fx.edge.start();
      await waitFor(() => statusOf(outbox).counts.delivered === 3, { what: 'every item to be delivered' });
      daemon.child.kill('SIGTERM');
      const stopped = await daemon.done;
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /scanner worker stopped/);
      const stored = [...fx.edge.stored.values()].filter((s) => s.scanId.startsWith('run-'));
      assert.equal(stored.length, 3);
    } finally {
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
      await fx.edge.start().catch(() => undefined);
    }
  });

  it('status exits 0 with counts by state and the latest errors, and 2 for a missing outbox', async () => {
    assert.equal((await inProcess(['scanner', 'status', '--outbox', join(fx.dir, 'rejected.db')])).code, 0);
    assert.deepEqual(statusOf(join(fx.dir, 'rejected.db')).counts, { pending: 0, delivered: 0, rejected: 1 });
    const missing = await inProcess(['scanner', 'status', '--outbox', join(fx.dir, 'absent.db')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /SCANNER_OUTBOX/);
  });
});
