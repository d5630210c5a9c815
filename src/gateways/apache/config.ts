/**
 * The blocks of `apache2.conf` for the opaque WAF hop (docs/provenance.md#rules-for-every-hop, rule 2, docs/gateways/README.md): each function returns
 * one commented block, `renderApacheConf` puts them in the order Apache needs.
 */
import type { ResolvedHop, ResolvedTopology } from '../../topology/resolve.js';
import { hopTimeouts } from '../../topology/timeouts.js';
import { admittedPeerIds, admittedPeerRole, isEdge, nextAddresses, nextTarget, RULE_ONE_HEADERS } from '../chain.js';
import { hopHealthPath } from '../types.js';
import { hostName, quoted } from './directives.js';
import { APACHE_RUN_USER, APACHE_SYSTEM_PATHS, type ApacheHopLayout } from './layout.js';
import { maxBodyBytes, renderCrsTargetUpdates, renderEnvelopeContentTypes } from './modsecurity.js';

/** Modules the hop loads, in load order; nothing else from `/etc/apache2/mods-enabled` is used. */
// mod_log_config and mod_so are compiled into Debian's apache2 (`apache2 -l`), so they are not loaded here.
export const APACHE_MODULES = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['reqtimeout_module', 'mod_reqtimeout.so'],
  ['headers_module', 'mod_headers.so'],
  ['rewrite_module', 'mod_rewrite.so'],
  ['ssl_module', 'mod_ssl.so'],
  // ModSecurity 2 needs unique_id (Debian's security2.load: "Depends: unique_id").
  ['unique_id_module', 'mod_unique_id.so'],
  ['security2_module', 'mod_security2.so'],
  ['proxy_module', 'mod_proxy.so'],
  ['proxy_http_module', 'mod_proxy_http.so'],
] as const;

/** Loaded only in front of a replicated service (docs/topology.md#replicas): a balancer of the replicas. */
export const APACHE_BALANCER_MODULES = [
  ['proxy_balancer_module', 'mod_proxy_balancer.so'],
  ['lbmethod_byrequests_module', 'mod_lbmethod_byrequests.so'],
  ['slotmem_shm_module', 'mod_slotmem_shm.so'],
] as const;

/** Apache's default `LimitRequestFieldSize`; raised when provenance headers may be longer. */
const APACHE_DEFAULT_FIELD_SIZE = 8190;
/** Room for the header name, `: ` and slack on top of `provenance.maxHeaderBytes`. */
const FIELD_NAME_ALLOWANCE = 64;

function processBlock(hop: ResolvedHop, layout: ApacheHopLayout): string {
  return `# --- Process: everything this instance writes stays inside the hop folder.
ServerRoot ${quoted(layout.dir)}
PidFile ${quoted(layout.pidFile)}
DefaultRuntimeDir ${quoted(layout.runDir)}
Mutex file:${layout.runDir} default
ErrorLog ${quoted(`${layout.logsDir}/error.log`)}
LogLevel warn
LogFormat "%h %{SSL_CLIENT_S_DN_CN}x %t \\"%r\\" %>s %b %D %{UNIQUE_ID}e request_id=\\"%{X-Request-Id}i\\"" stella
CustomLog ${quoted(`${layout.logsDir}/access.log`)} stella
# Started as root, the children drop to ${APACHE_RUN_USER}; certificates, keys, the CRL and the rules
# are all read by the root parent before that, so the children need no access to them.
User ${APACHE_RUN_USER}
Group ${APACHE_RUN_USER}
ServerName ${hostName(hop.serverName)}
ServerTokens Prod
ServerSignature Off
TraceEnable Off`;
}

/**
 * Connection capacity of the event MPM (docs/gateways/apache-modsecurity.md#capacity). The TLS
 * handshake and the request head are read on a worker thread, so every connection that has not
 * sent a whole request yet — an idle TCP connection included — holds a thread until
 * mod_reqtimeout cuts it. Threads are therefore sized for more such connections than the hop
 * must withstand (2,000), all started at once (a burst cannot wait for processes to be spawned)
 * and never reaped; idle keep-alive connections wait in the listener thread and hold none.
 */
