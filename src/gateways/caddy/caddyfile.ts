/**
 * The blocks of a Caddy 2.6 hop's Caddyfile (docs/provenance.md, docs/gateways/README.md, docs/services.md#health-and-metrics; notes/gateways.md "Caddy 2.6").
 * Everything of the site sits in one `route` so the handlers run in the order written here:
 * Caddy's default directive order would run `forward_auth` before `request_header`, which would
 * let a stripped header come back or a stamped one be removed.
 */
import { HEADERS, parseHostPort } from '../../conventions/index.js';
import type { ResolvedHop, ResolvedTopology } from '../../topology/resolve.js';
import { hopTimeouts, UPSTREAM_CONNECT_TIMEOUT_SECONDS } from '../../topology/timeouts.js';
import { admittedPeerIds, admittedPeerRole, admittedPeerSpiffeIds, isEdge, nextAddresses, nextTarget, RULE_ONE_HEADERS, stamperEndpoint, type StamperEndpoint } from '../chain.js';
import { STAMPER_PATH } from '../../provenance/record.js';
import { hopHealthPath } from '../types.js';
import { ARTIFACT_UPLOAD_PATH_PATTERN, hopBodyLimits } from '../hop-facts.js';

/** The stamper contract (docs/CONVENTIONS.md): where forward_auth asks, what it copies back. */
export const STAMPER_URI = STAMPER_PATH;
/** Idle connections to the stamper: kept open so a request costs no new connection (or handshake). */
const STAMPER_KEEPALIVE = '60s';
const STAMPER_IDLE_CONNECTIONS = 32;
export const PROVENANCE_HEADER = HEADERS.provenance;
/** The v2 fields a stamping hop copies from its stamper's answer (docs/provenance.md#part-2-version-2). */
export const V2_HEADERS = [HEADERS.signatureInput, HEADERS.signature] as const;
/** RFC 9440 `Client-Cert`: base64 DER between colons; CRS accepts it where URL-encoded PEM is blocked. */
export const CLIENT_CERT_HEADER = HEADERS.clientCert;
/**
 * Headers the stamper reads in preference to what Caddy sets (docs/CONVENTIONS.md: it takes
 * `X-Original-*` before `X-Forwarded-*`, and other certificate headers after `Client-Cert`).
 * `forward_auth` passes the client's headers on, so a client could otherwise choose the method,
 * path or certificate the record covers; they are removed from the request to the stamper.
 */
export const STAMPER_SPOOFABLE_HEADERS = ['X-Original-Method', 'X-Original-URI', 'X-Stella-Client-Cert', 'X-Forwarded-Client-Cert'] as const;

