/**
 * The ModSecurity 2 engine settings and the OWASP CRS 3.3 tuning of the WAF hop.
 *
 * `renderModSecurityConf` is Debian's `/etc/modsecurity/modsecurity.conf-recommended` (ModSecurity
 * 2.9.7) carried over directive by directive, with the changes the hop needs, each marked "stella:"
 * in the output. Copying it into the hop folder instead of editing `/etc/modsecurity` keeps the
 * system untouched and lets several WAF hops differ (notes/gateways.md, "Apache 2.4 + mod_security2").
 */
import type { ResolvedHop } from '../../topology/resolve.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../../dsse/intoto.js';
import { ARTIFACT_UPLOAD_PATH_PATTERN } from '../../evidence/artifacts.js';
import { hopBodyLimits } from '../hop-facts.js';
import { MANIFEST_MEDIA_TYPES, REPOSITORY_PATTERN, TAG_PATTERN } from '../../registry/oci.js';
import { DEFAULT_INBOUND_ANOMALY_THRESHOLD, DEFAULT_PARANOIA_LEVEL, GUARDED_SERVICE_KINDS, KID_PATTERN } from '../../topology/schema.js';
import { APACHE_SYSTEM_PATHS, type ApacheHopLayout } from './layout.js';
import { escapeRegExp, patternBody } from '../../conventions/index.js';

/** CRS defaults when a WAF hop has no `waf:` block (the schema's defaults, which `resolveTopology` applies). */
export { DEFAULT_INBOUND_ANOMALY_THRESHOLD, DEFAULT_PARANOIA_LEVEL };
/** CRS 3.3's own default; response inspection is not what this hop is for. */
const OUTBOUND_ANOMALY_THRESHOLD = 4;

/** The request body limit the WAF enforces: the hop's `limits.maxBodyBytes`. */
export function maxBodyBytes(hop: ResolvedHop): number {
  return hop.limits.maxBodyBytes;
}

/** `modsecurity.conf`: Debian's recommended engine configuration, engine on, paths inside the hop folder. */
export function renderModSecurityConf(hop: ResolvedHop, layout: ApacheHopLayout): string {
  const bodyBytes = maxBodyBytes(hop);
  return `# ModSecurity 2 engine settings of WAF hop "${hop.id}".
# A copy of Debian's /etc/modsecurity/modsecurity.conf-recommended; lines changed for the hop say "stella:".

# stella: Debian ships DetectionOnly, which logs but blocks nothing.
SecRuleEngine On

SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\\+|/)|text/)xml" \\
     "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
# stella: an envelope body over ${JSON_INSPECTION_MAX_BYTES} bytes (or of unknown length) is not parsed as JSON:
# ModSecurity's JSON parser takes time quadratic in the length of one string (about 23 s for a
# 16 MiB payload). Its raw body is held to the canonical envelope form instead (crs-tuning.conf, rule 10103).
${largeEnvelopeRules()}
# stella: ${IN_TOTO_PAYLOAD_TYPE} is JSON too (the locker takes envelopes as either); parsed, it stays inspected.
SecRule REQUEST_HEADERS:Content-Type "${JSON_CONTENT_TYPE_PATTERN}" \\
     "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,chain"
     SecRule &TX:stella_large_envelope "@eq 0" "t:none,ctl:requestBodyProcessor=JSON"
# stella: an artifact upload is the file's exact bytes (an SBOM, a tarball), bound by the locker to a
# signed digest: ModSecurity does not read or buffer it, and octet-stream is allowed on that route only
# (docs/gateways/apache-modsecurity.md#artifact-uploads). Path, query and headers stay inspected.
${artifactUploadRule(hop)}

# stella: the three body limits follow limits.maxBodyBytes. Debian's 128 KiB SecRequestBodyNoFilesLimit
# would refuse every larger DSSE envelope (a JSON body has no "files"), and a body buffered in
# memory never needs a temp file that the unprivileged children would have to write.
SecRequestBodyLimit ${bodyBytes}
SecRequestBodyNoFilesLimit ${bodyBytes}
SecRequestBodyInMemoryLimit ${bodyBytes}
SecRequestBodyLimitAction Reject
SecRequestBodyJsonDepthLimit 512

SecRule REQBODY_ERROR "!@eq 0" \\
"id:'200002', phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \\
"id:'200003',phase:2,t:none,log,deny,status:400, \\
msg:'Multipart request body failed strict validation: \\
PE %{REQBODY_PROCESSOR_ERROR}, \\
BQ %{MULTIPART_BOUNDARY_QUOTED}, \\
BW %{MULTIPART_BOUNDARY_WHITESPACE}, \\
DB %{MULTIPART_DATA_BEFORE}, \\
DA %{MULTIPART_DATA_AFTER}, \\
HF %{MULTIPART_HEADER_FOLDING}, \\
LF %{MULTIPART_LF_LINE}, \\
SM %{MULTIPART_MISSING_SEMICOLON}, \\
IQ %{MULTIPART_INVALID_QUOTING}, \\
IP %{MULTIPART_INVALID_PART}, \\
IH %{MULTIPART_INVALID_HEADER_FOLDING}, \\
FL %{MULTIPART_FILE_LIMIT_EXCEEDED}'"
SecRule MULTIPART_UNMATCHED_BOUNDARY "!@eq 0" \\
"id:'200004',phase:2,t:none,log,deny,msg:'Multipart parser detected a possible unmatched boundary.'"

SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecRule TX:/^MSC_/ "!@streq 0" \\
        "id:'200005',phase:2,t:none,deny,msg:'ModSecurity internal error flagged: %{MATCHED_VAR_NAME}'"

SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html text/xml
SecResponseBodyLimit 524288
SecResponseBodyLimitAction ProcessPartial

# stella: temp and persistent data inside the hop folder instead of /tmp.
SecTmpDir ${layout.tmpDir}
SecDataDir ${layout.dataDir}

SecAuditEngine RelevantOnly
SecAuditLogRelevantStatus "^(?:5|4(?!04))"
SecAuditLogParts ABDEFHIJZ
SecAuditLogType Serial
# stella: the audit log of this hop, next to its error log.
SecAuditLog ${layout.logsDir}/modsec_audit.log

SecArgumentSeparator &
SecCookieFormat 0
# stella: absolute; the relative name only resolves inside /etc/modsecurity.
SecUnicodeMapFile ${APACHE_SYSTEM_PATHS.unicodeMapping} 20127
SecStatusEngine Off
`;
}