export const APACHE_CAPACITY = {
  serverLimit: 12,
  threadsPerChild: 256,
  /** Keep-alive connections a process may hold per idle thread (the listener waits on them). */
  asyncRequestWorkerFactor: 4,
  /** A TLS handshake must finish within this, the request head within `headerSeconds` (+ MinRate). */
  handshakeSeconds: 5,
  headerSeconds: '10-20',
  bodySeconds: 20,
  minRateBytesPerSecond: 500,
  keepAliveSeconds: 5,
  /** The kernel queue of connections not yet accepted (Linux caps it at net.core.somaxconn). */
  listenBacklog: 4096,
} as const;

/** Threads of the hop: ServerLimit × ThreadsPerChild. */
export const APACHE_MAX_REQUEST_WORKERS = APACHE_CAPACITY.serverLimit * APACHE_CAPACITY.threadsPerChild;

function capacityBlock(): string {
  const c = APACHE_CAPACITY;
  return `# --- Capacity: ${APACHE_MAX_REQUEST_WORKERS} threads, all started at once and never reaped, because an unfinished
# handshake or request head holds a thread until mod_reqtimeout cuts it (docs/gateways/apache-modsecurity.md#capacity).
ServerLimit ${c.serverLimit}
StartServers ${c.serverLimit}
ThreadLimit ${c.threadsPerChild}
ThreadsPerChild ${c.threadsPerChild}
MaxRequestWorkers ${APACHE_MAX_REQUEST_WORKERS}
MinSpareThreads ${c.threadsPerChild}
MaxSpareThreads ${APACHE_MAX_REQUEST_WORKERS}
MaxConnectionsPerChild 0
AsyncRequestWorkerFactor ${c.asyncRequestWorkerFactor}
ListenBacklog ${c.listenBacklog}
# An idle or slow connection is cut: no TLS handshake within ${c.handshakeSeconds} s, no request head within
# ${c.headerSeconds} s, a body slower than ${c.minRateBytesPerSecond} bytes/s.
RequestReadTimeout handshake=${c.handshakeSeconds} header=${c.headerSeconds},MinRate=${c.minRateBytesPerSecond} body=${c.bodySeconds},MinRate=${c.minRateBytesPerSecond}
KeepAlive On
KeepAliveTimeout ${c.keepAliveSeconds}
MaxKeepAliveRequests 1000`;
}

function limitsBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  const timeout = hopTimeouts(hop).upstreamSeconds;
  const headerBytes = topology.provenance.maxHeaderBytes;
  const fieldSize = Math.max(APACHE_DEFAULT_FIELD_SIZE, headerBytes + FIELD_NAME_ALLOWANCE);
  return `# --- Limits (topology: limits.maxBodyBytes, provenance.maxHeaderBytes; the timeout from the chain's
# schedule, docs/gateways/README.md#timeouts). The body limits that hold for proxied bodies are
# ModSecurity's (modsecurity.conf: SecRequestBodyLimit, and rule 200021 for the artifact upload path).
Timeout ${timeout}
ProxyTimeout ${timeout}
LimitRequestBody ${maxBodyBytes(hop)}
LimitRequestFieldSize ${fieldSize}`;
}

function inboundTlsBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  return `# --- Inbound mTLS: a client certificate from the trusted CAs is required, every CRL of the chain applies.
Listen ${hop.listen}
SSLEngine on
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLCertificateFile ${quoted(hop.tls.chain)}
SSLCertificateKeyFile ${quoted(hop.tls.key)}
# No resumption (docs/gateways/apache-modsecurity.md "Sessions"): a resumed session skips certificate
# verification, so neither the cache nor a ticket may let a session outlive its certificate.
SSLSessionCache none
SSLSessionTickets off
SSLVerifyClient require
SSLVerifyDepth 3
SSLCACertificateFile ${quoted(topology.pki.caBundle)}
SSLCARevocationFile ${quoted(topology.pki.crl)}
SSLCARevocationCheck chain`;
}