/** A double-quoted Caddyfile token; refuses what would end the token or the line. */
export function quoted(value: string): string {
  if (/["\\\r\n{}]/.test(value)) throw new TypeError(`caddy renderer: ${JSON.stringify(value)} cannot be written into a Caddyfile`);
  return `"${value}"`;
}

/**
 * A regular expression that matches the text literally. Ids, trust domains and SPIFFE IDs only
 * hold [A-Za-z0-9._:/-]; `.` becomes `[.]` because {@link quoted} refuses backslashes.
 */
function literal(text: string): string {
  if (!/^[A-Za-z0-9._:/-]*$/.test(text)) throw new TypeError(`caddy renderer: ${JSON.stringify(text)} cannot be matched literally`);
  return text.replace(/[.]/g, '[.]');
}

/**
 * The admin API's address: a Unix socket in the hop folder, never a TCP port, so only who may
 * enter the hop folder can reach it; `caddy reload` uses it (docs/gateways/caddy.md).
 */
export function caddyAdminAddress(hopDir: string): string {
  return `unix/${hopDir}/admin.sock`;
}

/** Offline globals: the admin API on a Unix socket only, no ACME, no trust-store installs, state inside the hop folder. */
export function globalOptions(hopDir: string): string {
  return `{
	admin ${quoted(caddyAdminAddress(hopDir))}
	auto_https off
	skip_install_trust
	storage file_system ${quoted(`${hopDir}/data`)}
	servers {
		# With client_auth Caddy demands Host == SNI (421 otherwise); peers are checked by
		# certificate below, and the previous hop may address this one by IP.
		strict_sni_host insecure_off
	}
}`;
}

/** Inbound mTLS (Caddy 2.6 has no CRL support in client_auth: see the note in the file). */
export function tlsBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  const revocation =
    hop.stamp === false
      ? `# GAP: Caddy 2.6 client_auth cannot check a CRL and this opaque hop has no stamper, so
	# ${topology.pki.crl} is not applied here: keep leaf lifetimes short (docs/gateways/caddy.md).`
      : `# Caddy 2.6 client_auth cannot check a CRL: ${topology.pki.crl} is applied by this hop's
	# forward-auth stamper instead (revoked serial -> 403), see docs/gateways/caddy.md.`;
  return `	# Inbound mTLS: a certificate from the trusted CAs is required.
	${revocation}
	tls ${quoted(hop.tls.chain)} ${quoted(hop.tls.key)} {
		protocols tls1.2 tls1.3
		client_auth {
			mode require_and_verify
			trusted_ca_cert_file ${quoted(topology.pki.caBundle)}
		}
	}`;
}

/**
 * Only the certificate CNs the topology sends here, with the role it puts there, get further
 * (docs/gateways/caddy.md "Peers"): the CN from the RFC 2253 subject and the whole SPIFFE ID
 * (role and name) from the URI SAN, both required.
 */
export function peerCheck(topology: ResolvedTopology, hop: ResolvedHop): string {
  const peers = admittedPeerIds(topology, hop).map(literal);
  const cn = peers.length > 0 ? `^CN=(${peers.join('|')})(,|$)` : '^$.';
  const ids = admittedPeerSpiffeIds(topology, hop).map(literal);
  // The list placeholder renders as `[<uri> <uri>…]` (Caddy 2.6.2): anchored on one element, it also
  // refuses a second URI SAN. `[[]`/`[]]` are the brackets, as quoted() refuses backslashes.
  const san = ids.length > 0 ? `^[[](${ids.join('|')})[]]$` : '^$.';
  // Two matchers, two refusals: one vars_regexp with two keys matches when ANY key matches, and
  // `not` over several sets is true only when none matches — neither says "both must hold".
  return `		# Peers: {http.request.tls.client.subject} is the RFC 2253 subject, CN first;
		# {http.request.tls.client.san.uris} the URI SANs: exactly one, the SPIFFE ID (role ${admittedPeerRole(topology, hop)}).
		@foreign_cn not vars_regexp {http.request.tls.client.subject} ${quoted(cn)}
		respond @foreign_cn "peer not admitted" 403
		@foreign_role not vars_regexp {http.request.tls.client.san.uris} ${quoted(san)}
		respond @foreign_role "peer not admitted" 403`;
}

export function healthResponse(hop: ResolvedHop): string {
  const body = JSON.stringify({ hop: hop.id, kind: hop.kind, status: 'live' });
  return `		# Health: answered here (GET and HEAD; any other method 405); every other /healthz/* is
		# forwarded (and stamped) like any request.
		@health_other_method {
			path ${hopHealthPath(hop.id)}
			not method GET HEAD
		}
		respond @health_other_method 405
		header ${hopHealthPath(hop.id)} Content-Type application/json
		respond ${hopHealthPath(hop.id)} \`${body}\` 200`;
}

/** docs/provenance.md#rules-for-every-hop, rule 1 at the edge; elsewhere the headers this hop sets itself. */
export function stripHeaders(topology: ResolvedTopology, hop: ResolvedHop): string {
  const names = isEdge(topology, hop)
    ? [...RULE_ONE_HEADERS, ...topology.headers.strip]
    : hop.stamp === false
      ? []
      : [CLIENT_CERT_HEADER];
  if (names.length === 0) return '		# Headers: an opaque hop sets none, so it removes none and forwards X-Stella-Provenance untouched.';
  const why = isEdge(topology, hop) ? 'this hop is the edge: client copies go before anything else (docs/provenance.md#rules-for-every-hop, rule 1)' : 'client copies of what this hop sets';
  return [`		# Headers: ${why}.`, ...names.map((name) => `		request_header -${name}`)].join('\n');
}

/**
 * The request id (docs/gateways/caddy.md#request-id): the edge replaces whatever the client sent
 * with `{http.request.uuid}`; a hop behind it keeps the id of the hop in front, or makes one when
 * none arrived. Set before stamping, so the stamper's decision line carries it too. Caddy's access
 * log records the request headers as they arrived, so the id forwarded is also set on the answer
 * (deferred: it replaces the upstream's echo), where the log's `resp_headers` records it — for
 * Caddy's own refusals too.
 */
export function requestIdBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  const set = isEdge(topology, hop)
    ? ['\t\t# Request id: this hop is the edge; its own id replaces the client\'s.', '\t\trequest_header X-Request-Id {http.request.uuid}']
    : [
        '\t\t# Request id: the id of the hop in front is kept; one is made when none arrived.',
        '\t\t@stella_no_request_id not header_regexp X-Request-Id "."',
        '\t\trequest_header @stella_no_request_id X-Request-Id {http.request.uuid}',
      ];
  return [...set, '\t\theader {', '\t\t\tX-Request-Id {http.request.header.X-Request-Id}', '\t\t\tdefer', '\t\t}'].join('\n');
}

