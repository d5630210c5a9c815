import { cliInvocation } from '../../../src/io/process.js';
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseTopology } from '../../../src/topology/load.js';
import { resolveTopology } from '../../../src/topology/resolve.js';
import { checkEnvoyConfig } from '../../../src/gateways/envoy/check.js';
import { envoyProgram, renderEnvoyHop } from '../../../src/gateways/envoy/index.js';
import { tempDir } from '../../support/tmp.js';

const topology = resolveTopology(parseTopology(readFileSync('examples/topology-envoy.yaml', 'utf8')), '/srv/stella');
const edge = topology.hops[0]!;
const rendered = renderEnvoyHop(topology, edge, { outDir: '/srv/out' })[0]!.contents;

type Tree = Record<string, unknown>;
/** A deep copy of the rendered bootstrap with one change applied. */
function broken(change: (b: Tree & { static_resources: { listeners: Tree[]; clusters: Tree[] } }) => void): Tree {
  const copy = parse(rendered) as Tree & { static_resources: { listeners: Tree[]; clusters: Tree[] } };
  change(copy);
  return copy;
}
const HCM = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const hcmOf = (b: { static_resources: { listeners: Tree[] } }): Tree =>
  ((b.static_resources.listeners[0]!.filter_chains as Tree[])[0]!.filters as { typed_config: Tree }[])[0]!.typed_config;

