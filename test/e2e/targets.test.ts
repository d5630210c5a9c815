/**
 * No false rejections through the reference chain (NGINX edge → Apache+CRS WAF → HAProxy → locker)
 * and the Caddy one (Caddy edge with its stamper → the same WAF and HAProxy): a request target goes
 * through every hop byte for byte, so the hop MACs that cover it still verify (docs/provenance.md),
 * and the media types the locker accepts pass the WAF
 * (docs/gateways/apache-modsecurity.md#envelope-routes). A target the locker has no route for is
 * its `not-found`, never a `provenance-tampered`.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, type Chain } from '../support/chain.js';
import { logLinesWith } from '../support/logs.js';
import { edgeGet, edgePost, problemCode, storedCount, useChain, workerEnvelope, type Answer, type ChainWorker } from './support/client.js';

let chain: Chain;
let worker: ChainWorker;

useChain(REFERENCE_TOPOLOGY, (c, w) => {
  chain = c;
  worker = w;
});

async function envelope(scanId: string, extra: Record<string, string> = {}, on: Chain = chain, by: ChainWorker = worker): Promise<Buffer> {
  return workerEnvelope(on, by, scanId, { extra });
}

async function post(target: string, scanId: string, body: Buffer, contentType = 'application/json', on: Chain = chain): Promise<Answer> {
  return edgePost(on, target, scanId, body, { contentType });
}

/** Nothing was stored under `scanId`: the locker knows no such scan. */
async function assertNothingStored(scanId: string, on: Chain = chain): Promise<void> {
  const answer = await edgeGet(on, `/api/v1/scans/${scanId}/evidence`, scanId);
  assert.equal(answer.status, 404, answer.text);
  assert.equal(problemCode(answer), 'scan-not-found');
}

/** The request lines gw-internal (behind the WAF) logged that contain `marker`. */
async function internalLines(marker: string, timeoutMs = 3_000, on: Chain = chain): Promise<string[]> {
  return logLinesWith(join(on.deployment.gatewaysDir, 'gw-internal', 'stderr.log'), marker, timeoutMs);
}

/** The target cases, run against the chain `get()` returns (started by the caller). */
function targetCases(get: () => Chain, getWorker: () => ChainWorker = () => worker): void {
  // Paths no hop may normalise: a leading "//", and an encoded slash that must never be decoded.
  for (const [what, path] of [
    ['a target that starts with "//"', '//api/v1/evidence'],
    ['an encoded slash ("%2F") in the path', '/api/v1%2Fevidence'],
  ] as const) {
    it(`forwards ${what} unchanged: the locker answers not-found, not provenance-tampered`, async () => {
      const on = get();
      const marker = `t${randomBytes(6).toString('hex')}`;
      const scanId = `scan-target-${marker}`;
      const answer = await post(`${path}?trace=${marker}`, scanId, await envelope(scanId, {}, on, getWorker()), 'application/json', on);
      assert.equal(answer.status, 404, answer.text);
      assert.equal(problemCode(answer), 'not-found');
      const seen = await internalLines(marker, 3_000, on);
      assert.equal(seen.length, 1);
      assert.ok(seen[0]!.includes(`"POST ${path}?trace=${marker} HTTP/1.1"`), `the target arrived byte for byte behind the WAF: ${seen[0]}`);
      await assertNothingStored(scanId, on);
    });
  }

  it('stores an envelope sent to a percent-encoded target and to one with "//" in its query: the MACs still verify', async () => {
    const on = get();
    for (const [target, scanId] of [
      ['/api/v1/evid%65nce', `scan-encoded-${randomBytes(4).toString('hex')}`],
      ['/api/v1/evidence?ref=https://example.test//x', `scan-query-${randomBytes(4).toString('hex')}`],
    ] as const) {
      const answer = await post(target, scanId, await envelope(scanId, {}, on, getWorker()), 'application/json', on);
      assert.equal(answer.status, 201, `${target}: ${answer.text}`);
      assert.equal(await storedCount(on, scanId), 1);
    }
  });
}

describe('request targets through the reference chain', () => {
  targetCases(() => chain);
});

describe('request targets through the Caddy chain', () => {
  let caddy: Chain;
  let caddyWorker: ChainWorker;
  useChain(CADDY_TOPOLOGY, (c, w) => {
    caddy = c;
    caddyWorker = w;
  });
  targetCases(() => caddy, () => caddyWorker);
});

describe('the in-toto media type through the WAF', () => {
  it(`stores an envelope sent as application/vnd.in-toto+json (the locker accepts it)`, async () => {
    const answer = await post('/api/v1/evidence', 'scan-media-intoto', await envelope('scan-media-intoto'), 'application/vnd.in-toto+json');
    assert.equal(answer.status, 201, answer.text);
    assert.equal(await storedCount(chain, 'scan-media-intoto'), 1);
  });

  it('still inspects such a body: SQL injection in it is blocked with 403 at the WAF and nothing is stored', async () => {
    const body = await envelope('scan-media-sqli', { note: "1' OR '1'='1' UNION SELECT password FROM users --" });
    const answer = await post('/api/v1/evidence', 'scan-media-sqli', body, 'application/vnd.in-toto+json');
    assert.equal(answer.status, 403, answer.text);
    assert.equal(problemCode(answer), undefined, 'the refusal is the WAF page, not a locker problem');
    await assertNothingStored('scan-media-sqli');
  });

  it('allows the type on the envelope routes only: elsewhere the WAF refuses it with 403', async () => {
    const marker = `m${randomBytes(6).toString('hex')}`;
    const answer = await post(`/api/v1/not-an-envelope-route?trace=${marker}`, 'scan-media-elsewhere', Buffer.from('{}'), 'application/vnd.in-toto+json');
    assert.equal(answer.status, 403, answer.text);
    assert.equal(problemCode(answer), undefined);
    assert.deepEqual(await internalLines(marker, 300), [], 'gw-internal never saw it');
  });
});
