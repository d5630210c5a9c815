/**
 * The sections of an HAProxy hop's `haproxy.cfg`, one small function per duty of docs/gateways/README.md so the
 * file reads like docs/CONVENTIONS.md "Gateway behaviour". HAProxy 2.6 facts these rest on are in
 * ../shared/notes/gateways.md ("notes"): `req.fhdr()` (not `req.hdr()`, which splits on commas),
 * `hmac()` with binary output, `ssl_c_der,sha2(256),hex,lower`, `ssl_c_s_dn(CN)`.
 */
import { ARTIFACT_UPLOAD_PATH_PATTERN, formatAddress, healthBody, SCAN_ID_REGEX, STAMPER_CERT_HEADER, type HopFacts, type StampFacts } from '../hop-facts.js';
import { hopHealthPath } from '../types.js';
import type { MacKeyRef } from '../../topology/schema.js';
import { HAPROXY_V2_KEY_ENV, HAPROXY_V2_LUA_FILE, v2StampRules } from './v2.js';

/** The environment variable holding the base64 stamping key (never written into the config). */
export const HAPROXY_KEY_ENV = 'STELLA_HMAC_KEY';
/**
 * HAProxy 2.6 cannot take a private key from a separate path, only from `<crt>.key` next to the
 * certificate; the runtime links the PKI files to these names (see `runtime.ts`).
 */
export const HAPROXY_TLS_FILES = { server: 'tls/server.pem', upstream: 'tls/upstream.pem' } as const;

