/**
 * The WAF hop stays up and answers in time (docs/gateways/apache-modsecurity.md#capacity,
 * #envelope-routes): 2,000 idle TCP connections to its port do not starve a genuine request, and
 * four envelopes of the full 16 MiB sent at once through NGINX → WAF → HAProxy → locker all get
 * their receipts. Heavy: one file, its tests in sequence.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/topology/schema.js';
import { submitArtifacts } from '../../src/scanner/submit.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { checkReceipt, startWorker, storedCount, type ChainWorker } from './support/client.js';
import { paddedEnvelopeFactory } from './support/big-envelope.js';
import { recordFault } from '../faults/support/figures.js';

const IDLE_CONNECTIONS = 2_000;
const GENUINE_WITHIN_MS = 2_000;
const LARGE_ENVELOPES = 4;

let chain: Chain;
const workers: ChainWorker[] = [];

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  for (let i = 0; i < LARGE_ENVELOPES; i++) workers.push(await startWorker(chain));
});
after(async () => {
  for (const worker of workers) await worker.close();
  await chain?.close();
});

/** Opens `count` plain TCP connections that never send a byte; resolves once all are connected. */
async function idleConnections(host: string, port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port }, () => resolve());
    socket.once('error', reject);
    sockets.push(socket);
  })));
  return sockets;
}

describe('the WAF hop under idle connections and large envelopes', () => {
  it(`delivers a genuine request within ${GENUINE_WITHIN_MS} ms while ${IDLE_CONNECTIONS} idle connections are open at the WAF`, { timeout: 120_000 }, async () => {
    const waf = chain.topology.hops.find((h) => h.kind === 'apache-modsecurity');
    assert.ok(waf);
    const at = waf.listen.lastIndexOf(':');
    const sockets = await idleConnections(waf.listen.slice(0, at), Number(waf.listen.slice(at + 1)), IDLE_CONNECTIONS);
    try {
      const started = Date.now();
      const [result] = await workers[0]!.submit('scan-waf-idle', { 'idle.json': '{"idle":true}' });
      const elapsedMs = Date.now() - started;
      recordFault({
        case: `${IDLE_CONNECTIONS} idle connections at the WAF`,
        target: `a genuine request through the whole chain delivered within ${GENUINE_WITHIN_MS} ms`,
        met: result?.state === 'delivered' && elapsedMs < GENUINE_WITHIN_MS,
        figures: { idleConnections: sockets.length, stillOpen: sockets.filter((s) => !s.destroyed).length, delivered: result?.state === 'delivered' ? 1 : 0, elapsedMs },
      });
      assert.equal(result?.state, 'delivered', `${result?.code} ${result?.message}\n${chain.logTails()}`);
      assert.ok(elapsedMs < GENUINE_WITHIN_MS, `delivered after ${elapsedMs} ms`);
      assert.equal(sockets.filter((s) => !s.destroyed).length > 0, true, 'the idle connections were still open');
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    assert.equal(await storedCount(chain, 'scan-waf-idle'), 1);
  });

  it(`gives all of ${LARGE_ENVELOPES} envelopes of ${DEFAULT_MAX_BODY_BYTES} bytes sent at once their receipts`, { timeout: 300_000 }, async () => {
    const factory = paddedEnvelopeFactory(chain.scanner().signing.keys, DEFAULT_MAX_BODY_BYTES);
    const results = await Promise.all(workers.map(async (worker, i) => {
      const file = join(chain.workDir, `large-${i}.json`);
      writeFileSync(file, `{"large":${i}}`);
      const [result] = await submitArtifacts({ ...worker.setup, createEnvelope: factory, outbox: worker.outbox, scanId: 'scan-waf-large', files: [file], maxAttempts: 1 });
      return { worker, result };
    }));
    recordFault({
      case: `${LARGE_ENVELOPES} envelopes of 16 MiB at once through the WAF`,
      target: 'every envelope delivered with its receipt on the first attempt',
      met: results.every(({ result }) => result?.state === 'delivered'),
      figures: { envelopes: LARGE_ENVELOPES, envelopeBytes: DEFAULT_MAX_BODY_BYTES, delivered: results.filter(({ result }) => result?.state === 'delivered').length },
    });
    for (const { worker, result } of results) {
      assert.equal(result?.state, 'delivered', `${result?.code} ${result?.message}\n${chain.logTails()}`);
      const item = worker.outbox.get(result.itemId);
      assert.ok(item?.receipt && item.envelopeSha256 && item.envelope);
      assert.ok(item.envelope.length > DEFAULT_MAX_BODY_BYTES - 64 * 1024, `envelope of ${item.envelope.length} bytes`);
      await checkReceipt(chain, JSON.parse(item.receipt), item.envelopeSha256);
    }
    assert.equal(await storedCount(chain, 'scan-waf-large'), LARGE_ENVELOPES);
  });
});
