import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseTopology } from '../../../src/topology/load.js';
import { resolveTopology } from '../../../src/topology/resolve.js';
import { checkEnvoyConfig } from '../../../src/gateways/envoy/check.js';
import { renderEnvoyHop } from '../../../src/gateways/envoy/index.js';

// Twenty-five bootstraps that a real Envoy refuses at start, each the rendered edge bootstrap with
// one change. Every one must be reported, at the path of the broken field (docs/gateways/envoy.md#what-the-check-covers).
const topology = resolveTopology(parseTopology(readFileSync('examples/topology-envoy.yaml', 'utf8')), '/srv/stella');
const rendered = renderEnvoyHop(topology, topology.hops[0]!, { outDir: '/srv/out' })[0]!.contents;

type Tree = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures edit YAML trees freely
const LISTENER = 'static_resources.listeners[0]';
const HCM = `${LISTENER}.filter_chains[0].filters[0].typed_config`;
const DOWNSTREAM_TLS = `${LISTENER}.filter_chains[0].transport_socket.typed_config`;

const hcm = (b: Tree): Tree => b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const host = (b: Tree): Tree => hcm(b).route_config.virtual_hosts[0];
const lastRoute = (b: Tree): Tree => host(b).routes.at(-1);
const filterIndex = (b: Tree, name: string): number => (hcm(b).http_filters as Tree[]).findIndex((f) => f.name === name);
const cluster = (b: Tree, name: string): Tree => (b.static_resources.clusters as Tree[]).find((c) => c.name === name)!;
const clusterIndex = (b: Tree, name: string): number => (b.static_resources.clusters as Tree[]).findIndex((c) => c.name === name);

interface Case {
  readonly name: string;
  readonly change: (b: Tree) => void;
  /** The path and message pattern of the problem it must raise (the path may depend on the tree). */
  readonly expect: (b: Tree) => { path: string; message: RegExp };
}

