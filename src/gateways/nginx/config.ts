/**
 * The blocks of an NGINX hop's `nginx.conf`, one small function per duty of docs/gateways/README.md so the file
 * reads like the list in docs/CONVENTIONS.md "Gateway behaviour". Facts about NGINX 1.22 that the
 * choices rest on are in ../shared/notes/gateways.md and cited as "notes".
 */
import { ARTIFACT_UPLOAD_PATH_PATTERN, formatAddress, healthBody, STAMPER_CERT_HEADER, type HopFacts } from '../hop-facts.js';
import { macInputMaps, perlStamping, STAMPER_LOCATION, stamperLocation, stamperUpstream } from './stamping.js';
import { nginxPath, nginxString, STRIP_HEADERS_FILE, type NginxPaths } from './syntax.js';
import { hopHealthPath } from '../types.js';

/** Where Debian's libnginx-mod-http-perl installs the module (notes "Installing"). */
export const NGINX_PERL_MODULE = '/usr/lib/nginx/modules/ngx_http_perl_module.so';



/** An exact, case-sensitive regex over `prefix` + one of the ids (map strings would compare case-insensitively). */
function exactAlternatives(values: readonly string[], prefix = ''): string {
  if (values.length === 0) return '~^$.'; // matches nothing: no peer is expected here
  return `~^${prefix}(?:${values.map((v) => v.replace(/[.]/g, '\\.')).join('|')})$`;
}

/** `nginx -p hopDir`: run in the foreground with pid and logs in the hop folder (GatewayProgram contract). */
export function mainContext(facts: HopFacts, paths: NginxPaths): string {
  const lines = [
    `# Rendered by stella-gateway for hop ${facts.hop.id} (nginx). See docs/gateways/nginx.md.`,
  ];
  if (facts.stamp?.via === 'native') lines.push(`load_module ${NGINX_PERL_MODULE};`);
  lines.push(
    'daemon off;',
    'worker_processes 1;',
    `pid ${nginxPath(`${paths.hopDir}/nginx.pid`)};`,
    `error_log ${nginxPath(`${paths.hopDir}/error.log`)} notice;`,
    'events { worker_connections 1024; }',
  );
  return lines.join('\n');
}

/**
 * The request id (docs/gateways/nginx.md#request-id): the edge replaces whatever the client sent
 * with its own `$request_id` (32 hex characters); a hop behind it keeps the id of the hop in front,
 * or makes one when none arrived. Logged in every access line as `request_id="…"`.
 */
function requestIdMap(facts: HopFacts): string {
  if (facts.isEdge) return ['    map $request_id $stella_request_id {', '        default $request_id;', '    }'].join('\n');
  return ['    map $http_x_request_id $stella_request_id {', '        default $http_x_request_id;', '        "" $request_id;', '    }'].join('\n');
}

/** NGINX's `combined` format plus the peer's subject and the request id. */
export const NGINX_LOG_FORMAT =
  'log_format stella \'$remote_addr - [$time_local] "$request" $status $body_bytes_sent \'\n' +
  '        \'peer="$ssl_client_s_dn" request_id="$stella_request_id" request_time=$request_time\';';

