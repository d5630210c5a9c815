/**
 * The forward-auth renderers with provenance v2 (docs/provenance.md#part-2-version-2): Caddy,
 * Envoy and NGINX hand the stamper the incoming Signature-Input/Signature and put its complete
 * answer upstream in their place; a v1-only hop renders exactly as before.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { rendererFor } from '../../src/gateways/index.js';
import { checkEnvoyConfig } from '../../src/gateways/envoy/check.js';
import { resolveTopology, type ResolvedTopology } from '../../src/topology/resolve.js';
import { topologySchema, type HopKind, type TopologyInput } from '../../src/topology/schema.js';
import { parse as parseYaml } from 'yaml';
import { topologyHead } from '../support/topology.js';

function topology(kind: HopKind, profile: 'v1' | 'v2' | 'both'): ResolvedTopology {
  const input: TopologyInput = {
    ...topologyHead(),
    hops: [
      {
        id: 'gw-edge',
        kind,
        listen: '127.0.0.1:8443',
        stamp: {
          via: 'forward-auth',
          profile,
          stamper: { socket: './run/edge.sock' },
          keys: profile === 'v2' ? [] : [{ kid: 'e1', file: './keys/e.key' }],
          ...(profile === 'v1' ? {} : { signing: { alg: 'ed25519' as const, keys: [{ kid: 'e2', file: './keys/e.pem', publicFile: './keys/e.pub.pem' }] } }),
        },
        next: 'evidence-locker',
      },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', receiptKey: './keys/r.pem' }],
  };
  return resolveTopology(topologySchema.parse(input), '/tmp/stella-v2-render');
}

function render(kind: HopKind, profile: 'v1' | 'v2' | 'both'): string {
  const t = topology(kind, profile);
  return rendererFor(kind)(t, t.hops[0]!, { outDir: '/tmp/stella-v2-render/out' }).map((f) => f.contents).join('\n');
}

describe('forward-auth renderers with v2', () => {
  it('Caddy copies Signature-Input and Signature from the stamper (and refuses a request without them when v2-only)', () => {
    assert.match(render('caddy', 'both'), /copy_headers X-Stella-Provenance Signature-Input Signature\n/);
    const v2 = render('caddy', 'v2');
    assert.match(v2, /copy_headers Signature-Input Signature\n/);
    assert.match(v2, /@unstamped not header_regexp Signature-Input "\^\[a-z\]"/);
    assert.match(render('caddy', 'v1'), /copy_headers X-Stella-Provenance\n/);
  });

  it('Envoy sends the fields to the stamper and lets its answer replace them upstream, in a config the Envoy schema accepts', () => {
    const text = render('envoy', 'both');
    const config = parseYaml(text) as Record<string, unknown>;
    assert.deepEqual(checkEnvoyConfig(config), []);
    assert.match(text, /signature-input/);
    const json = JSON.stringify(config);
    assert.match(json, /"allowed_upstream_headers":\{"patterns":\[\{"exact":"x-stella-provenance"\},\{"exact":"signature-input"\},\{"exact":"signature"\}\]\}/);
    assert.doesNotMatch(JSON.stringify(parseYaml(render('envoy', 'v1'))), /"allowed_upstream_headers":\{"patterns":\[[^\]]*signature-input/);
  });

  it('NGINX via forward-auth sets Signature-Input and Signature from the auth subrequest\'s answer', () => {
    const text = render('nginx', 'v2');
    assert.match(text, /auth_request_set \$stella_signature_input \$upstream_http_signature_input;/);
    assert.match(text, /auth_request_set \$stella_signature \$upstream_http_signature;/);
    assert.match(text, /proxy_set_header Signature-Input \$stella_signature_input;/);
    assert.match(text, /proxy_set_header Signature \$stella_signature;/);
    assert.doesNotMatch(render('nginx', 'v1'), /stella_signature/);
  });
});
