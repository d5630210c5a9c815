/**
 * The NGINX renderer against the real `nginx -t`, on the example topology and its variants, with
 * a real test PKI and key files on disk.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { nginxProgram, renderNginxHop } from '../../../src/gateways/nginx/index.js';
import type { RenderedFile } from '../../../src/gateways/types.js';
import { deploymentsPerTest, type Deployment } from '../support/deployment.js';
import { runCheck, writeRendered } from '../support/run.js';

const { deploy, hop } = deploymentsPerTest(afterEach);

/** Renders one hop into `<dir>/out` and runs `nginx -t` on it. */
async function renderAndCheck(deployment: Deployment, id: string): Promise<{ files: RenderedFile[]; code: number; output: string }> {
  const outDir = join(deployment.dir, 'out');
  const files = renderNginxHop(deployment.topology, hop(deployment, id), { outDir });
  writeRendered(outDir, files);
  const result = await runCheck(nginxProgram.check(join(outDir, id), hop(deployment, id)));
  return { files, ...result };
}

function contents(files: readonly RenderedFile[], name: string): string {
  const file = files.find((f) => f.path.endsWith(`/${name}`));
  if (!file) throw new Error(`${name} was not rendered`);
  return file.contents;
}

describe('renderNginxHop', () => {
  it('renders the example edge into gw-edge/ and nginx -t accepts it', async () => {
    const deployment = await deploy();
    const { files, code, output } = await renderAndCheck(deployment, 'gw-edge');
    assert.deepEqual(files.map((f) => f.path).sort(), ['gw-edge/nginx.conf', 'gw-edge/stella_stamp.pm', 'gw-edge/strip-headers.conf']);
    assert.equal(code, 0, output);
    const conf = contents(files, 'nginx.conf');
    assert.match(conf, /"~\^scanner:\(\?:scanner-01\|scanner-02\)\$" 1;/, 'the edge admits its scanners with role scanner');
    // "Sessions": a resumed session skips verification; neither tickets nor the cache.
    assert.match(conf, /^\s+ssl_session_tickets off;$/m);
    assert.match(conf, /^\s+ssl_session_cache off;$/m);
  });

  it('renders an edge that stamps through forward-auth on a kept-alive Unix socket, and nginx -t accepts it', async () => {
    const deployment = await deploy((doc) => {
      const edge = doc.hops[0];
      if (edge?.stamp) edge.stamp = { ...edge.stamp, via: 'forward-auth', stamper: { socket: './run/gw-edge/stamper.sock' } };
    });
    const { files, code, output } = await renderAndCheck(deployment, 'gw-edge');
    assert.equal(code, 0, output);
    assert.deepEqual(files.map((f) => f.path).sort(), ['gw-edge/nginx.conf', 'gw-edge/strip-headers.conf'], 'no Perl module');
    const conf = contents(files, 'nginx.conf');
    assert.match(conf, /auth_request \/_stella\/stamp;/);
    assert.match(conf, /auth_request_set \$stella_provenance \$upstream_http_x_stella_provenance;/);
    assert.match(conf, /proxy_set_header X-Stella-Client-Cert \$ssl_client_escaped_cert;/);
    assert.match(conf, /upstream stella_stamper \{\n\s+server "unix:[^"]+\/run\/gw-edge\/stamper\.sock";\n\s+keepalive 16;\n\s+\}/);
    const location = conf.slice(conf.indexOf('location = /_stella/stamp'));
    assert.match(location, /proxy_http_version 1\.1;\n\s+proxy_set_header Connection "";/);
    assert.match(location, /proxy_pass http:\/\/stella_stamper\/stamp;/);
  });

  it('reaches a TCP stamper over mTLS only, checking it under the hop\'s own name, and nginx -t accepts it', async () => {
    const deployment = await deploy((doc) => {
      const edge = doc.hops[0];
      if (edge?.stamp) edge.stamp = { ...edge.stamp, via: 'forward-auth', stamper: { listen: '127.0.0.1:7101' } };
    });
    const { files, code, output } = await renderAndCheck(deployment, 'gw-edge');
    assert.equal(code, 0, output);
    const conf = contents(files, 'nginx.conf');
    assert.match(conf, /upstream stella_stamper \{\n\s+server 127\.0\.0\.1:7101;\n\s+keepalive 16;/);
    const location = conf.slice(conf.indexOf('location = /_stella/stamp'));
    assert.match(location, /proxy_ssl_name gw-edge;\n\s+proxy_pass https:\/\/stella_stamper\/stamp;/);
  });

  it('renders a later NGINX hop that stamps natively with seq 2 and admits only the hop before it', async () => {
    const deployment = await deploy((doc) => {
      const internal = doc.hops[2];
      if (internal) internal.kind = 'nginx';
    });
    const { files, code, output } = await renderAndCheck(deployment, 'gw-internal');
    assert.equal(code, 0, output);
    assert.match(contents(files, 'stella_stamp.pm'), /our \$SEQ {6}= 2;/);
    // docs/gateways/nginx.md "Peers": role (the subject's one OU) and CN, both exact.
    assert.match(contents(files, 'nginx.conf'), /map "\$stella_peer_role:\$stella_peer_cn" \$stella_peer_admitted \{\n\s+default 0;\n\s+"~\^gateway:\(\?:waf\)\$" 1;/);
  });

  it('renders an opaque NGINX hop that forwards the incoming provenance untouched', async () => {
    const deployment = await deploy((doc) => {
      const waf = doc.hops[1];
      if (waf) Object.assign(waf, { kind: 'nginx', waf: undefined });
    });
    const { files, code, output } = await renderAndCheck(deployment, 'waf');
    assert.equal(code, 0, output);
    assert.ok(!files.some((f) => f.path.endsWith('.pm')));
    assert.match(contents(files, 'nginx.conf'), /proxy_set_header X-Stella-Provenance \$http_x_stella_provenance;/);
  });

  it('repeats the full strip list in every location that proxies', async () => {
    const deployment = await deploy((doc) => {
      const edge = doc.hops[0];
      if (edge?.stamp) edge.stamp = { ...edge.stamp, via: 'forward-auth', stamper: { listen: '127.0.0.1:7101' } };
      doc.headers = { strip: ['X-Internal-Debug'] };
    });
    const files = renderNginxHop(deployment.topology, hop(deployment, 'gw-edge'), { outDir: '/srv/out' });
    const locations = contents(files, 'nginx.conf').split(/\n\s*location /).slice(1);
    const proxying = locations.filter((l) => l.includes('proxy_pass'));
    assert.equal(proxying.length, 3, 'the forwarding, the artifact upload and the stamper location');
    for (const location of proxying) assert.match(location, /include "\/srv\/out\/gw-edge\/strip-headers\.conf";/);
    const include = contents(files, 'strip-headers.conf');
    for (const name of ['Client-Cert', 'Client-Cert-Chain', 'X-Forwarded-Client-Cert', 'X-Internal-Debug']) {
      assert.match(include, new RegExp(`^proxy_set_header ${name} "";$`, 'm'));
    }
  });

  it('writes no key material into any rendered file', async () => {
    const deployment = await deploy();
    const files = renderNginxHop(deployment.topology, hop(deployment, 'gw-edge'), { outDir: '/srv/out' });
    const key = readFileSync(join(deployment.dir, 'keys/gw-edge.key'), 'utf8').trim();
    for (const file of files) assert.ok(!file.contents.includes(key), `${file.path} holds the key`);
    assert.match(contents(files, 'stella_stamp.pm'), /our \$KEY_FILE = '.*\/keys\/gw-edge\.key';/);
  });

  it('stamps with the last key of a rotation and fails nginx -t when that key file is too short', async () => {
    const deployment = await deploy((doc) => {
      const edge = doc.hops[0];
      if (edge?.stamp) (edge.stamp.keys ??= []).push({ kid: 'edge-2026-12', file: './keys/gw-edge-next.key' });
    });
    writeFileSync(join(deployment.dir, 'keys/gw-edge-next.key'), Buffer.alloc(16).toString('base64'));
    const { files, code, output } = await renderAndCheck(deployment, 'gw-edge');
    assert.match(contents(files, 'stella_stamp.pm'), /our \$KID {6}= 'edge-2026-12';/);
    assert.notEqual(code, 0);
    assert.match(output, /fewer than 32 bytes/);
  });

  it('applies the hop limits to the body size, and the chain schedule (floored by the limit) to the upstream timeouts', async () => {
    const deployment = await deploy((doc) => {
      const edge = doc.hops[0];
      if (edge) edge.limits = { maxBodyBytes: 1048576, upstreamTimeoutSeconds: 7 };
    });
    const conf = contents(renderNginxHop(deployment.topology, hop(deployment, 'gw-edge'), { outDir: '/srv/out' }), 'nginx.conf');
    assert.match(conf, /client_max_body_size 1048576;/);
    // docs/gateways/README.md#timeouts: the edge waits for the WAF (67 s) + its inspection (15 s) + 5 s.
    assert.match(conf, /proxy_read_timeout 87s;/);
    assert.match(conf, /proxy_send_timeout 87s;/);
    assert.match(conf, /proxy_connect_timeout 5s;/);
  });

  it('quotes file paths, and refuses one NGINX would expand as a variable', async () => {
    const deployment = await deploy();
    const edge = hop(deployment, 'gw-edge');
    const spaced = renderNginxHop(deployment.topology, edge, { outDir: '/srv/my gateways' });
    assert.match(contents(spaced, 'nginx.conf'), /include "\/srv\/my gateways\/gw-edge\/strip-headers\.conf";/);
    const dollar = { ...edge, tls: { ...edge.tls, key: '/keys/$host.pem' } };
    assert.throws(() => renderNginxHop(deployment.topology, dollar, { outDir: '/srv/out' }), /cannot reference the path/);
  });

  it('refuses a hop of another kind', async () => {
    const deployment = await deploy();
    assert.throws(() => renderNginxHop(deployment.topology, hop(deployment, 'gw-internal'), { outDir: '/srv/out' }), TypeError);
  });
});
