import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { caddyProgram, renderCaddyHop } from '../../../src/gateways/caddy/index.js';
import { writeRenderedFiles } from '../../../src/gateways/write.js';
import type { TopologyInput } from '../../../src/topology/schema.js';
import { portsFor, requireProgram } from '../../support/programs.js';
import { caddyEdgeDocument, createDeployment, type Deployment } from '../apache/support/deployment.js';

const run = promisify(execFile);

/** The Caddy edge followed by an opaque Caddy hop, to cover both shapes. */
function twoCaddyHops(ports: { edge: number; stamper: number; service: number; inner: number }): TopologyInput {
  const document = caddyEdgeDocument(ports);
  const edge = document.hops[0];
  assert.ok(edge);
  return { ...document, hops: [{ ...edge, next: 'inner' }, { id: 'inner', kind: 'caddy', listen: `127.0.0.1:${ports.inner}`, stamp: false, next: 'evidence-locker' }] };
}

describe('renderCaddyHop', () => {
  let deployment: Deployment;
  before(async () => {
    deployment = await createDeployment(twoCaddyHops(await portsFor('edge', 'stamper', 'service', 'inner')));
  });
  after(() => deployment.remove());

  const caddyfile = (hopId: string): string => {
    const hop = deployment.topology.hops.find((h) => h.id === hopId);
    assert.ok(hop);
    const files = renderCaddyHop(deployment.topology, hop, { outDir: deployment.outDir });
    assert.deepEqual(files.map((f) => f.path), [`${hopId}/Caddyfile`]);
    return files[0]?.contents ?? '';
  };

  it('strips the rule-1 headers at the edge before it asks the stamper', () => {
    const text = caddyfile('gw-edge');
    const forwardAuth = text.indexOf('forward_auth ');
    assert.ok(forwardAuth > 0);
    for (const name of ['X-Stella-Provenance', 'Client-Cert', 'Client-Cert-Chain', 'X-Forwarded-Client-Cert']) {
      const strip = text.indexOf(`request_header -${name}\n`);
      assert.ok(strip > 0 && strip < forwardAuth, `${name} is removed before forward_auth`);
    }
  });

  it('passes the verified certificate to the stamper as RFC 9440 base64 DER and refuses an unstamped request', () => {
    const text = caddyfile('gw-edge');
    assert.match(text, /header_up Client-Cert ":\{http\.request\.tls\.client\.certificate_der_base64\}:"/);
    assert.match(text, /copy_headers X-Stella-Provenance/);
    assert.match(text, /@unstamped not header_regexp X-Stella-Provenance "\^\[a-z\]"\n\s+respond @unstamped .* 502/);
  });

  it('says in the file that Caddy 2.6 applies no CRL to client certificates, and who does', () => {
    assert.match(caddyfile('gw-edge'), /Caddy 2\.6 client_auth cannot check a CRL: \S+crl\.pem is applied by this hop's\n\t# forward-auth stamper/);
    assert.match(caddyfile('inner'), /GAP: Caddy 2\.6 client_auth cannot check a CRL and this opaque hop has no stamper/);
  });

  it('admits the scanners at the edge and only the previous hop further in', () => {
    assert.match(caddyfile('gw-edge'), /vars_regexp \{http\.request\.tls\.client\.subject\} "\^CN=\(scanner-01\)\(,\|\$\)"/);
    assert.match(caddyfile('inner'), /vars_regexp \{http\.request\.tls\.client\.subject\} "\^CN=\(gw-edge\)\(,\|\$\)"/);
    // docs/gateways/caddy.md "Peers": the whole SPIFFE ID (role and name) from the URI SAN as well.
    assert.match(caddyfile('gw-edge'), /vars_regexp \{http\.request\.tls\.client\.san\.uris\} "\^\[\[\]\(spiffe:\/\/stella\[\.\]local\/scanner\/scanner-01\)\[\]\]\$"/);
    assert.match(caddyfile('inner'), /vars_regexp \{http\.request\.tls\.client\.san\.uris\} "\^\[\[\]\(spiffe:\/\/stella\[\.\]local\/gateway\/gw-edge\)\[\]\]\$"/);
  });

  it('lets an opaque hop forward X-Stella-Provenance untouched', () => {
    const text = caddyfile('inner');
    assert.doesNotMatch(text, /forward_auth|request_header -X-Stella-Provenance/);
  });

  it('is accepted by caddy validate, for the stamping edge and the opaque hop', async () => {
    requireProgram('caddy');
    const { topology, outDir } = deployment;
    await writeRenderedFiles(outDir, topology.hops.flatMap((hop) => renderCaddyHop(topology, hop, { outDir })));
    for (const hop of topology.hops) {
      const check = caddyProgram.check(join(outDir, hop.id), hop);
      const result = await run(check.command, [...check.args]).catch((error: { stderr?: string; stdout?: string }) => ({ stdout: `FAILED ${error.stdout ?? ''}`, stderr: error.stderr ?? '' }));
      assert.match(result.stdout + result.stderr, /Valid configuration/, `${hop.id}: ${result.stdout}${result.stderr}`);
    }
  });
});