const cases: Case[] = [
  {
    name: 'a route to a cluster that does not exist',
    change: (b) => (lastRoute(b).route.cluster = 'nowhere'),
    expect: (b) => ({ path: `${HCM}.route_config.virtual_hosts[0].routes[${host(b).routes.length - 1}].route.cluster`, message: /refers to cluster "nowhere", which static_resources\.clusters does not define/ }),
  },
  {
    name: 'a weighted route to a cluster that does not exist',
    change: (b) => {
      delete lastRoute(b).route.cluster;
      lastRoute(b).route.weighted_clusters = { clusters: [{ name: 'next_hop', weight: 1 }, { name: 'ghost', weight: 1 }] };
    },
    expect: (b) => ({ path: `${HCM}.route_config.virtual_hosts[0].routes[${host(b).routes.length - 1}].route.weighted_clusters.clusters[1].name`, message: /refers to cluster "ghost"/ }),
  },
  {
    name: 'an ext_authz server on a cluster that does not exist',
    change: (b) => (hcm(b).http_filters[filterIndex(b, 'envoy.filters.http.ext_authz')].typed_config.http_service.server_uri.cluster = 'no-stamper'),
    expect: (b) => ({ path: `${HCM}.http_filters[${filterIndex(b, 'envoy.filters.http.ext_authz')}].typed_config.http_service.server_uri.cluster`, message: /refers to cluster "no-stamper"/ }),
  },
  {
    name: 'a TLS certificate from an SDS secret that no static secret defines',
    change: (b) => {
      const common = b.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context;
      delete common.tls_certificates;
      common.tls_certificate_sds_secret_configs = [{ name: 'edge-cert' }];
    },
    expect: () => ({ path: `${DOWNSTREAM_TLS}.common_tls_context.tls_certificate_sds_secret_configs[0].name`, message: /refers to secret "edge-cert", which static_resources\.secrets does not define/ }),
  },
  {
    name: 'two clusters of one name',
    change: (b) => (cluster(b, 'stamper').name = 'next_hop'),
    expect: (b) => ({ path: `static_resources.clusters[${clusterIndex(b, 'next_hop') === 0 ? 1 : 0}].name`, message: /duplicate cluster name "next_hop" \(first at static_resources\.clusters\[0\]\.name\)/ }),
  },
  {
    name: 'two listeners of one name',
    change: (b) => b.static_resources.listeners.push(structuredClone(b.static_resources.listeners[0])),
    expect: () => ({ path: 'static_resources.listeners[1].name', message: /duplicate listener name "gw-edge"/ }),
  },
  {
    name: 'a listener without a filter chain',
    change: (b) => delete b.static_resources.listeners[0].filter_chains,
    expect: () => ({ path: LISTENER, message: /a listener needs a filter chain/ }),
  },
  {
    name: 'an HTTP filter chain that does not end with the router',
    change: (b) => hcm(b).http_filters.reverse(),
    expect: () => ({ path: `${HCM}.http_filters[0]`, message: /the router is a terminal filter and must be the last HTTP filter/ }),
  },
  {
    name: 'one domain in two virtual hosts',
    change: (b) => hcm(b).route_config.virtual_hosts.push({ ...structuredClone(host(b)), name: 'again' }),
    expect: () => ({ path: `${HCM}.route_config.virtual_hosts[1].domains[0]`, message: /duplicate domain "\*"/ }),
  },
  {
    name: 'a listen port above 65535',
    change: (b) => (b.static_resources.listeners[0].address.socket_address.port_value = 70000),
    expect: () => ({ path: `${LISTENER}.address.socket_address.port_value`, message: /must be at most 65535 \(is 70000\)/ }),
  },
  {
    name: 'a socket address without an address',
    change: (b) => delete b.static_resources.listeners[0].address.socket_address.address,
    expect: () => ({ path: `${LISTENER}.address.socket_address.address`, message: /required: must be at least 1 character/ }),
  },
  {
    name: 'a virtual host without a name',
    change: (b) => delete host(b).name,
    expect: () => ({ path: `${HCM}.route_config.virtual_hosts[0].name`, message: /required: must be at least 1 character/ }),
  },
  {
    name: 'a virtual host without domains',
    change: (b) => (host(b).domains = []),
    expect: () => ({ path: `${HCM}.route_config.virtual_hosts[0].domains`, message: /must have at least 1 item/ }),
  },
  {
    name: 'an HTTP connection manager without a stat prefix',
    change: (b) => delete hcm(b).stat_prefix,
    expect: () => ({ path: `${HCM}.stat_prefix`, message: /required: must be at least 1 character/ }),
  },
  {
    name: 'a cluster without a name',
    change: (b) => (cluster(b, 'stamper').name = ''),
    expect: (b) => ({ path: `static_resources.clusters[${clusterIndex(b, '')}].name`, message: /required: must be at least 1 character/ }),
  },
  {
    name: 'max_request_headers_kb of 0',
    change: (b) => (hcm(b).max_request_headers_kb = 0),
    expect: () => ({ path: `${HCM}.max_request_headers_kb`, message: /must be greater than 0 \(is 0\)/ }),
  },
  {
    name: 'max_request_headers_kb above 8192',
    change: (b) => (hcm(b).max_request_headers_kb = 9000),
    expect: () => ({ path: `${HCM}.max_request_headers_kb`, message: /must be at most 8192 \(is 9000\)/ }),
  },
  {
    name: 'a buffer filter with max_request_bytes 0',
    change: (b) => (hcm(b).http_filters[filterIndex(b, 'envoy.filters.http.buffer')].typed_config.max_request_bytes = 0),
    expect: (b) => ({ path: `${HCM}.http_filters[${filterIndex(b, 'envoy.filters.http.buffer')}].typed_config.max_request_bytes`, message: /must be greater than 0/ }),
  },
  {
    name: 'a DNS refresh rate below a millisecond',
    change: (b) => (cluster(b, 'next_hop').dns_refresh_rate = '0.0005s'),
    expect: (b) => ({ path: `static_resources.clusters[${clusterIndex(b, 'next_hop')}].dns_refresh_rate`, message: /must be greater than 0\.001s/ }),
  },
  {
    name: 'a stats flush interval of five minutes or more',
    change: (b) => (b.stats_flush_interval = '300s'),
    expect: () => ({ path: 'stats_flush_interval', message: /must be less than 300s/ }),
  },
  {
    name: 'a header to remove that is empty',
    change: (b) => hcm(b).route_config.request_headers_to_remove.push(''),
    expect: (b) => ({ path: `${HCM}.route_config.request_headers_to_remove[${hcm(b).route_config.request_headers_to_remove.length - 1}]`, message: /must be at least 1 character|header name/ }),
  },
  {
    name: 'an HTTP filter without a name',
    change: (b) => delete hcm(b).http_filters[0].name,
    expect: () => ({ path: `${HCM}.http_filters[0].name`, message: /required: must be at least 1 character/ }),
  },
  {
    name: 'a filter config of the removed v2 API',
    change: (b) => (b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config['@type'] = 'type.googleapis.com/envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager'),
    expect: () => ({ path: `${HCM}.@type`, message: /belongs to the Envoy v2 API, which Envoy no longer loads; use its v3 type/ }),
  },
  {
    name: 'a route timeout that is not a duration',
    change: (b) => (lastRoute(b).route.timeout = '87'),
    expect: (b) => ({ path: `${HCM}.route_config.virtual_hosts[0].routes[${host(b).routes.length - 1}].route.timeout`, message: /must be a duration string/ }),
  },
  {
    name: 'a TLS version that does not exist',
    change: (b) => (b.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version = 'TLSv1_4'),
    expect: () => ({ path: `${DOWNSTREAM_TLS}.common_tls_context.tls_params.tls_minimum_protocol_version`, message: /bad enum value "TLSv1_4"/ }),
  },
];

describe('checkEnvoyConfig on bootstraps Envoy refuses at start', () => {
  it('holds twenty-five distinct cases', () => {
    assert.equal(cases.length, 25);
    assert.equal(new Set(cases.map((c) => c.name)).size, 25);
  });

  for (const c of cases) {
    it(`reports ${c.name}, at its path`, () => {
      const tree = parse(rendered) as Tree;
      c.change(tree);
      const problems = checkEnvoyConfig(tree);
      const { path, message } = c.expect(tree);
      assert.ok(
        problems.some((p) => p.path === path && message.test(p.message)),
        `expected ${path}: ${message}, got ${JSON.stringify(problems, null, 1)}`,
      );
    });
  }

  it('reports a v2 type URL as a problem a second time too, and still checks the rest of the config', () => {
    for (let i = 0; i < 2; i++) {
      const problems = checkEnvoyConfig({
        static_resources: {
          clusters: [
            { name: 'a', transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/envoy.api.v2.auth.UpstreamTlsContext' } } },
            { name: 'b', connect_timeout: 'soon', transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: 'x' } } },
          ],
        },
      });
      assert.deepEqual(problems, [
        { path: 'static_resources.clusters[0].transport_socket.typed_config.@type', message: 'envoy.api.v2.auth.UpstreamTlsContext belongs to the Envoy v2 API, which Envoy no longer loads; use its v3 type' },
        { path: 'static_resources.clusters[1].connect_timeout', message: 'must be a duration string such as "5s" or "0.250s"' },
      ]);
    }
  });

  it('still accepts the rendered bootstrap of every Envoy hop', () => {
    assert.deepEqual(checkEnvoyConfig(rendered), []);
  });
});