/**
 * `crs-tuning.conf`: the paranoia level and inbound anomaly threshold of `hop.waf`, set the way
 * CRS 3.3's crs-setup.conf documents (rules 900000 and 900110). It is included after Debian's
 * crs-setup.conf and before the rules, whose initialisation (901) keeps values already set.
 * `tx.blocking_paranoia_level` is CRS 4's name for the same setting; setting both keeps the file
 * right after an upgrade.
 */
export function renderCrsTuning(hop: ResolvedHop): string {
  const { paranoiaLevel: paranoia, inboundAnomalyThreshold: threshold } = hop.waf;
  return `# OWASP CRS tuning of WAF hop "${hop.id}" (topology: waf.paranoiaLevel, waf.inboundAnomalyThreshold).
SecAction \\
    "id:900000,\\
    phase:1,\\
    nolog,\\
    pass,\\
    t:none,\\
    setvar:tx.paranoia_level=${paranoia},\\
    setvar:tx.blocking_paranoia_level=${paranoia}"

SecAction \\
    "id:900110,\\
    phase:1,\\
    nolog,\\
    pass,\\
    t:none,\\
    setvar:tx.inbound_anomaly_score_threshold=${threshold},\\
    setvar:tx.outbound_anomaly_score_threshold=${OUTBOUND_ANOMALY_THRESHOLD}"

${envelopeFieldsBlock()}
${leadsToGuardedService(hop) ? `
${registryRouteRules()}
` : ''}`;
}

/**
 * Whether a hop's chain ends at a service behind a guard (an `oci-registry`): only such a WAF hop
 * gets the registry route rules.
 */
function leadsToGuardedService(hop: ResolvedHop): boolean {
  let target = hop.nextTarget;
  while (target.type === 'hop') target = target.hop.nextTarget;
  return GUARDED_SERVICE_KINDS.has(target.service.kind);
}

/** Blob upload sessions of the OCI distribution API (POST to start, PUT/PATCH to send). */
export const REGISTRY_UPLOAD_ROUTE_PATTERN = `^/v2/${patternBody(REPOSITORY_PATTERN)}/blobs/uploads/[A-Za-z0-9-]*$`;
/** Manifests by tag or digest (PUT to push). */
export const REGISTRY_MANIFEST_ROUTE_PATTERN = `^/v2/${patternBody(REPOSITORY_PATTERN)}/manifests/(?:${patternBody(TAG_PATTERN)}|sha256:[a-f0-9]{64})$`;

/**
 * The OCI distribution API pushes with PUT and PATCH and sends blobs as
 * `application/octet-stream` and manifests under their own media types, all of which CRS 3.3's
 * default policy refuses (rules 911100, 920420). On exactly those two route shapes, and only on a
 * WAF hop in front of a registry, the policy is widened to what the route needs; every other CRS
 * rule still runs on them (docs/gateways/apache-modsecurity.md#registry-routes). Set in phase 1,
 * before the CRS initialisation (901), which keeps values already set.
 */