/**
 * Only the expected peers get in (docs/gateways/apache-modsecurity.md "Peers"); others get 403 after
 * the handshake. mod_ssl 2.4 exposes no URI SAN (only DNS, Email and msUPN), so the role is the
 * subject's one OU (`_1` is a second one), which the PKI keeps equal to the SPIFFE role
 * (docs/operations/certificates.md#roles).
 */
function peerAdmissionBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  const peers = admittedPeerIds(topology, hop).map((id) => `'${id}'`);
  const role = admittedPeerRole(topology, hop);
  const rule =
    peers.length > 0
      ? `Require expr "%{SSL_CLIENT_S_DN_CN} in { ${peers.join(', ')} } && %{SSL_CLIENT_S_DN_OU} == '${role}' && -z %{SSL_CLIENT_S_DN_OU_1}"`
      : 'Require all denied';
  return `# --- Peers: only the certificate Common Names the topology sends here, with role ${role} (OU).
<Location "/">
  ${rule}
</Location>`;
}

/** docs/provenance.md#rules-for-every-hop, rule 1, when this WAF is itself the edge; a WAF behind an edge sets none of them. */
function edgeStripBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  if (!isEdge(topology, hop)) {
    return `# --- Headers: an opaque hop sets no provenance header, so it removes none and forwards
# X-Stella-Provenance untouched (an opaque hop, docs/provenance.md#4-the-order-of-checks-and-the-problem-codes). mod_proxy adds no X-Forwarded-* either.
ProxyAddHeaders Off`;
  }
  const names = [...RULE_ONE_HEADERS, ...topology.headers.strip];
  return `# --- Headers: this hop is the edge; client copies of these go before anything else (docs/provenance.md#6-threat-model, rule 1).
${names.map((name) => `RequestHeader unset ${name} early`).join('\n')}
ProxyAddHeaders Off`;
}

/**
 * The request id (docs/gateways/apache-modsecurity.md#request-id): at the edge mod_unique_id's
 * UNIQUE_ID replaces whatever the client sent; behind an edge the incoming id is kept, and
 * UNIQUE_ID set only when none arrived. The access log writes the id forwarded (`request_id=`).
 */
function requestIdBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  const edge = isEdge(topology, hop);
  return `# --- Request id: ${edge ? 'this hop is the edge; its own id replaces the client\'s' : 'the id of the hop in front is kept; one is made when none arrived'}.
RequestHeader ${edge ? 'set' : 'setifempty'} X-Request-Id "%{UNIQUE_ID}e"`;
}

function wafBlock(layout: ApacheHopLayout): string {
  return `# --- WAF: ModSecurity 2 with the OWASP Core Rule Set, blocking (notes/gateways.md).
Include ${quoted(layout.modsecurityConf)}
Include ${quoted(APACHE_SYSTEM_PATHS.crsSetup)}
Include ${quoted(layout.crsTuningConf)}
IncludeOptional ${quoted(APACHE_SYSTEM_PATHS.crsExclusionsBefore)}
Include ${quoted(APACHE_SYSTEM_PATHS.crsRules)}
${renderCrsTargetUpdates()}
${renderEnvelopeContentTypes()}
IncludeOptional ${quoted(APACHE_SYSTEM_PATHS.crsExclusionsAfter)}`;
}

/**
 * `GET /healthz/hop/<id>` answered here (docs/services.md#health-and-metrics), HEAD too; any other method is a 405, as on
 * every gateway kind. The body is an inline ErrorDocument for a forced 200, so the unprivileged
 * children read no file to serve it.
 */
function healthBlock(hop: ResolvedHop): string {
  const body = JSON.stringify({ hop: hop.id, kind: hop.kind, status: 'live' }).replaceAll('"', '\\"');
  return `# --- Health: this hop answers ${hopHealthPath(hop.id)} itself; every other /healthz/* goes on like any request.
<Location ${quoted(hopHealthPath(hop.id))}>
  ProxyPass !
  RewriteEngine On
  RewriteCond %{REQUEST_METHOD} !^(?:GET|HEAD)$
  RewriteRule ^ - [R=405]
  RewriteRule ^ - [R=200]
  ErrorDocument 200 "${body}"
  Header always set Content-Type "application/json"
</Location>`;
}