/** Logs, temp folders in the hop folder, and never spooling bodies to disk (workers may lack access). */
function httpBasics(facts: HopFacts, paths: NginxPaths): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${nginxPath(`${paths.hopDir}/${kind}_temp`)};`);
  return [
    requestIdMap(facts),
    `    ${NGINX_LOG_FORMAT}`,
    `    access_log ${nginxPath(`${paths.hopDir}/access.log`)} stella;`,
    ...temp,
    '    server_tokens off;',
    '    default_type application/octet-stream;',
    `    client_max_body_size ${facts.maxBodyBytes};`,
    '    client_header_timeout 10s;',
    '    client_body_timeout 30s;',
    `    send_timeout ${facts.timeouts.upstreamSeconds}s;`,
    '    proxy_request_buffering off;',
    '    proxy_max_temp_file_size 0;',
  ].join('\n');
}

/**
 * The peer's CN, its role and whether it is admitted (docs/gateways/nginx.md "Peers"): the edge
 * admits the scanners of this edge with role `scanner`, later hops the hop before them with role
 * `gateway`. NGINX 1.22 has no SAN variable (notes), so the role is the subject's one OU, which
 * the PKI keeps equal to the SPIFFE role (docs/operations/certificates.md#roles).
 * `$ssl_client_s_dn` is RFC 2253 (notes); the regexes walk it RDN by RDN from the start, treating
 * `\x5c.` (an escaped character) as part of a value, so an escaped comma inside another attribute
 * can never pose as a CN or OU boundary. A subject with two OUs has no role.
 */
export function peerMaps(facts: HopFacts): string {
  const value = '(?:[^,\\x5c]|\\x5c.)';
  const rdns = `^(?:${value}*,)*?`;
  // Ids are [A-Za-z0-9._-] (docs/provenance.md#2-headers), so the one `:` splits "<role>:<cn>" unambiguously.
  return [
    '    map $ssl_client_s_dn $stella_peer_cn {',
    '        default "";',
    `        ${nginxString(`~${rdns}CN=(?<stella_cn>${value}+)(?:,|$)`)} $stella_cn;`,
    '    }',
    '    map $ssl_client_s_dn $stella_peer_role {',
    '        default "";',
    `        ${nginxString(`~${rdns}OU=${value}+,(?:${value}*,)*?OU=`)} "";`,
    `        ${nginxString(`~${rdns}OU=(?<stella_ou>${value}+)(?:,|$)`)} $stella_ou;`,
    '    }',
    '    map "$stella_peer_role:$stella_peer_cn" $stella_peer_admitted {',
    '        default 0;',
    `        ${nginxString(exactAlternatives(facts.expectedPeers, `${facts.expectedPeerRole}:`))} 1;`,
    '    }',
  ].join('\n');
}

/**
 * The next hop or service; keepalive needs HTTP/1.1 and an empty Connection header (set per
 * location). Replicas of a service (docs/topology.md#replicas) are balanced round-robin; one that
 * refuses a connection is skipped for 10 s and the request goes to the next (`proxy_next_upstream`
 * retries a request not yet sent, a POST included).
 */
function upstreamBlock(facts: HopFacts): string {
  const replicated = facts.next.addresses.length > 1;
  return [
    '    upstream stella_next {',
    ...facts.next.addresses.map((a) => `        server ${formatAddress(a)}${replicated ? ' max_fails=1 fail_timeout=10s' : ''};`),
    '        keepalive 16;',
    '    }',
  ].join('\n');
}

/** docs/gateways/README.md: terminate mTLS, client certificate required, verified against the CA bundle with the CRL. */
function downstreamTls(facts: HopFacts): string {
  const tls = facts.hop.tls;
  return [
    `        ssl_certificate ${nginxPath(tls.chain)};`,
    `        ssl_certificate_key ${nginxPath(tls.key)};`,
    '        ssl_protocols TLSv1.2 TLSv1.3;',
    `        ssl_client_certificate ${nginxPath(facts.caBundle)};`,
    `        ssl_crl ${nginxPath(facts.crl)};`,
    '        ssl_verify_client on;',
    '        ssl_verify_depth 3;',
    // docs/gateways/nginx.md "Sessions": a resumed session skips certificate verification, so
    // neither tickets nor the cache may let a session outlive its certificate or its revocation.
    '        ssl_session_tickets off;',
    '        ssl_session_cache off;',
  ].join('\n');
}

/** docs/gateways/README.md: re-originate mTLS with this hop's client certificate; session reuse off (notes pitfall). */
function upstreamTls(facts: HopFacts): string {
  const tls = facts.hop.upstreamTls;
  return [
    '        proxy_http_version 1.1;',
    `        proxy_ssl_certificate ${nginxPath(tls.chain)};`,
    `        proxy_ssl_certificate_key ${nginxPath(tls.key)};`,
    `        proxy_ssl_trusted_certificate ${nginxPath(facts.caBundle)};`,
    `        proxy_ssl_crl ${nginxPath(facts.crl)};`,
    '        proxy_ssl_verify on;',
    '        proxy_ssl_verify_depth 3;',
    `        proxy_ssl_name ${facts.next.serverName};`,
    '        proxy_ssl_server_name on;',
    '        proxy_ssl_session_reuse off;',
    '        proxy_ssl_protocols TLSv1.2 TLSv1.3;',
    `        proxy_connect_timeout ${facts.timeouts.connectSeconds}s;`,
    `        proxy_send_timeout ${facts.timeouts.upstreamSeconds}s;`,
    `        proxy_read_timeout ${facts.timeouts.upstreamSeconds}s;`,
  ].join('\n');
}

/** Refusals evaluated before any location: unexpected peer (403), ambiguous MAC input (403). */
function admission(facts: HopFacts): string {
  const lines = ['        if ($stella_peer_admitted = 0) { return 403; }'];
  if (facts.stamp) lines.push('        if ($stella_scan_id_ok = 0) { return 403; }', '        if ($stella_digest_ok = 0) { return 403; }');
  return lines.join('\n');
}

/** docs/services.md#health-and-metrics: `GET /healthz/hop/<id>` answered here; every other `/healthz/*` goes on like any request. */
function healthLocation(facts: HopFacts): string {
  return [
    `        location = ${hopHealthPath(facts.hop.id)} {`,
    '            if ($request_method !~ ^(?:GET|HEAD)$) { return 405; }',
    '            default_type application/json;',
    `            return 200 ${nginxString(healthBody(facts.hop))};`,
    '        }',
  ].join('\n');
}