function registryRouteRules(): string {
  const types = (list: readonly string[]): string => list.map((t) => `|${t}|`).join(' ');
  return `# stella: OCI registry routes (docs/gateways/apache-modsecurity.md#registry-routes).
SecRule REQUEST_FILENAME "@rx ${REGISTRY_UPLOAD_ROUTE_PATTERN}" \\
    "id:10110,\\
    phase:1,\\
    pass,\\
    nolog,\\
    t:none,\\
    setvar:'tx.allowed_methods=GET HEAD POST PUT PATCH',\\
    setvar:'tx.allowed_request_content_type=${types(['application/octet-stream'])}'"

SecRule REQUEST_FILENAME "@rx ${REGISTRY_MANIFEST_ROUTE_PATTERN}" \\
    "id:10111,\\
    phase:1,\\
    pass,\\
    nolog,\\
    t:none,\\
    setvar:'tx.allowed_methods=GET HEAD PUT',\\
    setvar:'tx.allowed_request_content_type=${types(MANIFEST_MEDIA_TYPES)}'"`;
}

/**
 * The routes whose body is a DSSE envelope (docs/services.md): evidence ingest and signed completion reports.
 * Their `payload` and `signatures[].sig` are base64, opaque to the CRS (it does not decode them),
 * and random base64 trips its rules: `…9onnylMrIVQ=` reads as an XSS event handler to rule
 * 941120, which blocked about 1 genuine envelope in 1,000 (bench/RESULTS.md). So the two fields
 * are taken out of every CRS rule and held to the base64 alphabet instead, which is all the locker
 * accepts there anyway; every other field and header stays inspected
 * (docs/gateways/apache-modsecurity.md#envelope-routes).
 */
export const ENVELOPE_ROUTE_PATTERN = '^/api/v1/(?:evidence|scans/[^/]+/complete)$';
/** ModSecurity's names for those fields under its JSON body processor (seen in its audit log). */
export const ENVELOPE_BASE64_ARGS = ['ARGS:payload', 'ARGS:signatures.signatures.sig'] as const;
/**
 * Envelope bodies up to this size are parsed as JSON and every member goes through the CRS.
 * Measured on the WAF hop: 1 MiB of payload costs about 0.1 s of parsing, 16 MiB about 23 s.
 */
export const JSON_INSPECTION_MAX_BYTES = 1024 * 1024;

const BASE64_FIELD = '[A-Za-z0-9+/]*+={0,2}';
const SIGNATURE = `\\{\\x22keyid\\x22:\\x22(?:${patternBody(KID_PATTERN)})?\\x22,\\x22sig\\x22:\\x22[A-Za-z0-9+/]{1,4096}={0,2}\\x22\\}`;
/**
 * A large envelope must be exactly what the worker serializes (`serializeEnvelopeBytes`,
 * docs/dsse.md): no member other than the three, every byte from a closed alphabet, so nothing in
 * it can carry an attack the CRS would have looked for. PCRE scans it once, possessively.
 */
export const CANONICAL_ENVELOPE_PATTERN =
  `^\\{\\x22payloadType\\x22:\\x22[A-Za-z0-9.+/_-]{1,128}\\x22,\\x22payload\\x22:\\x22${BASE64_FIELD}\\x22,` +
  `\\x22signatures\\x22:\\[${SIGNATURE}(?:,${SIGNATURE}){0,31}\\]\\}$`;

/**
 * The artifact upload route (docs/services.md#artifacts): `POST /api/v1/artifacts/<sha256>` with an
 * `application/octet-stream` body that the locker hashes and binds to a signed subject digest.
 */
export const ARTIFACT_ROUTE_PATTERN = ARTIFACT_UPLOAD_PATH_PATTERN;
/**
 * CRS 3.3 rule that refuses a Content-Type outside `tx.allowed_request_content_type`, where
 * `application/octet-stream` is not; removed for the artifact route only.
 */
export const CRS_CONTENT_TYPE_RULE = 920420;

/**
 * Phase 1: on the artifact route with exactly `application/octet-stream`, the body is not read by
 * ModSecurity at all (`requestBodyAccess=Off`: not held in the WAF's memory, not parsed, not
 * matched — opaque bytes have nothing the CRS could recognise, and the locker checks them against
 * a signed digest), and the content-type policy rule is lifted for it (without this rule every
 * upload is a 403 of rule 920420, test/e2e/artifacts.test.ts). The request line, query and headers
 * still go through every CRS rule.
 *
 * The body limit of that route is a rule of its own (413 above `limits.maxArtifactBytes`): with
 * body access off no ModSecurity limit applies, and Apache's `LimitRequestBody` does not bound a
 * reverse-proxied body with a Content-Length (mod_proxy_http streams it; measured,
 * test/gateways/apache/waf-behaviour.test.ts). A chunked upload of unknown length is bounded by the
 * locker (docs/services.md#size).
 */