/**
 * Toward the next hop: mTLS with the hop's own certificate, the next hop's certificate verified
 * against the CA bundle and its serverName. ProxyPreserveHost Off makes Host and SNI the
 * serverName of the URL, which must therefore resolve to the next hop (see docs/gateways/apache-modsecurity.md).
 */
function upstreamBlock(topology: ResolvedTopology, hop: ResolvedHop, layout: ApacheHopLayout): string {
  const next = nextTarget(hop);
  return `# --- Upstream: re-originate mTLS to ${next.id} as ${hop.id} (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes: the next record names this hop).
SSLProxyEngine on
SSLProxyProtocol -all +TLSv1.2 +TLSv1.3
SSLProxyMachineCertificateFile ${quoted(layout.proxyClientPem)}
SSLProxyMachineCertificateChainFile ${quoted(hop.upstreamTls.chain)}
SSLProxyCACertificateFile ${quoted(topology.pki.caBundle)}
SSLProxyVerify require
SSLProxyVerifyDepth 3
SSLProxyCheckPeerName on
SSLProxyCheckPeerExpire on
SSLProxyCARevocationFile ${quoted(topology.pki.crl)}
SSLProxyCARevocationCheck chain
ProxyPreserveHost Off
ProxyRequests Off
# The request target goes on byte for byte: every hop record's MAC covers it (docs/provenance.md).
# ProxyPassMatch, not ProxyPass "/": a prefix match lets one "/" of the prefix eat every leading slash,
# so "//api/…" left as "/api/…" (docs/gateways/apache-modsecurity.md#the-request-target). Its target has
# no backreference: Apache appends the raw target, and the next hop keeps a worker of its own whose
# connections are reused (docs/gateways/apache-modsecurity.md#connections-to-the-next-hop).
AllowEncodedSlashes NoDecode
MergeSlashes Off
${proxyTarget(hop)}`;
}

/**
 * The ProxyPassMatch to the next hop, or to a balancer of the service's replicas
 * (docs/topology.md#replicas): each member by the service's serverName (it must resolve to the
 * replicas' host, as it must for one target) and its own port; a member that refuses a connection
 * is left out for 10 s (`retry=10`) and the request goes to another one.
 */
function proxyTarget(hop: ResolvedHop): string {
  const next = nextTarget(hop);
  const addresses = nextAddresses(hop);
  if (addresses.length === 1) return `ProxyPassMatch "^/" "https://${hostName(next.serverName)}:${next.port}" nocanon`;
  const members = addresses.map((a) => `  BalancerMember "https://${hostName(next.serverName)}:${a.port}" retry=10`).join('\n');
  return `<Proxy "balancer://stella-next">
${members}
  ProxySet lbmethod=byrequests
</Proxy>
ProxyPassMatch "^/" "balancer://stella-next" nocanon`;
}

/** The whole `apache2.conf` of a WAF hop. */
export function renderApacheConf(topology: ResolvedTopology, hop: ResolvedHop, layout: ApacheHopLayout): string {
  const header = `# Apache+ModSecurity WAF hop "${hop.id}" of topology "${topology.name}" — rendered by stella-gateway; do not edit by hand.
# Run: apache2 -f ${layout.conf} -DFOREGROUND    Check: apache2 -t -f ${layout.conf}`;
  const modules = [...APACHE_MODULES, ...(nextAddresses(hop).length > 1 ? APACHE_BALANCER_MODULES : [])].map(([name, file]) => `LoadModule ${name} ${APACHE_SYSTEM_PATHS.modulesDir}/${file}`).join('\n');
  return [
    header,
    `# --- Modules.\n${modules}`,
    processBlock(hop, layout),
    capacityBlock(),
    limitsBlock(topology, hop),
    inboundTlsBlock(topology, hop),
    peerAdmissionBlock(topology, hop),
    edgeStripBlock(topology, hop),
    requestIdBlock(topology, hop),
    wafBlock(layout),
    healthBlock(hop),
    upstreamBlock(topology, hop, layout),
  ].join('\n\n') + '\n';
}