/** What this hop puts in `X-Stella-Provenance` toward the next hop. */
function provenanceHeader(facts: HopFacts): string {
  if (facts.stamp) return '$stella_provenance'; // the stamped list (perl_set or auth_request_set)
  return facts.dropIncomingProvenance ? '""' : '$http_x_stella_provenance'; // opaque: untouched
}

/**
 * Every request: strip, stamp, forward. Repeats the full header list (notes: inheritance pitfall).
 * `artifact` renders the artifact upload route: the same forwarding with its own body limit
 * (docs/services.md#size); bodies are never buffered (`proxy_request_buffering off`).
 */
function forwardLocation(facts: HopFacts, paths: NginxPaths, artifact = false): string {
  const lines = artifact
    ? [`        location ~ ${nginxString(ARTIFACT_UPLOAD_PATH_PATTERN)} {`, `            client_max_body_size ${facts.maxArtifactBytes};`]
    : ['        location / {'];
  if (facts.stamp?.via === 'forward-auth') {
    lines.push(`            auth_request ${STAMPER_LOCATION};`, '            auth_request_set $stella_provenance $upstream_http_x_stella_provenance;');
    if (facts.stamp.signing) {
      // v2 (docs/provenance.md#part-2-version-2): the stamper answers the complete fields, which
      // replace the incoming ones (the client's members are gone from them at the edge).
      lines.push('            auth_request_set $stella_signature_input $upstream_http_signature_input;', '            auth_request_set $stella_signature $upstream_http_signature;');
      lines.push('            proxy_set_header Signature-Input $stella_signature_input;', '            proxy_set_header Signature $stella_signature;');
    }
  }
  lines.push(`            include ${nginxPath(`${paths.hopDir}/${STRIP_HEADERS_FILE}`)};`);
  if (facts.stamp?.via === 'native') {
    // NGINX 1.22 gives Perl only the first line of a repeated field: forward exactly the value the
    // MAC covers, one line, instead of lines the next hop would join (docs/gateways/nginx.md#known-limits).
    lines.push('            proxy_set_header X-Stella-Scan-Id $http_x_stella_scan_id;', '            proxy_set_header Content-Digest $http_content_digest;');
  }
  lines.push(
    `            proxy_set_header X-Stella-Provenance ${provenanceHeader(facts)};`,
    `            proxy_set_header ${STAMPER_CERT_HEADER} "";`,
    '            proxy_set_header X-Request-Id $stella_request_id;',
    `            proxy_set_header Host ${facts.next.serverName};`,
    '            proxy_set_header Connection "";',
    '            proxy_pass https://stella_next;',
    '        }',
  );
  return lines.join('\n');
}

/** The whole `http {}` context. */
export function httpContext(facts: HopFacts, paths: NginxPaths): string {
  const blocks = [httpBasics(facts, paths), peerMaps(facts)];
  if (facts.stamp) blocks.push(macInputMaps());
  if (facts.stamp?.via === 'native') blocks.push(perlStamping(paths));
  blocks.push(upstreamBlock(facts));
  if (facts.stamp?.via === 'forward-auth') blocks.push(stamperUpstream(facts));
  const server = [
    '    server {',
    `        listen ${formatAddress(facts.listen)} ssl;`,
    `        server_name ${facts.hop.serverName};`,
    downstreamTls(facts),
    upstreamTls(facts),
    admission(facts),
    healthLocation(facts),
    forwardLocation(facts, paths, true),
    forwardLocation(facts, paths),
    stamperLocation(facts, paths),
    '    }',
  ].filter((block) => block !== '');
  return ['http {', ...blocks, server.join('\n'), '}'].join('\n');
}

/** The include of docs/provenance.md#rules-for-every-hop, rule 1 (and `headers.strip` at the edge): `proxy_set_header X "";` removes X. */
export function stripHeadersInclude(facts: HopFacts): string {
  return [
    `# Rendered by stella-gateway for hop ${facts.hop.id}: headers removed from every forwarded request.`,
    '# Included by EVERY location that proxies: a location setting any proxy_set_header inherits none.',
    ...facts.stripHeaders.map((name) => `proxy_set_header ${name} "";`),
    '',
  ].join('\n');
}
