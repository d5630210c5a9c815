import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseTopology } from '../../../src/topology/load.js';
import { resolveTopology, type ResolvedTopology } from '../../../src/topology/resolve.js';
import { checkEnvoyConfig } from '../../../src/gateways/envoy/check.js';
import { envoyProgram, renderEnvoyHop } from '../../../src/gateways/envoy/index.js';

const ENVOY_EXAMPLE = readFileSync('examples/topology-envoy.yaml', 'utf8');

/** Resolves a topology text as if the file were in /srv/stella. */
const resolve = (text: string): ResolvedTopology => resolveTopology(parseTopology(text), '/srv/stella');

/** Reads a YAML path like `a.b[0].c` out of the rendered bootstrap. */
type Tree = Record<string, unknown>;
function render(topology: ResolvedTopology, hopId: string): Tree {
  const hop = topology.hops.find((h) => h.id === hopId)!;
  const files = renderEnvoyHop(topology, hop, { outDir: '/srv/out' });
  assert.deepEqual(files.map((f) => f.path), [`${hopId}/envoy.yaml`]);
  return parse(files[0]!.contents) as Tree;
}
const listener = (b: Tree): Tree => (b.static_resources as { listeners: Tree[] }).listeners[0]!;
const hcm = (b: Tree): Tree => ((listener(b).filter_chains as Tree[])[0]!.filters as { typed_config: Tree }[])[0]!.typed_config;
const downstreamTls = (b: Tree): Tree => (((listener(b).filter_chains as Tree[])[0]!.transport_socket as Tree).typed_config as Tree);
const clusters = (b: Tree): Tree[] => (b.static_resources as { clusters: Tree[] }).clusters;
const filterNames = (b: Tree): string[] => (hcm(b).http_filters as { name: string }[]).map((f) => f.name);

