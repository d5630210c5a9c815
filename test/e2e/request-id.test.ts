/**
 * One request id from the edge to the locker on the real programs
 * (docs/operations/running.md#the-request-id): the edge replaces the id a client sent with its own,
 * every hop forwards it unchanged and writes it in its access log, and the locker logs it with
 * its provenance decision and echoes it in the answer.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CADDY_TOPOLOGY, EXAMPLES, REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { edgeHost, send } from './support/client.js';
import { waitFor } from '../support/wait.js';

/** How long a log line may take to reach its file after the answer (each program writes at request end). */
const LOG_DEADLINE_MS = 10_000;

/** Waits until `file` has a line containing `needle`; returns that line. */
async function lineWith(file: string, needle: string): Promise<string> {
  let text = '';
  return waitFor(
    async () => {
      text = await readFile(file, 'utf8').catch(() => '');
      return text.split('\n').find((l) => l.includes(needle));
    },
    { what: `a line with ${needle} in ${file}`, timeout: LOG_DEADLINE_MS, detail: () => text.slice(-2000) },
  );
}

describe('the request id across the reference chain (NGINX → Apache+ModSecurity → HAProxy → locker)', () => {
  let chain: Chain;
  before(async () => {
    chain = await startChain(REFERENCE_TOPOLOGY);
  });
  after(async () => {
    await chain?.close();
  });

  /** Where each part of the chain writes the line of one request. */
  const logsOf = (): Record<string, string> => {
    const dep = chain.deployment;
    const hopDir = (id: string): string => join(dep.gatewaysDir, id);
    return {
      'gw-edge (nginx access.log)': join(hopDir('gw-edge'), 'access.log'),
      'waf (apache access.log)': join(hopDir('waf'), 'logs', 'access.log'),
      'gw-internal (haproxy log)': dep.gateways.get('gw-internal')!.stderrFile,
      'evidence-locker (decision log)': dep.services.get('evidence-locker')!.logFile,
    };
  };

  it('replaces the client id at the edge and finds the edge id in every hop and in the locker decision', async () => {
    const clientId = 'client-chosen-id-7f3a';
    const answer = await send(await chain.scannerAgent(), `${chain.edgeUrl()}/api/v1/evidence/${'0'.repeat(64)}`, {
      headers: { host: edgeHost(chain), 'x-stella-scan-id': 'scan-request-id-1', 'x-request-id': clientId },
    });
    // Verified and looked up: the locker answered (nothing stored under that digest).
    assert.equal(answer.status, 404, answer.text);
    const id = answer.headers['x-request-id'];
    assert.equal(typeof id, 'string', 'the locker echoes the request id');
    // NGINX's $request_id: 32 hex characters, not what the client chose.
    assert.match(id as string, /^[0-9a-f]{32}$/);

    const logs = logsOf();
    const edge = await lineWith(logs['gw-edge (nginx access.log)']!, `request_id="${id as string}"`);
    assert.match(edge, /"GET \/api\/v1\/evidence\/0{64} HTTP\/1\.1" 404/);
    await lineWith(logs['waf (apache access.log)']!, `request_id="${id as string}"`);
    await lineWith(logs['gw-internal (haproxy log)']!, `request_id="${id as string}"`);
    const decision = JSON.parse(await lineWith(logs['evidence-locker (decision log)']!, '"provenance accepted"')) as { reqId?: string; provenance?: { hops?: string[] } };
    // The one decision of this test's request: written with the edge's id.
    const decisions = (await readFile(logs['evidence-locker (decision log)']!, 'utf8')).split('\n').filter((l) => l.includes('"provenance accepted"'));
    assert.equal(decisions.length, 1, decisions.join('\n'));
    assert.equal(decision.reqId, id);
    assert.deepEqual(decision.provenance?.hops, ['gw-edge', 'gw-internal']);

    for (const [part, file] of Object.entries(logs)) {
      assert.doesNotMatch(await readFile(file, 'utf8'), new RegExp(clientId), `${part} must not carry the client's id`);
    }
  });

  it('logs a refused request with its id too: the edge refuses a bad scan id, the locker never sees it', async () => {
    const answer = await send(await chain.scannerAgent(), `${chain.edgeUrl()}/api/v1/evidence/${'1'.repeat(64)}`, {
      headers: { host: edgeHost(chain), 'x-stella-scan-id': 'bad|scan' },
    });
    assert.equal(answer.status, 403);
    const line = await lineWith(logsOf()['gw-edge (nginx access.log)']!, '"GET /api/v1/evidence/1111');
    assert.match(line, / 403 .*request_id="[0-9a-f]{32}"/);
  });
});