/**
 * Stamping through the hop's forward-auth stamper, told the method, path and certificate by Caddy
 * only ({@link STAMPER_SPOOFABLE_HEADERS}). The stamper answers 200 with the complete new
 * `X-Stella-Provenance` (it chains to the incoming one, which it receives with the request's
 * headers), or an error that Caddy returns to the client as is.
 *
 * Pitfall (notes/gateways.md): when the auth response lacks a copied header, Caddy 2.6.2 sends the
 * literal placeholder text upstream. The edge has already deleted any client copy, and a request
 * whose header does not start like a record (a hop id) after the copy is refused with 502.
 */
export function stampBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  if (hop.stamp === false) return '';
  const endpoint = stamperEndpoint(hop);
  if (!endpoint) throw new TypeError(`caddy renderer: hop ${hop.id} stamps via forward-auth but has no stamp.stamper`);
  // v2 (docs/provenance.md#part-2-version-2): the stamper answers the complete Signature-Input and
  // Signature, replacing the incoming ones; a v2-only hop is checked on Signature-Input instead.
  const profile = hop.stamp.profile;
  const copied = [...(profile === 'v2' ? [] : [PROVENANCE_HEADER]), ...(profile === 'v1' ? [] : V2_HEADERS)];
  const checked = profile === 'v2' ? 'Signature-Input' : PROVENANCE_HEADER;
  return `		# Stamping: the stamper computes record seq=${hop.stampSeq ?? '?'} (docs/CONVENTIONS.md, stamper contract).
		${stamperTransport(topology, hop, endpoint)}
			uri ${STAMPER_URI}
${STAMPER_SPOOFABLE_HEADERS.map((name) => `			header_up -${name}`).join('\n')}
			header_up ${CLIENT_CERT_HEADER} ":{http.request.tls.client.certificate_der_base64}:"
			copy_headers ${copied.join(' ')}
		}
		@unstamped not header_regexp ${checked} "^[a-z]"
		respond @unstamped "stamper returned no provenance record" 502`;
}

/**
 * How Caddy reaches the stamper (docs/gateways/caddy.md "The stamper"): its Unix socket, or mTLS
 * presenting this hop's own certificate. Idle connections are kept for the next request either way.
 */
function stamperTransport(topology: ResolvedTopology, hop: ResolvedHop, endpoint: StamperEndpoint): string {
  const keepAlive = `				keepalive ${STAMPER_KEEPALIVE}
				keepalive_idle_conns_per_host ${STAMPER_IDLE_CONNECTIONS}`;
  if (endpoint.kind === 'unix') {
    return `# Reached on its Unix socket only this hop's account can open (0600 in a 0700 folder).
		forward_auth ${quoted(`unix/${endpoint.socket}`)} {
			transport http {
${keepAlive}
			}`;
  }
  return `# Reached over mTLS: Caddy presents this hop's certificate; the stamper admits no other.
		forward_auth https://${endpoint.host}:${endpoint.port} {
			transport http {
				tls_client_auth ${quoted(hop.upstreamTls.chain)} ${quoted(hop.upstreamTls.key)}
				tls_trusted_ca_certs ${quoted(topology.pki.caBundle)}
				tls_server_name ${quoted(endpoint.serverName)}
				dial_timeout ${UPSTREAM_CONNECT_TIMEOUT_SECONDS}s
${keepAlive}
			}`;
}