/** The example with the internal gateway turned into an Envoy that stamps seq 2 through its stamper. */
const internalEnvoy = ENVOY_EXAMPLE.replace(
  /kind: haproxy\n(\s+)listen: 127\.0\.0\.1:8445\n((?:\s+#.*\n|\s+serverName: .*\n)*)\s+stamp:\n\s+via: native/,
  'kind: envoy\n$1listen: 127.0.0.1:8445\n$2$1stamp:\n$1  via: forward-auth\n$1  stamper: { listen: 127.0.0.1:7102 }',
);

describe('renderEnvoyHop at the edge', () => {
  const topology = resolve(`${ENVOY_EXAMPLE}\nheaders: { strip: [X-Debug-User] }\n`);
  const bootstrap = render(topology, 'gw-edge');

  it('requires a client certificate from the CA bundle with the CRL, admitting the scanners only', () => {
    const tls = downstreamTls(bootstrap);
    assert.equal(tls.require_client_certificate, true);
    // docs/gateways/envoy.md "Sessions": neither tickets nor the cache on a client-authenticated listener.
    assert.equal(tls.disable_stateless_session_resumption, true);
    assert.equal(tls.disable_stateful_session_resumption, true);
    const validation = (tls.common_tls_context as Tree).validation_context as Tree;
    assert.deepEqual(validation.trusted_ca, { filename: '/srv/stella/pki/ca-bundle.pem' });
    assert.deepEqual(validation.crl, { filename: '/srv/stella/pki/crl.pem' });
    assert.deepEqual(validation.match_typed_subject_alt_names, [{ san_type: 'URI', matcher: { exact: 'spiffe://stella.local/scanner/scanner-01' } }]);
  });

  it('removes the rule-1 headers and headers.strip before any filter runs', () => {
    const early = (hcm(bootstrap).early_header_mutation_extensions as { typed_config: { mutations: { remove: string }[] } }[])[0]!;
    assert.deepEqual(early.typed_config.mutations.map((m) => m.remove), ['x-stella-provenance', 'client-cert', 'client-cert-chain', 'x-debug-user', 'x-request-id']);
    // The client's X-Forwarded-Client-Cert is dropped by SANITIZE_SET, which then sets the verified one.
    assert.equal(hcm(bootstrap).forward_client_cert_details, 'SANITIZE_SET');
    assert.deepEqual(hcm(bootstrap).set_current_client_cert_details, { cert: true, uri: true, subject: true });
  });

  it('buffers bodies up to limits.maxBodyBytes, and up to limits.maxArtifactBytes on the artifact upload route only', () => {
    const custom = resolve(ENVOY_EXAMPLE.replace(/(\n {2}- id: gw-edge\n)/, '$1    limits: { maxBodyBytes: 65536, maxArtifactBytes: 131072 }\n'));
    const b = render(custom, 'gw-edge');
    const buffer = (hcm(b).http_filters as { name: string; typed_config: Tree }[]).find((f) => f.name === 'envoy.filters.http.buffer');
    assert.equal(buffer?.typed_config.max_request_bytes, 65536);
    const routes = (((hcm(b).route_config as Tree).virtual_hosts as Tree[])[0]!.routes as Tree[]);
    const artifact = routes.find((r) => (r.match as Tree).safe_regex !== undefined);
    assert.deepEqual(artifact?.match, { safe_regex: { regex: '^/api/v1/artifacts/[0-9a-f]{64}$' } });
    assert.deepEqual((artifact?.typed_per_filter_config as Tree)['envoy.filters.http.buffer'], {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute',
      buffer: { max_request_bytes: 131072 },
    });
    // Before the catch-all, so it wins; the catch-all keeps the hop-wide filter limit.
    assert.ok(routes.indexOf(artifact!) < routes.findIndex((r) => (r.match as Tree).prefix === '/'));
    assert.deepEqual(checkEnvoyConfig(b), []);
  });

  it('never removes X-Stella-Provenance at the router, where it would delete the stamp', () => {
    const removed = (hcm(bootstrap).route_config as Tree).request_headers_to_remove as string[];
    assert.ok(removed.includes('x-forwarded-client-cert'));
    assert.ok(!removed.includes('x-stella-provenance'));
  });

  it('stamps through ext_authz at the stamper on its Unix socket (a pipe address), failing closed', () => {
    assert.deepEqual(filterNames(bootstrap), ['envoy.filters.http.ext_authz', 'envoy.filters.http.buffer', 'envoy.filters.http.router']);
    const authz = (hcm(bootstrap).http_filters as { typed_config: Tree }[])[0]!.typed_config;
    assert.equal(authz.failure_mode_allow, false);
    const service = authz.http_service as Tree;
    assert.equal(service.path_prefix, '/stamp');
    assert.deepEqual((service.server_uri as Tree).uri, 'http://stamper');
    assert.deepEqual(((service.authorization_response as Tree).allowed_upstream_headers as Tree).patterns, [{ exact: 'x-stella-provenance' }]);
    const stamper = clusters(bootstrap).find((c) => c.name === 'stamper')!;
    assert.deepEqual(stamper.load_assignment, {
      cluster_name: 'stamper',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/srv/stella/run/gw-edge/stamper.sock' } } } }] }],
    });
    assert.equal(stamper.transport_socket, undefined);
    // Pooled, and let go by Envoy before the stamper's 75 s keep-alive closes it.
    const options = (stamper.typed_extension_protocol_options as Record<string, Tree>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!;
    assert.deepEqual(options.common_http_protocol_options, { idle_timeout: '60s' });
    assert.deepEqual(checkEnvoyConfig(bootstrap), []);
  });

  it('answers its own health path (GET and HEAD; 405 otherwise) and passes every other path on', () => {
    const routes = (((hcm(bootstrap).route_config as Tree).virtual_hosts as Tree[])[0]!.routes as Tree[]);
    assert.deepEqual(routes[0]!.match, { path: '/healthz/hop/gw-edge', headers: [{ name: ':method', string_match: { safe_regex: { regex: '^(GET|HEAD)$' } } }] });
    assert.deepEqual(JSON.parse(((routes[0]!.direct_response as Tree).body as { inline_string: string }).inline_string), { hop: 'gw-edge', kind: 'envoy', status: 'live' });
    assert.deepEqual(routes[1]!.match, { path: '/healthz/hop/gw-edge' });
    assert.deepEqual(routes[1]!.direct_response, { status: 405 });
    assert.deepEqual(routes.at(-1), { match: { prefix: '/' }, route: { cluster: 'next_hop', timeout: '87s' } });
  });

  it('re-originates mTLS to the next hop with its SNI, its identity and no session reuse', () => {
    const upstream = (clusters(bootstrap)[0]!.transport_socket as { typed_config: Tree }).typed_config;
    assert.equal(upstream.sni, 'waf');
    assert.equal(upstream.max_session_keys, 0);
    const context = upstream.common_tls_context as Tree;
    assert.deepEqual(context.tls_certificates, [{ certificate_chain: { filename: '/srv/stella/pki/issued/gateway/gw-edge/chain.pem' }, private_key: { filename: '/srv/stella/pki/issued/gateway/gw-edge/key.pem' } }]);
    assert.deepEqual((context.validation_context as Tree).match_typed_subject_alt_names, [{ san_type: 'URI', matcher: { exact: 'spiffe://stella.local/gateway/waf' } }]);
  });
});

describe('renderEnvoyHop behind other hops', () => {
  it('makes a request id only when none arrived, keeps the edge\'s, and hands it to the stamper (docs/gateways/envoy.md#request-id)', () => {
    const edge = render(resolve(internalEnvoy), 'gw-edge');
    const inner = render(resolve(internalEnvoy), 'gw-internal');
    for (const bootstrap of [edge, inner]) {
      assert.equal(hcm(bootstrap).generate_request_id, true);
      const authz = (hcm(bootstrap).http_filters as { name: string; typed_config: { allowed_headers: { patterns: { exact: string }[] } } }[]).find((f) => f.name === 'envoy.filters.http.ext_authz')!;
      assert.ok(authz.typed_config.allowed_headers.patterns.some((p) => p.exact === 'x-request-id'));
    }
    const removedAt = (b: Tree): string[] => ((hcm(b).early_header_mutation_extensions as { typed_config: { mutations: { remove: string }[] } }[] | undefined) ?? []).flatMap((e) => e.typed_config.mutations.map((m) => m.remove));
    assert.ok(removedAt(edge).includes('x-request-id'), 'the edge drops the client copy');
    assert.ok(!removedAt(inner).includes('x-request-id'), 'behind the edge the incoming id is kept');
  });

  it('admits only the hop before it, keeps the incoming provenance and forwards to the service', () => {
    const bootstrap = render(resolve(internalEnvoy), 'gw-internal');
    const validation = (downstreamTls(bootstrap).common_tls_context as Tree).validation_context as Tree;
    assert.deepEqual(validation.match_typed_subject_alt_names, [{ san_type: 'URI', matcher: { exact: 'spiffe://stella.local/gateway/waf' } }]);
    assert.equal(hcm(bootstrap).early_header_mutation_extensions, undefined);
    const upstream = (clusters(bootstrap)[0]!.transport_socket as { typed_config: Tree }).typed_config;
    assert.equal(upstream.sni, 'evidence-locker');
    assert.match(JSON.stringify(upstream), /spiffe:\/\/stella\.local\/service\/evidence-locker/);
  });

  it('reaches a TCP stamper over mTLS only, presenting its own certificate and expecting its own hop', () => {
    const bootstrap = render(resolve(internalEnvoy), 'gw-internal');
    const authz = (hcm(bootstrap).http_filters as { typed_config: Tree }[])[0]!.typed_config;
    assert.equal(((authz.http_service as Tree).server_uri as Tree).uri, 'https://127.0.0.1:7102');
    const stamper = clusters(bootstrap).find((c) => c.name === 'stamper')!;
    const tls = (stamper.transport_socket as { typed_config: Tree }).typed_config;
    assert.equal(tls.sni, 'localhost', "the hop's own serverName: the stamper presents the hop's certificate");
    const context = tls.common_tls_context as Tree;
    assert.deepEqual(context.tls_certificates, [{ certificate_chain: { filename: '/srv/stella/pki/issued/gateway/gw-internal/chain.pem' }, private_key: { filename: '/srv/stella/pki/issued/gateway/gw-internal/key.pem' } }]);
    assert.deepEqual((context.validation_context as Tree).match_typed_subject_alt_names, [{ san_type: 'URI', matcher: { exact: 'spiffe://stella.local/gateway/gw-internal' } }]);
    assert.deepEqual(checkEnvoyConfig(bootstrap), []);
  });

  it('renders an opaque Envoy hop without ext_authz or a stamper', () => {
    const opaque = internalEnvoy.replace(/stamp:\n\s+via: forward-auth\n\s+stamper: \{ listen: 127\.0\.0\.1:7102 \}\n\s+keys:\n\s+- \{ kid: internal-2026-11, file: \.\/keys\/gw-internal\.key \}/, 'stamp: false');
    const bootstrap = render(resolve(opaque), 'gw-internal');
    assert.deepEqual(filterNames(bootstrap), ['envoy.filters.http.buffer', 'envoy.filters.http.router']);
    assert.equal(hcm(bootstrap).forward_client_cert_details, 'SANITIZE');
    assert.deepEqual(clusters(bootstrap).map((c) => c.name), ['next_hop']);
  });

  it('refuses a hop of another kind', () => {
    const topology = resolve(ENVOY_EXAMPLE);
    assert.throws(() => renderEnvoyHop(topology, topology.hops[1]!, { outDir: '/o' }), { name: 'TypeError', message: 'renderEnvoyHop: hop waf is of kind apache-modsecurity' });
  });
});

describe('envoyProgram', () => {
  it('checks with stella-gateway gateway check-envoy and runs the real envoy binary', () => {
    const hop = resolve(ENVOY_EXAMPLE).hops[0]!;
    const check = envoyProgram.check('/srv/out/gw-edge', hop);
    assert.deepEqual([check.command, ...check.args], ['stella-gateway', 'gateway', 'check-envoy', '/srv/out/gw-edge/envoy.yaml']);
    assert.deepEqual(envoyProgram.run('/srv/out/gw-edge', hop).args.slice(0, 2), ['-c', '/srv/out/gw-edge/envoy.yaml']);
  });
});