function artifactUploadRule(hop: ResolvedHop): string {
  return `SecRule REQUEST_FILENAME "@rx ${ARTIFACT_ROUTE_PATTERN}" "id:200020,phase:1,t:none,pass,nolog,chain"
     SecRule REQUEST_METHOD "@streq POST" "t:none,chain"
     SecRule REQUEST_HEADERS:Content-Type "@rx ^application/octet-stream$" "t:none,t:lowercase,ctl:requestBodyAccess=Off,ctl:ruleRemoveById=${CRS_CONTENT_TYPE_RULE}"
SecRule REQUEST_FILENAME "@rx ${ARTIFACT_ROUTE_PATTERN}" "id:200021,phase:1,t:none,deny,status:413,log,msg:'Artifact upload over limits.maxArtifactBytes',chain"
     SecRule REQUEST_HEADERS:Content-Length "@gt ${hopBodyLimits(hop).maxArtifactBytes}" "t:none"`;
}

/** Phase 1, before the JSON processor rule: marks a large (or unknown-length) envelope body. */
function largeEnvelopeRules(): string {
  const mark = 'setvar:tx.stella_large_envelope=1,ctl:forceRequestBodyVariable=On';
  return `SecRule REQUEST_FILENAME "@rx ${ENVELOPE_ROUTE_PATTERN}" "id:200010,phase:1,t:none,pass,nolog,chain"
     SecRule REQUEST_HEADERS:Content-Length "@gt ${JSON_INSPECTION_MAX_BYTES}" "t:none,${mark}"
SecRule REQUEST_FILENAME "@rx ${ENVELOPE_ROUTE_PATTERN}" "id:200011,phase:1,t:none,pass,nolog,chain"
     SecRule &REQUEST_HEADERS:Transfer-Encoding "@gt 0" "t:none,${mark}"`;
}

/**
 * After the CRS rules are loaded: the base64 fields leave their target lists. This must happen at
 * configuration time: ModSecurity 2 applies a rule's transformations to a variable before it looks
 * at a run-time exclusion (`ctl:ruleRemoveTargetByTag`), so a 16 MiB payload was still decoded by
 * every rule, about 17 s per envelope. It holds on every route, hence rule 10101 does too.
 */
export function renderCrsTargetUpdates(): string {
  return `SecRuleUpdateTargetByTag OWASP_CRS "${ENVELOPE_BASE64_ARGS.map((arg) => `!${arg}`).join('|')}"`;
}

/** The Content-Types ModSecurity parses as JSON (lower-cased first): application/json and the in-toto media type. */
const JSON_CONTENT_TYPE_PATTERN = `^(?:application/json|${escapeRegExp(IN_TOTO_PAYLOAD_TYPE)})`;

/**
 * CRS 3.3 refuses every Content-Type outside `tx.allowed_request_content_type` (rule 920420, phase 2),
 * `application/vnd.in-toto+json` among them, though the locker accepts envelopes in it. This rule
 * adds that one type, on the envelope routes only, after CRS set its default list (rule 901162,
 * phase 1, earlier in the file). The body is parsed as JSON (rule 200001), so the CRS still
 * inspects every member (docs/gateways/apache-modsecurity.md#envelope-routes).
 */
export function renderEnvelopeContentTypes(): string {
  return `# stella: envelope routes also take ${IN_TOTO_PAYLOAD_TYPE} (CRS rule 920420 would refuse it).
SecRule REQUEST_FILENAME "@rx ${ENVELOPE_ROUTE_PATTERN}" \\
    "id:10104,\\
    phase:1,\\
    pass,\\
    nolog,\\
    t:none,\\
    setvar:'tx.allowed_request_content_type=%{tx.allowed_request_content_type} |${IN_TOTO_PAYLOAD_TYPE}|'"`;
}

function envelopeFieldsBlock(): string {
  return `# stella: DSSE envelope fields are base64: out of the CRS rules (apache2.conf, after the rules), held to the
# base64 alphabet here, on every route.
SecRule ${ENVELOPE_BASE64_ARGS.join('|')} "!@rx ^[A-Za-z0-9+/_-]*={0,2}$" \\
    "id:10101,\\
    phase:2,\\
    deny,\\
    status:403,\\
    log,\\
    t:none,\\
    msg:'DSSE envelope field is not base64'"

# stella: an envelope too large to parse as JSON (modsecurity.conf, rules 200010-200011) must be canonical.
SecRule TX:stella_large_envelope "@eq 1" \\
    "id:10103,\\
    phase:2,\\
    deny,\\
    status:403,\\
    log,\\
    t:none,\\
    msg:'Large DSSE envelope is not in canonical form',\\
    chain"
    SecRule REQUEST_BODY "!@rx ${CANONICAL_ENVELOPE_PATTERN}" "t:none"`;
}
