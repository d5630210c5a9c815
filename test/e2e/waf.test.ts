/**
 * The WAF still does its job inside the provenance chain (README.md#the-chain, docs/gateways/README.md): an attack in a submission
 * is blocked with 403 at the Apache+ModSecurity+CRS hop, the request never reaches gw-internal or
 * the locker, and nothing is stored. The same request without the attack goes through, so the 403
 * is the WAF's verdict on the attack, not on the provenance headers.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { REFERENCE_TOPOLOGY, type Chain } from '../support/chain.js';
import { logLinesWith } from '../support/logs.js';
import { edgeGet, edgePost, problemCode, useChain, workerEnvelope, type Answer, type ChainWorker } from './support/client.js';

let chain: Chain;
let worker: ChainWorker;

useChain(REFERENCE_TOPOLOGY, (c, w) => {
  chain = c;
  worker = w;
});

/** A signed envelope for `scanId`; `extra` adds top-level JSON members (DSSE ignores unknown fields). */
async function envelope(scanId: string, extra: Record<string, string> = {}): Promise<Buffer> {
  return workerEnvelope(chain, worker, scanId, { extra });
}

async function post(scanId: string, body: Buffer, options: { query?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return edgePost(chain, `/api/v1/evidence${options.query ?? ''}`, scanId, body, { ...(options.headers ? { headers: options.headers } : {}) });
}

/** Rows in the locker's SQLite file, read-only. */
function storedRows(): number {
  const storage = chain.topology.services[0]?.storage;
  if (storage?.kind !== 'sqlite') throw new TypeError('the reference locker stores in SQLite');
  const db = openSqlite(storage.file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM evidence').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const wafAccessLog = (): string => join(chain.deployment.gatewaysDir, 'waf', 'logs', 'access.log');
const internalLog = (): string => join(chain.deployment.gatewaysDir, 'gw-internal', 'stderr.log');

describe('the WAF hop of the reference chain', () => {
  it('lets the clean request through (the control): 201 and one stored row', async () => {
    const rows = storedRows();
    const answer = await post('scan-waf-clean', await envelope('scan-waf-clean'), { query: '?trace=clean' });
    assert.equal(answer.status, 201, answer.text);
    assert.equal(storedRows(), rows + 1);
    // gw-internal logs every request line it forwards: its silence about an attack below means something.
    assert.equal((await logLinesWith(internalLog(), 'trace=clean')).length, 1);
  });

  const attacks: Array<{ name: string; scanId: string; build: (marker: string) => Promise<{ body: Buffer; query?: string; headers?: Record<string, string> }> }> = [
    {
      name: '<script> in the query string',
      scanId: 'scan-waf-xss-query',
      build: async (marker) => ({ body: await envelope('scan-waf-xss-query'), query: `?trace=${marker}&q=${encodeURIComponent('<script>alert(1)</script>')}` }),
    },
    {
      name: 'SQL injection in the JSON body',
      scanId: 'scan-waf-sqli-body',
      build: async (marker) => ({ body: await envelope('scan-waf-sqli-body', { note: "1' OR '1'='1' UNION SELECT password FROM users --" }), query: `?trace=${marker}` }),
    },
    {
      name: 'XSS in the User-Agent header',
      scanId: 'scan-waf-xss-agent',
      build: async (marker) => ({ body: await envelope('scan-waf-xss-agent'), query: `?trace=${marker}`, headers: { 'user-agent': '<script>alert(document.cookie)</script>' } }),
    },
  ];

  for (const attack of attacks) {
    it(`blocks ${attack.name} with 403 at the WAF, before gw-internal, and stores nothing`, async () => {
      const rows = storedRows();
      const marker = `attack-${randomBytes(6).toString('hex')}`;
      const request = await attack.build(marker);
      const answer = await post(attack.scanId, request.body, request);
      assert.equal(answer.status, 403, answer.text);
      assert.equal(problemCode(answer), undefined, 'the refusal is the WAF page, not a locker problem');
      const waf = await logLinesWith(wafAccessLog(), marker);
      assert.equal(waf.length, 1, 'the WAF logged the request once');
      assert.match(waf[0] ?? '', /" 403 /);
      assert.deepEqual(await logLinesWith(internalLog(), marker, 300), [], 'gw-internal never saw it');
      assert.equal(storedRows(), rows);
      const scan = await edgeGet(chain, `/api/v1/scans/${attack.scanId}/evidence`, attack.scanId);
      assert.equal(scan.status, 404, scan.text);
      assert.equal(problemCode(scan), 'scan-not-found', 'the locker knows no such scan');
    });
  }
});