/** Toward the next hop: mTLS as this hop, next hop verified by CA bundle and serverName; Host = serverName. */
export function upstreamBlock(topology: ResolvedTopology, hop: ResolvedHop): string {
  const next = nextTarget(hop);
  // docs/gateways/README.md#timeouts
  const timeouts = hopTimeouts(hop);
  const addresses = nextAddresses(hop);
  const upstreams = addresses.map((a) => `https://${a.host}:${a.port}`).join(' ');
  // Replicas of a service (docs/topology.md#replicas): round-robin over the replicas whose
  // readiness answers (checked every second over the same mTLS). A request whose connection fails
  // tries another replica for up to 5 s, but Caddy 2.6 cannot send a body a second time (it keeps
  // none): a POST that meets a replica stopped since the last check fails (502) and the worker
  // retries it (docs/topology.md#replicas).
  const balancing = addresses.length > 1 ? `
			lb_policy round_robin
			lb_try_duration 5s
			health_uri /healthz/ready
			health_interval 1s
			health_timeout 2s` : '';
  return `		# Upstream: re-originate mTLS to ${next.id}. This hop presents one certificate only, so a
		# resumed TLS session can never carry another identity.
		reverse_proxy ${upstreams} {
			header_up Host ${quoted(next.serverName)}${balancing}
			transport http {
				tls_client_auth ${quoted(hop.upstreamTls.chain)} ${quoted(hop.upstreamTls.key)}
				tls_trusted_ca_certs ${quoted(topology.pki.caBundle)}
				tls_server_name ${quoted(next.serverName)}
				dial_timeout ${timeouts.connectSeconds}s
				response_header_timeout ${timeouts.upstreamSeconds}s
			}
		}`;
}

/**
 * The artifact upload path for `path_regexp`: the same pattern with its `{64}` spelled out, as a
 * Caddyfile word must hold no braces (placeholders).
 */
export const CADDY_ARTIFACT_PATH_REGEXP = ARTIFACT_UPLOAD_PATH_PATTERN.replace('[0-9a-f]{64}', '[0-9a-f]'.repeat(64));

/** The whole Caddyfile of a hop. */
export function renderCaddyfile(topology: ResolvedTopology, hop: ResolvedHop, hopDir: string): string {
  // `bind` takes an IPv6 address without brackets, as parseHostPort returns it.
  const { host, port } = parseHostPort(hop.listen);
  const limits = hopBodyLimits(hop);
  const route = [peerCheck(topology, hop), healthResponse(hop), stripHeaders(topology, hop), requestIdBlock(topology, hop), stampBlock(topology, hop), upstreamBlock(topology, hop)]
    .filter((block) => block !== '')
    .join('\n\n');
  return `# Caddy hop "${hop.id}" of topology "${topology.name}" — rendered by stella-gateway; do not edit by hand.
# Run: caddy run --config ${hopDir}/Caddyfile --adapter caddyfile    Check: caddy validate --config … --adapter caddyfile
${globalOptions(hopDir)}

# Any Host: the listener is this hop's alone and peers are identified by certificate.
https://:${port} {
	bind ${host}
${tlsBlock(topology, hop)}

	log {
		output file ${quoted(`${hopDir}/logs/access.log`)}
	}

	# Body limits (docs/services.md#size): maxArtifactBytes on the artifact upload path, maxBodyBytes elsewhere.
	# Two disjoint matchers: nested request_body limits would both apply, the smaller winning.
	@stella_artifact_upload path_regexp ${quoted(CADDY_ARTIFACT_PATH_REGEXP)}
	@stella_other_paths not path_regexp ${quoted(CADDY_ARTIFACT_PATH_REGEXP)}
	request_body @stella_artifact_upload {
		max_size ${limits.maxArtifactBytes}
	}
	request_body @stella_other_paths {
		max_size ${limits.maxBodyBytes}
	}

	route {
${route}
	}
}
`;
}
