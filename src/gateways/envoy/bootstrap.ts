/**
 * The Envoy v3 static bootstrap of one hop (docs/gateways/README.md, docs/services.md#health-and-metrics; docs/CONVENTIONS.md), as a plain object
 * that `index.ts` writes as YAML. Every block is explained in docs/gateways/envoy.md.
 * Pure: builds data from the resolved topology; touches no file.
 */
import { isIP } from 'node:net';
import { parseHostPort, unbracketHost, WIRE_HEADERS as W } from '../../conventions/index.js';
import type { ResolvedHop, ResolvedTopology } from '../../topology/resolve.js';
import { ARTIFACT_UPLOAD_PATH_PATTERN, hopBodyLimits } from '../hop-facts.js';
import { spiffeId } from '../../topology/identity.js';
import { hopTimeouts } from '../../topology/timeouts.js';
import { admittedPeerSpiffeIds, isEdge, nextAddresses, nextTarget, RULE_ONE_HEADERS, stamperEndpoint, type StamperEndpoint } from '../chain.js';
import { STAMPER_PATH } from '../../provenance/record.js';
import { hopHealthPath } from '../types.js';

/** `@type` URLs of the typed configs used below (resolved against the API by `check.ts`). */
const T = {
  downstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  upstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  extAuthz: 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  extAuthzPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
  buffer: 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer',
  bufferPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  earlyMutation: 'type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation',
  stdoutLog: 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
} as const;

/** Names of the two clusters: the next hop (mTLS) and the hop's own stamper (Unix socket, or mTLS). */
export const NEXT_CLUSTER = 'next_hop';
export const STAMPER_CLUSTER = 'stamper';
/** The stamper is on loopback and answers from memory: a slow stamper is a broken one. */
export const STAMPER_TIMEOUT = '2s';
/** Idle connections to the stamper are dropped by Envoy before the stamper's own 75 s keep-alive. */
export const STAMPER_IDLE_TIMEOUT = '60s';

/** Headers the stamper reads (docs/CONVENTIONS.md "The stamper contract") and the request id it logs, lower-case as Envoy sees them. */
export const STAMPER_REQUEST_HEADERS = [W.scanId, W.contentDigest, W.provenance, W.signatureInput, W.signature, W.forwardedClientCert, W.requestId] as const;

type Json = Record<string, unknown>;

/** A `SocketAddress` for `host:port`; IPv6 brackets dropped. */
function socketAddress(listen: string): Json {
  const { host, port } = parseHostPort(listen);
  return { socket_address: { address: host, port_value: port } };
}

/**
 * An exact SPIFFE URI SAN matcher (docs/topology.md#identities). Envoy matches SANs, not CNs; the SPIFFE ID carries the
 * role and the name (= CN, docs/operations/certificates.md#roles), so it pins both.
 */
function uriSan(id: string): Json {
  return { san_type: 'URI', matcher: { exact: id } };
}

