/**
 * Where each renderer puts the request id (docs/gateways/README.md, item 8): the edge replaces the
 * client's, a hop behind it keeps the incoming one and makes one only when none arrived, and
 * every kind forwards and logs it. The E2E (test/e2e/request-id.test.ts) runs the NGINX and
 * HAProxy edges, a Caddy edge, and Apache and HAProxy behind an edge; this covers each kind in the
 * other position too (Envoy, which cannot run here: test/gateways/envoy/render.test.ts).
 */
import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import { renderTopology } from '../../src/gateways/index.js';
import { requestIdBlock } from '../../src/gateways/caddy/caddyfile.js';
import type { RenderedFile } from '../../src/gateways/types.js';
import { deploymentsPerTest, type Deployment } from './support/deployment.js';

const { deploy, hop } = deploymentsPerTest(afterEach);

function file(files: readonly RenderedFile[], path: string): string {
  const found = files.find((f) => f.path === path);
  if (!found) throw new Error(`${path} was not rendered`);
  return found.contents;
}

/** The example chain with its NGINX and HAProxy hops swapped: HAProxy at the edge, NGINX last. */
async function swapped(): Promise<Deployment> {
  return deploy((doc) => {
    const hops = doc.hops as { id: string; kind: string }[];
    hops.find((h) => h.id === 'gw-edge')!.kind = 'haproxy';
    hops.find((h) => h.id === 'gw-internal')!.kind = 'nginx';
  });
}

describe('the request id in rendered configs', () => {
  it('NGINX: its own $request_id at the edge; behind it the incoming id, $request_id only when none arrived', async () => {
    const reference = await deploy();
    const edge = file(renderTopology(reference.topology, { outDir: '/out' }), 'gw-edge/nginx.conf');
    assert.match(edge, /map \$request_id \$stella_request_id \{\n\s+default \$request_id;\n\s+\}/);
    assert.match(edge, /proxy_set_header X-Request-Id \$stella_request_id;/);
    assert.match(edge, /access_log "[^"]+\/access\.log" stella;/);
    assert.match(edge, /request_id="\$stella_request_id"/);
    const inner = file(renderTopology((await swapped()).topology, { outDir: '/out' }), 'gw-internal/nginx.conf');
    assert.match(inner, /map \$http_x_request_id \$stella_request_id \{\n\s+default \$http_x_request_id;\n\s+"" \$request_id;\n\s+\}/);
  });

  it('HAProxy: a fresh uuid(4) at the edge, set unless one arrived behind it; captured for the log before any refusal', async () => {
    const reference = await deploy();
    const inner = file(renderTopology(reference.topology, { outDir: '/out' }), 'gw-internal/haproxy.cfg');
    assert.match(inner, /http-request set-header X-Request-Id %\[uuid\(4\)\] unless \{ req\.fhdr\(x-request-id\) -m found \}/);
    const edge = file(renderTopology((await swapped()).topology, { outDir: '/out' }), 'gw-edge/haproxy.cfg');
    assert.match(edge, /^ {4}http-request set-header X-Request-Id %\[uuid\(4\)\]$/m);
    for (const cfg of [inner, edge]) {
      const lines = cfg.split('\n');
      const capture = lines.findIndex((l) => l.includes('http-request capture req.fhdr(x-request-id) len 128'));
      const firstDeny = lines.findIndex((l) => l.includes('http-request deny'));
      assert.ok(capture > 0 && capture < firstDeny, 'captured before the first refusal, so refused requests are logged with it');
      assert.match(cfg, /log-format ".*request_id=%\{\+Q\}\[capture\.req\.hdr\(0\)\]/);
    }
  });

  it('Apache (never an edge: it cannot stamp): keeps the incoming id, UNIQUE_ID only when none arrived, and logs it', async () => {
    const reference = await deploy();
    const waf = file(renderTopology(reference.topology, { outDir: '/out' }), 'waf/apache2.conf');
    assert.match(waf, /^RequestHeader setifempty X-Request-Id "%\{UNIQUE_ID\}e"$/m);
    assert.match(waf, /request_id=\\"%\{X-Request-Id\}i\\"/);
  });

  it('Caddy: {http.request.uuid} at the edge; behind it only when none arrived; the forwarded id set on the answer', async () => {
    const reference = await deploy();
    const edge = requestIdBlock(reference.topology, hop(reference, 'gw-edge'));
    assert.match(edge, /^\t\trequest_header X-Request-Id \{http\.request\.uuid\}$/m);
    const inner = requestIdBlock(reference.topology, hop(reference, 'gw-internal'));
    assert.match(inner, /@stella_no_request_id not header_regexp X-Request-Id "\."/);
    assert.match(inner, /request_header @stella_no_request_id X-Request-Id \{http\.request\.uuid\}/);
    for (const block of [edge, inner]) assert.match(block, /header \{\n\t\t\tX-Request-Id \{http\.request\.header\.X-Request-Id\}\n\t\t\tdefer\n\t\t\}/);
  });
});