describe('checkEnvoyConfig', () => {
  it('accepts the rendered bootstrap of the Envoy example', () => {
    assert.deepEqual(checkEnvoyConfig(rendered), []);
  });

  it('accepts lowerCamelCase field names as proto3 JSON does', () => {
    assert.deepEqual(checkEnvoyConfig({ node: { id: 'x' }, staticResources: { clusters: [{ name: 'c', connectTimeout: '1s' }] } }), []);
  });

  it('reports an unknown field with its path and message type', () => {
    const problems = checkEnvoyConfig(broken((b) => (b.static_resources.clusters[0]!.conect_timeout = '5s')));
    assert.deepEqual(problems, [{ path: 'static_resources.clusters[0].conect_timeout', message: 'unknown field of envoy.config.cluster.v3.Cluster' }]);
  });

  it('reports an unknown field inside a typed_config it resolved through @type', () => {
    const problems = checkEnvoyConfig(broken((b) => (hcmOf(b).forward_client_cert = 'SANITIZE')));
    assert.deepEqual(problems, [{ path: `${HCM}.forward_client_cert`, message: 'unknown field of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager' }]);
  });

  it('reports a wrong scalar type', () => {
    const problems = checkEnvoyConfig(broken((b) => (hcmOf(b).normalize_path = 'no')));
    assert.deepEqual(problems, [{ path: `${HCM}.normalize_path`, message: 'must be true or false (bool)' }]);
    const port = checkEnvoyConfig({ static_resources: { listeners: [{ name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: -1 } }, default_filter_chain: {} }] } });
    assert.deepEqual(port, [{ path: 'static_resources.listeners[0].address.socket_address.port_value', message: 'must be an unsigned 32-bit integer (uint32)' }]);
  });

  it('reports a bad enum name and lists the allowed ones', () => {
    const problems = checkEnvoyConfig(broken((b) => (hcmOf(b).forward_client_cert_details = 'SANITISE_SET')));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, `${HCM}.forward_client_cert_details`);
    assert.match(problems[0]!.message, /^bad enum value "SANITISE_SET" of envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager\.ForwardClientCertDetails \(one of: SANITIZE, FORWARD_ONLY, APPEND_FORWARD, SANITIZE_SET, ALWAYS_FORWARD_ONLY\)$/);
  });

  it('reports an @type that names no known message', () => {
    const problems = checkEnvoyConfig(broken((b) => {
      (hcmOf(b).http_filters as { typed_config: Tree }[])[2]!.typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr';
    }));
    assert.deepEqual(problems, [
      { path: `${HCM}.http_filters[2].typed_config.@type`, message: 'unknown type type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr' },
      { path: `${HCM}.http_filters[2]`, message: 'the last HTTP filter must be the terminal router (envoy.extensions.filters.http.router.v3.Router)' },
    ]);
  });

  it('checks the JSON forms of well-known types: Duration strings and UInt32Value numbers', () => {
    const problems = checkEnvoyConfig(broken((b) => {
      b.static_resources.clusters[0]!.connect_timeout = 5;
      (hcmOf(b).http_filters as { typed_config: Tree }[])[1]!.typed_config.max_request_bytes = 'lots';
    }));
    assert.deepEqual(problems, [
      { path: `${HCM}.http_filters[1].typed_config.max_request_bytes`, message: 'must be an unsigned 32-bit integer (uint32)' },
      { path: 'static_resources.clusters[0].connect_timeout', message: 'must be a duration string such as "5s" or "0.250s"' },
    ]);
  });

  it('reports two members of one oneof', () => {
    let last = -1;
    const problems = checkEnvoyConfig(broken((b) => {
      const routes = (((hcmOf(b).route_config as Tree).virtual_hosts as Tree[])[0]!.routes as Tree[]);
      last = routes.length - 1;
      (routes[last]!.match as Tree).path = '/x';
    }));
    assert.deepEqual(problems, [{ path: `${HCM}.route_config.virtual_hosts[0].routes[${last}].match.path`, message: 'prefix and path are both set, but only one of path_specifier may be' }]);
  });

  it('reports fields and oneofs the API marks as required', () => {
    const problems = checkEnvoyConfig({ static_resources: { clusters: [{ name: 'c', transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute' } } }] } });
    assert.deepEqual(problems, [{ path: 'static_resources.clusters[0].transport_socket.typed_config', message: 'one of disabled, check_settings is required (envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute.override)' }]);
  });

  it('reports a deprecated field, which Envoy warns about or refuses', () => {
    const problems = checkEnvoyConfig(broken((b) => {
      const authz = (hcmOf(b).http_filters as { typed_config: Tree }[])[0]!.typed_config;
      (authz.http_service as Tree).authorization_request = { allowed_headers: authz.allowed_headers };
    }));
    assert.deepEqual(problems, [
      { path: `${HCM}.http_filters[0].typed_config.http_service.authorization_request.allowed_headers`, message: 'deprecated field of envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest; use its replacement' },
    ]);
  });

  it('reports YAML that does not parse', () => {
    assert.equal(checkEnvoyConfig('a: [')[0]!.path, '');
  });
});

describe('the envoy check program', () => {
  const tmp = tempDir();
  after(tmp.remove);

  it('exits 0 for the rendered file and 1 with the path for a broken one', () => {
    const dir = join(tmp.path, 'gw-edge');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'envoy.yaml'), rendered);
    const check = envoyProgram.check(dir, edge);
    assert.equal(check.command, 'stella-gateway');
    // The installed command is this repository's CLI: run it from source.
    const cli = cliInvocation(check.args);
    assert.match(execFileSync(cli.command, cli.args, { encoding: 'utf8' }), /accepted by the Envoy v3 API schema/);
    writeFileSync(join(dir, 'envoy.yaml'), stringify(broken((b) => (b.static_resources.clusters[0]!.type = 'STATICK'))));
    assert.throws(() => execFileSync(cli.command, cli.args, { encoding: 'utf8', stdio: 'pipe' }), (e: { status: number; stderr: string }) => {
      assert.equal(e.status, 1);
      assert.match(e.stderr, /static_resources\.clusters\[0\]\.type: bad enum value "STATICK"/);
      return true;
    });
    // A v2 type URL is a problem with its path, never a stack trace.
    writeFileSync(join(dir, 'envoy.yaml'), stringify(broken((b) => (hcmOf(b)['@type'] = 'type.googleapis.com/envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager'))));
    assert.throws(() => execFileSync(cli.command, cli.args, { encoding: 'utf8', stdio: 'pipe' }), (e: { status: number; stderr: string }) => {
      assert.equal(e.status, 1);
      assert.match(e.stderr, /typed_config\.@type: envoy\.config\.filter\.network\.http_connection_manager\.v2\.HttpConnectionManager belongs to the Envoy v2 API/);
      assert.doesNotMatch(e.stderr, /\n\s+at /);
      return true;
    });
  });
});