/** Builds the bootstrap of one Envoy hop. */
export function envoyBootstrap(topology: ResolvedTopology, hop: ResolvedHop): Json {
  const edge = isEdge(topology, hop);
  const next = nextTarget(hop);
  const nextRole = hop.nextTarget.type === 'hop' ? 'gateway' : 'service';
  const stamp = hop.stamp === false ? null : hop.stamp;
  const stamper = stamperEndpoint(hop);
  const { maxBodyBytes, maxArtifactBytes } = hopBodyLimits(hop);
  // docs/gateways/README.md#timeouts
  const timeouts = hopTimeouts(hop);
  const timeout = `${timeouts.upstreamSeconds}s`;
  const health = JSON.stringify({ hop: hop.id, kind: hop.kind, status: 'live' });
  // A request whose connection to one replica failed goes to another (nothing of it was sent).
  const retry = nextAddresses(hop).length > 1 ? { retry_policy: { retry_on: 'connect-failure', num_retries: 2 } } : {};

  // docs/provenance.md#rules-for-every-hop, rule 1, "before doing anything else": removed before routing and before any filter,
  // so neither ext_authz nor the stamper ever sees a client's copy. Later hops keep the incoming
  // X-Stella-Provenance (their stamper chains to it) and let ext_authz replace it.
  // X-Forwarded-Client-Cert is left to forward_client_cert_details (SANITIZE*), which drops the
  // client's copy itself: the API does not pin whether early mutations run before or after Envoy
  // sets XFCC, and removing the verified one would blind the stamper.
  // docs/gateways/envoy.md#request-id: the edge drops the client's X-Request-Id too, so Envoy
  // generates its own (generate_request_id); a hop behind it keeps the one that arrived.
  const earlyRemove = edge
    ? [...RULE_ONE_HEADERS, ...topology.headers.strip, 'x-request-id'].map((h) => h.toLowerCase()).filter((h) => h !== 'x-forwarded-client-cert')
    : [];

  const httpFilters: Json[] = [];
  if (stamp) {
    if (!stamper) throw new TypeError(`envoyBootstrap: hop ${hop.id} stamps via ${stamp.via}; Envoy needs a forward-auth stamper`);
    httpFilters.push({
      name: 'envoy.filters.http.ext_authz',
      typed_config: {
        '@type': T.extAuthz,
        transport_api_version: 'V3',
        // No record, no request (docs/provenance.md): an unreachable stamper must not let requests through.
        failure_mode_allow: false,
        status_on_error: { code: 'ServiceUnavailable' },
        // What the stamper reads (CONVENTIONS); Host, Method and Path are always sent.
        allowed_headers: { patterns: STAMPER_REQUEST_HEADERS.map((h) => ({ exact: h })) },
        http_service: {
          server_uri: { uri: stamper.kind === 'unix' ? 'http://stamper' : `https://${stamper.listen}`, cluster: STAMPER_CLUSTER, timeout: STAMPER_TIMEOUT },
          path_prefix: STAMPER_PATH,
          // "Coexistent headers will be overridden": the stamper's value replaces the incoming one.
          // v2: Signature-Input and Signature come back complete too (docs/provenance.md#part-2-version-2).
          authorization_response: { allowed_upstream_headers: { patterns: [{ exact: W.provenance }, ...(stamp.profile === 'v1' ? [] : [{ exact: W.signatureInput }, { exact: W.signature }])] } },
        },
      },
    });
  }
  httpFilters.push(
    { name: 'envoy.filters.http.buffer', typed_config: { '@type': T.buffer, max_request_bytes: maxBodyBytes } },
    { name: 'envoy.filters.http.router', typed_config: { '@type': T.router } },
  );

  const hcm: Json = {
    '@type': T.hcm,
    stat_prefix: hop.id.replace(/[.-]/g, '_'),
    codec_type: 'AUTO',
    // docs/provenance.md#rules-for-every-hop, rule 2: hops do not rewrite the path the MAC covers.
    normalize_path: false,
    merge_slashes: false,
    path_with_escaped_slashes_action: 'KEEP_UNCHANGED',
    // The stamper reads the verified client certificate from XFCC (docs/CONVENTIONS.md); SANITIZE*
    // drops any client-sent XFCC first.
    forward_client_cert_details: stamp ? 'SANITIZE_SET' : 'SANITIZE',
    ...(stamp ? { set_current_client_cert_details: { cert: true, uri: true, subject: true } } : {}),
    // Made when absent, kept when present (the edge removed the client's); the stdout access log's
    // default format prints it ("%REQ(X-REQUEST-ID)%").
    generate_request_id: true,
    request_headers_timeout: '10s',
    stream_idle_timeout: '300s',
    common_http_protocol_options: { idle_timeout: '60s', headers_with_underscores_action: 'REJECT_REQUEST' },
    ...(earlyRemove.length > 0
      ? {
          early_header_mutation_extensions: [
            {
              name: 'envoy.http.early_header_mutation.header_mutation',
              typed_config: { '@type': T.earlyMutation, mutations: earlyRemove.map((remove) => ({ remove })) },
            },
          ],
        }
      : {}),
    access_log: [{ name: 'envoy.access_loggers.stdout', typed_config: { '@type': T.stdoutLog } }],
    route_config: {
      name: hop.id,
      // Applied by the router, i.e. after ext_authz read them: certificate headers never travel on.
      request_headers_to_remove: ['x-forwarded-client-cert', 'client-cert', 'client-cert-chain', 'x-stella-client-cert'],
      virtual_hosts: [
        {
          name: hop.id,
          domains: ['*'],
          routes: [
            {
              // docs/services.md#health-and-metrics: the hop answers its own liveness (GET, HEAD); no stamping for it.
              match: { path: hopHealthPath(hop.id), headers: [{ name: ':method', string_match: { safe_regex: { regex: '^(GET|HEAD)$' } } }] },
              direct_response: { status: 200, body: { inline_string: health } },
              response_headers_to_add: [{ header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
              ...(stamp ? { typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': T.extAuthzPerRoute, disabled: true } } } : {}),
            },
            {
              // Any other method on the health path: 405, as on every gateway kind.
              match: { path: hopHealthPath(hop.id) },
              direct_response: { status: 405 },
              ...(stamp ? { typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': T.extAuthzPerRoute, disabled: true } } } : {}),
            },
            {
              // The artifact upload path has its own body limit (docs/services.md#size).
              match: { safe_regex: { regex: ARTIFACT_UPLOAD_PATH_PATTERN } },
              route: { cluster: NEXT_CLUSTER, timeout, ...retry },
              typed_per_filter_config: { 'envoy.filters.http.buffer': { '@type': T.bufferPerRoute, buffer: { max_request_bytes: maxArtifactBytes } } },
            },
            // Every other path, /healthz/* included, goes on to the next hop like any request.
            { match: { prefix: '/' }, route: { cluster: NEXT_CLUSTER, timeout, ...retry } },
          ],
        },
      ],
    },
    http_filters: httpFilters,
  };

  const downstreamTls: Json = {
    '@type': T.downstreamTls,
    require_client_certificate: true,
    // docs/gateways/envoy.md: no resumption on a client-authenticated listener, so a session can
    // never carry a certificate past its notAfter or its revocation (tickets and the cache alike).
    disable_stateless_session_resumption: true,
    disable_stateful_session_resumption: true,
    common_tls_context: {
      tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
      tls_certificates: [{ certificate_chain: { filename: hop.tls.chain }, private_key: { filename: hop.tls.key } }],
      validation_context: {
        trusted_ca: { filename: topology.pki.caBundle },
        crl: { filename: topology.pki.crl },
        // docs/CONVENTIONS.md: crl.pem holds the CRLs of every CA; check the whole chain.
        only_verify_leaf_cert_crl: false,
        // docs/gateways/envoy.md: the edge admits its scanners' scanner-role IDs, an inner hop the
        // gateway-role ID of the hop before it; a certificate of another role never matches.
        match_typed_subject_alt_names: admittedPeerSpiffeIds(topology, hop).map(uriSan),
      },
      alpn_protocols: ['http/1.1'],
    },
  };

  const addresses = nextAddresses(hop);
  const replicated = addresses.length > 1;
  const nextCluster: Json = {
    name: NEXT_CLUSTER,
    type: isIP(unbracketHost(next.host)) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: `${timeouts.connectSeconds}s`,
    load_assignment: {
      cluster_name: NEXT_CLUSTER,
      endpoints: [{ lb_endpoints: addresses.map((a) => ({ endpoint: { address: socketAddress(`${a.host}:${a.port}`) } })) }],
    },
    // Replicas of a service (docs/topology.md#replicas): round-robin, and a replica whose
    // connections fail is ejected for a while (the routes retry a connect failure elsewhere).
    ...(replicated ? { lb_policy: 'ROUND_ROBIN', outlier_detection: { consecutive_local_origin_failure: 1, split_external_local_origin_errors: true, base_ejection_time: '10s', max_ejection_percent: 50 } } : {}),
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': T.upstreamTls,
        sni: next.serverName,
        // docs/gateways/README.md: no TLS session reuse toward an upstream where the client certificate matters.
        max_session_keys: 0,
        common_tls_context: {
          tls_certificates: [{ certificate_chain: { filename: hop.upstreamTls.chain }, private_key: { filename: hop.upstreamTls.key } }],
          validation_context: {
            trusted_ca: { filename: topology.pki.caBundle },
            crl: { filename: topology.pki.crl },
            only_verify_leaf_cert_crl: false,
            match_typed_subject_alt_names: [uriSan(spiffeId(topology.trustDomain, nextRole, next.id))],
          },
        },
      },
    },
  };

  const clusters: Json[] = [nextCluster];
  if (stamp && stamper) clusters.push(stamperCluster(topology, hop, stamper));

  return {
    node: { id: hop.id, cluster: topology.name },
    static_resources: {
      listeners: [
        {
          name: hop.id,
          address: socketAddress(hop.listen),
          filter_chains: [
            {
              transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: downstreamTls },
              filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }],
            },
          ],
        },
      ],
      clusters,
    },
  };
}

/**
 * The stamper's cluster (docs/gateways/envoy.md "The stamper"): a `pipe` address for its Unix
 * socket (only this hop's account can open it), or TCP with mTLS where Envoy presents this hop's
 * own certificate and checks the stamper's SPIFFE id, which is the same hop's. Envoy pools the
 * connections, so a request costs no new connection.
 */
function stamperCluster(topology: ResolvedTopology, hop: ResolvedHop, stamper: StamperEndpoint): Json {
  const base = {
    name: STAMPER_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    // Envoy keeps an idle upstream connection for an hour by default; the stamper closes one after
    // 75 s. Closing first, on Envoy's side, means no request is ever sent on a connection the
    // stamper is closing.
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': T.httpProtocolOptions,
        common_http_protocol_options: { idle_timeout: STAMPER_IDLE_TIMEOUT },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  };
  if (stamper.kind === 'unix') {
    return { ...base, load_assignment: { cluster_name: STAMPER_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: stamper.socket } } } }] }] } };
  }
  return {
    ...base,
    load_assignment: { cluster_name: STAMPER_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(stamper.listen) } }] }] },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': T.upstreamTls,
        sni: stamper.serverName,
        common_tls_context: {
          tls_certificates: [{ certificate_chain: { filename: hop.upstreamTls.chain }, private_key: { filename: hop.upstreamTls.key } }],
          validation_context: {
            trusted_ca: { filename: topology.pki.caBundle },
            crl: { filename: topology.pki.crl },
            only_verify_leaf_cert_crl: false,
            match_typed_subject_alt_names: [uriSan(spiffeId(topology.trustDomain, 'gateway', hop.id))],
          },
        },
      },
    },
  };
}
