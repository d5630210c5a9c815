/**
 * docs/operations/certificates.md#roles, docs/gateways/README.md: every hop admits the CN the
 * topology sends to it AND the role it puts there — scanners at the edge, the gateway before it
 * further in. Certificates of the product's own CA with a trusted CN but the wrong role are
 * refused by the real programs: a gateway-role `scanner-01` at the NGINX and Caddy edges, a
 * scanner-role `gw-edge` at the Apache WAF, a scanner-role `waf` at HAProxy. Nothing of theirs goes
 * further, nothing is stored; genuine certificates still pass.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { issueCertificate, type PkiRole } from '../../src/pki/index.js';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { logLinesWith } from '../support/logs.js';
import { edgeHost, edgePost, problemCode, send, storedCount } from './support/client.js';

/** An Agent presenting a fresh leaf of `role`/`name` from the chain's own CA to `servername`. */
async function agentAs(chain: Chain, agents: Agent[], role: PkiRole, name: string, servername: string): Promise<Agent> {
  const leaf = await issueCertificate({ dir: chain.topology.pki.dir, role, name, write: false });
  const agent = new Agent({ connect: { ca: await readFile(chain.topology.pki.caBundle), cert: leaf.chainPem, key: leaf.keyPem!, servername } });
  agents.push(agent);
  return agent;
}

function hopOf(chain: Chain, id: string) {
  const hop = chain.topology.hops.find((h) => h.id === id);
  if (!hop) throw new TypeError(`no hop ${id}`);
  return hop;
}

const wafAccessLog = (chain: Chain): Promise<string> => readFile(join(chain.deployment.gatewaysDir, 'waf', 'logs', 'access.log'), 'utf8');

/** Apache writes its access-log line after the response left, so the client can be faster: wait for it a little. */
async function wafLogged(chain: Chain, marker: string, timeoutMs = 5_000): Promise<boolean> {
  return (await logLinesWith(join(chain.deployment.gatewaysDir, 'waf', 'logs', 'access.log'), marker, timeoutMs)).length > 0;
}

/** A POST of an envelope-shaped body to the edge as `agent`, under a scan id unique to the case. */
async function postAtEdge(chain: Chain, agent: Agent, scanId: string) {
  const body = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [] }));
  return edgePost(chain, '/api/v1/evidence', scanId, body, { agent });
}

/** The edge cases, the same for every edge kind. */
function edgeCases(kind: string, chain: () => Chain, agents: Agent[]): void {
  it(`the ${kind} edge refuses a gateway-role certificate named scanner-01 with 403; nothing reaches the WAF, nothing is stored`, async () => {
    const c = chain();
    const scanId = `scan-roles-${kind}-gateway-as-scanner-${Date.now()}`;
    const agent = await agentAs(c, agents, 'gateway', 'scanner-01', c.edgeServerName());
    const answer = await postAtEdge(c, agent, scanId);
    assert.equal(answer.status, 403, `${answer.text}\n${c.logTails()}`);
    assert.ok(!(await wafAccessLog(c)).includes(scanId), 'the WAF never saw the request');
    assert.equal(await storedCount(c, scanId), 0);
  });

  it(`the ${kind} edge still admits a genuine scanner-role scanner-01 (the control)`, async () => {
    const c = chain();
    const scanId = `scan-roles-${kind}-genuine-${Date.now()}`;
    const agent = await agentAs(c, agents, 'scanner', 'scanner-01', c.edgeServerName());
    const answer = await send(agent, `${c.edgeUrl()}/api/v1/scans/${scanId}/evidence`, { headers: { host: edgeHost(c), 'x-stella-scan-id': scanId } });
    // The locker itself answered (a problem document, not a gateway's page): nothing is stored under it.
    assert.equal(answer.status, 404, `${answer.text}\n${c.logTails()}`);
    assert.equal(problemCode(answer), 'scan-not-found');
    assert.ok(await wafLogged(c, scanId), 'the request went on through the WAF');
  });
}

describe('certificate roles through NGINX edge → Apache WAF → HAProxy → Evidence Locker', () => {
  let chain: Chain;
  const agents: Agent[] = [];
  before(async () => {
    chain = await startChain(REFERENCE_TOPOLOGY);
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await chain?.close();
  });

  edgeCases('NGINX', () => chain, agents);

  /** Straight to an inner hop, as a certificate with the previous hop's CN and the given role. */
  async function innerGet(hopId: string, previous: string, role: PkiRole, path: string) {
    const hop = hopOf(chain, hopId);
    const agent = await agentAs(chain, agents, role, previous, hop.serverName);
    return send(agent, `https://${hop.listen}${path}`, { headers: { host: hop.serverName, 'x-stella-scan-id': 'scan-roles-inner' } });
  }

  it('the Apache WAF refuses a scanner-role certificate named gw-edge with 403; HAProxy never sees it', async () => {
    const marker = `scan-roles-waf-${Date.now()}`;
    const answer = await innerGet('waf', 'gw-edge', 'scanner', `/api/v1/scans/${marker}/evidence`);
    assert.equal(answer.status, 403, answer.text);
    const haproxyLog = await readFile(chain.deployment.gateways.get('gw-internal')!.stderrFile, 'utf8');
    assert.ok(!haproxyLog.includes(marker), 'HAProxy never saw the request');
  });

  it('the Apache WAF still admits the gateway-role gw-edge (the control)', async () => {
    assert.equal((await innerGet('waf', 'gw-edge', 'gateway', '/healthz/hop/waf')).status, 200);
  });

  it('HAProxy refuses a scanner-role certificate named waf with 403; the locker never sees it', async () => {
    const marker = `scan-roles-haproxy-${Date.now()}`;
    const answer = await innerGet('gw-internal', 'waf', 'scanner', `/api/v1/scans/${marker}/evidence`);
    assert.equal(answer.status, 403, answer.text);
    const lockerLog = await readFile(chain.deployment.services.get('evidence-locker')!.logFile, 'utf8');
    assert.ok(!lockerLog.includes(marker), 'the Evidence Locker never saw the request');
  });

  it('HAProxy still admits the gateway-role waf (the control)', async () => {
    assert.equal((await innerGet('gw-internal', 'waf', 'gateway', '/healthz/hop/gw-internal')).status, 200);
  });
});

describe('certificate roles through the Caddy edge', () => {
  let chain: Chain;
  const agents: Agent[] = [];
  before(async () => {
    chain = await startChain(CADDY_TOPOLOGY);
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await chain?.close();
  });

  edgeCases('Caddy', () => chain, agents);
});