/** A config word: bare when safe, else single-quoted (no `$` expansion or escapes inside). */
export function haproxyWord(value: string): string {
  if (/^[A-Za-z0-9._/:@+-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs in the foreground (`-db`); logs to stderr, which the runtime captures. A v2 hop loads its
 * Lua action once per thread (`lua-load-per-thread`: one Lua state each, so signing is not
 * serialized behind one lock); the action reads its key from the environment as it loads.
 */
export function globalSection(facts: HopFacts, hopDir: string): string {
  const lines: string[] = [];
  const key = facts.stamp?.key;
  if (key) {
    lines.push(
      `.if !defined(${HAPROXY_KEY_ENV})`,
      `    .alert "${HAPROXY_KEY_ENV} must hold the base64 MAC key of hop ${facts.hop.id} (kid ${key.kid})"`,
      '.endif',
    );
  }
  const signing = facts.stamp?.signing;
  if (signing) {
    lines.push(
      `.if !defined(${HAPROXY_V2_KEY_ENV})`,
      `    .alert "${HAPROXY_V2_KEY_ENV} must hold the ${signing.alg} key of hop ${facts.hop.id} (kid ${signing.key.kid})"`,
      '.endif',
    );
  }
  lines.push(
    'global',
    '    log stderr format raw local0 info',
    '    maxconn 2048',
    '    ssl-default-bind-options ssl-min-ver TLSv1.2',
    '    ssl-default-server-options ssl-min-ver TLSv1.2',
    '    ssl-load-extra-files key',
    // docs/gateways/haproxy.md "Sessions": no session cache, so no resumed session (which skips
    // certificate verification) can outlive its certificate; `no-tls-tickets` on the bind does the rest.
    '    tune.ssl.cachesize 0',
  );
  // Read once at start-up into a process variable; hmac() accepts a variable holding base64.
  if (key) lines.push(`    set-var proc.stella_hmac_key env(${HAPROXY_KEY_ENV})`);
  if (signing) lines.push(`    lua-load-per-thread ${haproxyWord(`${hopDir}/${HAPROXY_V2_LUA_FILE}`)}`);
  return lines.join('\n');
}

/**
 * Timeouts from the chain's schedule (docs/gateways/README.md#timeouts). `timeout client` is as long
 * as `timeout server`, as HAProxy advises for HTTP, so the wait for the locker never ends on the client side.
 */
export function defaultsSection(facts: HopFacts): string {
  return [
    'defaults',
    '    mode http',
    '    log global',
    '    option httplog',
    `    timeout connect ${facts.timeouts.connectSeconds}s`,
    '    timeout http-request 10s',
    `    timeout client ${facts.timeouts.clientSeconds}s`,
    `    timeout server ${facts.timeouts.upstreamSeconds}s`,
    '    timeout check 5s',
  ].join('\n');
}

/**
 * docs/gateways/README.md: mTLS required, verified against the CA bundle and the CRL; a bad or no certificate fails
 * the handshake. No session tickets (docs/gateways/haproxy.md "Sessions").
 */
function bindLine(facts: HopFacts, hopDir: string): string {
  return `    bind ${formatAddress(facts.listen)} ssl crt ${haproxyWord(`${hopDir}/${HAPROXY_TLS_FILES.server}`)} ` +
    `ca-file ${haproxyWord(facts.caBundle)} crl-file ${haproxyWord(facts.crl)} verify required no-tls-tickets alpn http/1.1`;
}

/** docs/provenance.md#rules-for-every-hop, rule 1 (edge) and client copies of headers this hop sets — first, on every path. */
function stripRules(facts: HopFacts): string[] {
  const names = [...(facts.dropIncomingProvenance ? ['X-Stella-Provenance'] : []), ...facts.stripHeaders, STAMPER_CERT_HEADER];
  return names.map((name) => `    http-request del-header ${name}`);
}

/**
 * The request id (docs/gateways/haproxy.md#request-id): the edge replaces whatever the client sent
 * with a fresh UUID; a hop behind it keeps the id of the hop in front, or makes one when none
 * arrived. The value is captured (slot 0) right after, so every log line has it, refusals included.
 */
function requestIdRules(facts: HopFacts): string[] {
  const set = '    http-request set-header X-Request-Id %[uuid(4)]';
  return [facts.isEdge ? set : `${set} unless { req.fhdr(x-request-id) -m found }`, '    http-request capture req.fhdr(x-request-id) len 128'];
}

/** HAProxy 2.6's `option httplog` format with the request id (capture slot 0) in place of `%hr`. */
export const HAPROXY_LOG_FORMAT =
  '"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq request_id=%{+Q}[capture.req.hdr(0)] %{+Q}r"';

/**
 * Only the expected peers (docs/gateways/haproxy.md "Peers"): their CN, and the role the topology
 * puts there — `scanner` at the edge, `gateway` behind it — as the subject's one OU. HAProxy 2.6
 * has no SAN fetch (notes); the PKI keeps the OU equal to the SPIFFE role
 * (docs/operations/certificates.md#roles). A second OU (occurrence 2) is refused.
 */
function admissionRules(facts: HopFacts): string[] {
  if (facts.expectedPeers.length === 0) return ['    http-request deny deny_status 403'];
  return [
    `    http-request deny deny_status 403 unless { ssl_c_s_dn(CN) -m str ${facts.expectedPeers.join(' ')} } ` +
      `{ ssl_c_s_dn(OU,1) -m str ${facts.expectedPeerRole} } !{ ssl_c_s_dn(OU,2) -m found }`,
  ];
}

/** docs/services.md#health-and-metrics: own liveness answered here; every other `/healthz/*` is forwarded like any request. */
function healthRules(facts: HopFacts): string[] {
  const path = hopHealthPath(facts.hop.id);
  return [
    `    http-request return status 200 content-type application/json string '${healthBody(facts.hop)}' if METH_GET { path ${path} }`,
    `    http-request deny deny_status 405 if { path ${path} }`,
  ];
}

/**
 * Body limits by `Content-Length`: `maxArtifactBytes` on the artifact upload path, `maxBodyBytes`
 * elsewhere (docs/services.md#size). HAProxy streams bodies (no `option http-buffer-request`,
 * which would only ever see the first `tune.bufsize` bytes), so it cannot cap a chunked body of
 * unknown length; the service does. Then MAC-input hygiene: one line per MAC-input header (`req.fhdr` sees only the last), a scan id
 * of docs/provenance.md's format, no `|` in `Content-Digest` (403, as the stamper answers).
 */
function limitRules(facts: HopFacts): string[] {
  const rules = [
    `    acl stella_artifact_upload path -m reg ${haproxyWord(ARTIFACT_UPLOAD_PATH_PATTERN)}`,
    `    http-request deny deny_status 413 if { req.hdr_val(content-length) gt ${facts.maxBodyBytes} } !stella_artifact_upload`,
    `    http-request deny deny_status 413 if { req.hdr_val(content-length) gt ${facts.maxArtifactBytes} } stella_artifact_upload`,
  ];
  if (facts.stamp) {
    rules.push(
      '    http-request deny deny_status 400 if { req.fhdr_cnt(x-stella-scan-id) gt 1 } or { req.fhdr_cnt(content-digest) gt 1 } or { req.fhdr_cnt(x-stella-provenance) gt 1 }',
      `    http-request deny deny_status 403 if { req.fhdr(x-stella-scan-id) -m found } !{ req.fhdr(x-stella-scan-id) -m reg '${SCAN_ID_REGEX}' }`,
      '    http-request deny deny_status 403 if { req.fhdr(content-digest) -m sub | }',
    );
  }
  return rules;
}

/** The peer the hop verified, which both profiles record: its certificate's SHA-256 and CN. */
const PEER_RULES = [
  '    http-request set-var(txn.stella_peer) ssl_c_der,sha2(256),hex,lower',
  '    http-request set-var(txn.stella_peer_id) ssl_c_s_dn(CN)',
];

/**
 * docs/provenance.md: this hop's v1 record. Each field goes into a transaction variable, the MAC input is
 * built with `set-var-fmt`, and the record is appended to the incoming list with `, `.
 */
export function stampRules(hopId: string, stamp: StampFacts, key: MacKeyRef): string[] {
  const v = (name: string): string => `%[var(txn.stella_${name})]`;
  const rules = [
    '    http-request set-var(txn.stella_ts) date',
    '    http-request set-var(txn.stella_nonce) uuid,regsub(-,,g)',
    ...PEER_RULES,
  ];
  if (stamp.seq > 1) {
    // The chain field: the base64 MAC of the last incoming record (greedy `.*` finds the last one).
    rules.push(`    http-request set-var(txn.stella_prev_mac) 'req.fhdr(x-stella-provenance),regsub("^.*;mac=:([A-Za-z0-9+/]*=*):.*$","\\1")' ` +
      'if { req.fhdr(x-stella-provenance) -m reg ;mac=:[A-Za-z0-9+/]*=*: }');
  }
  const input = ['stella-provenance-v1', hopId, String(stamp.seq), v('ts'), v('nonce'), `sha256:${v('peer')}`, v('peer_id'),
    '%[method]', '%[pathq]', '%[req.fhdr(x-stella-scan-id)]', '%[req.fhdr(content-digest)]', stamp.seq > 1 ? v('prev_mac') : ''].join('|');
  const record = `${hopId};seq=${stamp.seq};ts=${v('ts')};nonce="${v('nonce')}";peer="sha256:${v('peer')}";` +
    `peer-id="${v('peer_id')}";kid="${key.kid}";mac=:${v('mac')}:`;
  const hasIncoming = '{ req.fhdr(x-stella-provenance) -m len 1: }';
  rules.push(
    `    http-request set-var-fmt(txn.stella_mac_input) '${input}'`,
    '    http-request set-var(txn.stella_mac) var(txn.stella_mac_input),hmac(sha256,proc.stella_hmac_key),base64',
    `    http-request set-var-fmt(txn.stella_record) '${record}'`,
    `    http-request set-header X-Stella-Provenance '%[req.fhdr(x-stella-provenance)], ${v('record')}' if ${hasIncoming}`,
    `    http-request set-header X-Stella-Provenance '${v('record')}' unless ${hasIncoming}`,
  );
  return rules;
}

/** The v1 record and the v2 member the profile asks for (docs/provenance.md#part-2-version-2). */
function allStampRules(facts: HopFacts, stamp: StampFacts): string[] {
  return [...(stamp.key ? stampRules(facts.hop.id, stamp, stamp.key) : PEER_RULES), ...(stamp.signing ? v2StampRules() : [])];
}

/** The frontend: every rule in the order docs/provenance.md asks (strip first, then refuse, then stamp). */
export function frontendSection(facts: HopFacts, hopDir: string): string {
  return [
    `frontend ${facts.hop.id}`,
    bindLine(facts, hopDir),
    `    log-format ${HAPROXY_LOG_FORMAT}`,
    ...stripRules(facts),
    ...requestIdRules(facts),
    ...admissionRules(facts),
    ...healthRules(facts),
    ...limitRules(facts),
    ...(facts.stamp ? allStampRules(facts, facts.stamp) : []),
    '    default_backend next',
  ].join('\n');
}

/**
 * docs/gateways/README.md: mTLS to the next hop with this hop's certificate, verified against the CA bundle and
 * the next hop's name (SNI + verifyhost), session reuse off. docs/services.md#health-and-metrics: HAProxy checks its
 * upstream's readiness over the same mTLS (a service's `/healthz/ready`, a hop's own liveness).
 */
export function backendSection(facts: HopFacts, hopDir: string): string {
  const name = facts.next.serverName;
  const tls = `ssl crt ${haproxyWord(`${hopDir}/${HAPROXY_TLS_FILES.upstream}`)} ca-file ${haproxyWord(facts.caBundle)} ` +
    `crl-file ${haproxyWord(facts.crl)} verify required verifyhost ${name} sni str(${name}) no-ssl-reuse alpn http/1.1`;
  const replicas = facts.next.addresses;
  // Replicas of a service (docs/topology.md#replicas): round-robin over the healthy ones; a
  // connection refused is retried on another replica (redispatch), and the health check takes a
  // stopped one out within its `fall` checks.
  const balancing = replicas.length > 1 ? ['    balance roundrobin', '    option redispatch', '    retries 2'] : [];
  return [
    'backend next',
    ...balancing,
    `    http-request set-header Host ${name}`,
    '    option httpchk',
    `    http-check send meth GET uri ${facts.next.healthPath} ver HTTP/1.1 hdr Host ${name}`,
    '    http-check expect status 200',
    ...replicas.map((address, n) => `    server ${replicas.length > 1 ? `${facts.next.id}-${n}` : facts.next.id} ${formatAddress(address)} ${tls} check check-sni ${name} inter ${replicas.length > 1 ? '1s fall 2' : '5s fall 3'} rise 2`),
  ].join('\n');
}