describe('the request id across the Caddy chain (Caddy + forward-auth stamper → Apache+ModSecurity → HAProxy → locker)', () => {
  let chain: Chain;
  before(async () => {
    chain = await startChain(CADDY_TOPOLOGY);
  });
  after(async () => {
    await chain?.close();
  });

  it('replaces the client id with a UUID that the stamper, every hop and the locker log', async () => {
    const clientId = 'client-chosen-id-caddy';
    const answer = await send(await chain.scannerAgent(), `${chain.edgeUrl()}/api/v1/evidence/${'2'.repeat(64)}`, {
      headers: { host: edgeHost(chain), 'x-stella-scan-id': 'scan-request-id-2', 'x-request-id': clientId },
    });
    assert.equal(answer.status, 404, answer.text);
    const id = answer.headers['x-request-id'] as string;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'Caddy\'s {http.request.uuid}');
    const dep = chain.deployment;
    const stamperLine = JSON.parse(await lineWith(dep.stampers.get('gw-edge')!.logFile, id)) as { reqId?: string; stamper?: { code?: string; hop?: string } };
    assert.deepEqual([stamperLine.reqId, stamperLine.stamper?.code, stamperLine.stamper?.hop], [id, 'stamped', 'gw-edge']);
    // Caddy's JSON access log: the request headers as they arrived (the client's id), and the
    // answer's headers, where the edge set the id it forwarded.
    const edgeLine = JSON.parse(await lineWith(join(dep.gatewaysDir, 'gw-edge', 'logs', 'access.log'), id)) as { resp_headers?: Record<string, string[]> };
    assert.deepEqual(edgeLine.resp_headers?.['X-Request-Id'], [id]);
    await lineWith(join(dep.gatewaysDir, 'waf', 'logs', 'access.log'), `request_id="${id}"`);
    await lineWith(dep.gateways.get('gw-internal')!.stderrFile, `request_id="${id}"`);
    const decision = JSON.parse(await lineWith(dep.services.get('evidence-locker')!.logFile, id)) as { reqId?: string };
    assert.equal(decision.reqId, id);
    for (const file of [dep.stampers.get('gw-edge')!.logFile, dep.services.get('evidence-locker')!.logFile, join(dep.gatewaysDir, 'waf', 'logs', 'access.log')]) {
      assert.doesNotMatch(await readFile(file, 'utf8'), new RegExp(clientId), `${file} must not carry the client's id`);
    }
  });
});

describe('the request id at an HAProxy edge (two-edges topology: HAProxy → scanner-webservice)', () => {
  let chain: Chain;
  before(async () => {
    chain = await startChain(join(EXAMPLES, 'topology-two-edges.yaml'));
  });
  after(async () => {
    await chain?.close();
  });

  it('replaces the client id with HAProxy\'s uuid(4), logged by the edge and the webservice decision', async () => {
    const scanner = 'scanner-02';
    assert.equal(chain.scanner(scanner).edge, 'gw-webservice-edge');
    const answer = await send(await chain.scannerAgent(scanner), `${chain.edgeUrl(scanner)}/api/v1/scans/scan-request-id-3`, {
      headers: { host: edgeHost(chain, scanner), 'x-stella-scan-id': 'scan-request-id-3', 'x-request-id': 'client-chosen-id-haproxy' },
    });
    assert.equal(answer.status, 404, answer.text);
    const id = answer.headers['x-request-id'] as string;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const dep = chain.deployment;
    await lineWith(dep.gateways.get('gw-webservice-edge')!.stderrFile, `request_id="${id}"`);
    const decision = JSON.parse(await lineWith(dep.services.get('scanner-webservice')!.logFile, `"reqId":"${id}","provenance"`)) as { provenance?: { code?: string } };
    assert.equal(decision.provenance?.code, 'accepted');
    for (const file of [dep.gateways.get('gw-webservice-edge')!.stderrFile, dep.services.get('scanner-webservice')!.logFile]) {
      assert.doesNotMatch(await readFile(file, 'utf8'), /client-chosen-id-haproxy/, file);
    }
  });
});
