/**
 * docs/services.md#health-and-metrics on the real programs: every gateway kind answers its own `/healthz/hop/<id>` alike —
 * GET 200 with the JSON body, HEAD 200 without a body, any other method 405 — whichever program
 * runs the hop (NGINX, Apache+ModSecurity, HAProxy in the reference chain; Caddy at the other edge).
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { request } from 'undici';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string | undefined;
}

/** Sends `method` to a hop's own health path, presenting the certificate of whoever is in front of it. */
async function ask(chain: Chain, index: number, method: 'GET' | 'HEAD' | 'POST' | 'OPTIONS' | 'DELETE'): Promise<Answer> {
  const hops = chain.topology.hops;
  const hop = hops[index]!;
  const front = index === 0 ? chain.scanner().tls : hops[index - 1]!.upstreamTls;
  const agent = await chain.agentFor({ cert: front.chain, key: front.key }, hop.serverName);
  const res = await request(`https://${hop.listen}/healthz/hop/${hop.id}`, { method, dispatcher: agent, headers: { host: hop.serverName } });
  const contentType = res.headers['content-type'];
  return { status: res.statusCode, body: await res.body.text(), contentType: typeof contentType === 'string' ? contentType : undefined };
}

for (const [label, file] of [
  ['reference chain (NGINX, Apache+ModSecurity, HAProxy)', REFERENCE_TOPOLOGY],
  ['Caddy edge chain', CADDY_TOPOLOGY],
] as const) {
  describe(`own hop health on every program of the ${label}`, () => {
    let chain: Chain;
    before(async () => {
      chain = await startChain(file);
    });
    after(async () => {
      await chain?.close();
    });

    it('answers GET with 200 and the hop, its kind and "live" as JSON', async () => {
      for (const [index, hop] of chain.topology.hops.entries()) {
        const answer = await ask(chain, index, 'GET');
        assert.equal(answer.status, 200, `${hop.kind} ${hop.id}`);
        assert.match(answer.contentType ?? '', /^application\/json/, `${hop.kind} ${hop.id}`);
        assert.deepEqual(JSON.parse(answer.body), { hop: hop.id, kind: hop.kind, status: 'live' });
      }
    });

    it('answers HEAD with 200 and no body', async () => {
      for (const [index, hop] of chain.topology.hops.entries()) {
        const answer = await ask(chain, index, 'HEAD');
        assert.equal(answer.status, 200, `${hop.kind} ${hop.id}`);
        assert.equal(answer.body, '', `${hop.kind} ${hop.id}`);
      }
    });

    it('refuses any other method with 405', async () => {
      for (const [index, hop] of chain.topology.hops.entries()) {
        for (const method of ['POST', 'OPTIONS'] as const) {
          assert.equal((await ask(chain, index, method)).status, 405, `${method} on ${hop.kind} ${hop.id}`);
        }
      }
    });

    it('lets the WAF refuse a method outside the CRS allowed list first (403), like on any path', async () => {
      for (const [index, hop] of chain.topology.hops.entries()) {
        const expected = hop.kind === 'apache-modsecurity' ? 403 : 405;
        assert.equal((await ask(chain, index, 'DELETE')).status, expected, `DELETE on ${hop.kind} ${hop.id}`);
      }
    });
  });
}
