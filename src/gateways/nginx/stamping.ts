/**
 * The stamping blocks of an NGINX hop (SPEC §4): MAC-input hygiene, native stamping through the
 * Perl module, and the `auth_request` location of a forward-auth hop (the stamper contract of
 * docs/CONVENTIONS.md). `config.ts` places them in `nginx.conf`.
 */
import { formatAddress, SCAN_ID_REGEX, type HopFacts } from '../hop-facts.js';
import { nginxPath, nginxString, STRIP_HEADERS_FILE, type NginxPaths } from './syntax.js';
import { PERL_HEADER_SUB, PERL_MODULE_FILE } from './perl.js';

/** The internal location NGINX's `auth_request` calls for a forward-auth hop. */
export const STAMPER_LOCATION = '/_stella/stamp';

/**
 * A stamping hop refuses (403, as the stamper does) input that would make the MAC fields ambiguous:
 * a scan id outside SPEC §4's format, or a `|` in `Content-Digest`.
 */
export function macInputMaps(): string {
  return [
    '    map $http_x_stella_scan_id $stella_scan_id_ok {',
    '        "" 1;',
    `        ${nginxString(`~${SCAN_ID_REGEX}`)} 1;`,
    '        default 0;',
    '    }',
    '    map $http_content_digest $stella_digest_ok {',
    '        "~[|]" 0;',
    '        default 1;',
    '    }',
  ].join('\n');
}

/** Native stamping: the Perl module, loaded from the hop folder (it reads the key file). */
export function perlStamping(paths: NginxPaths): string {
  return [
    `    perl_modules ${nginxPath(paths.hopDir)};`,
    `    perl_require ${PERL_MODULE_FILE};`,
    `    perl_set $stella_provenance ${PERL_HEADER_SUB};`,
  ].join('\n');
}

/**
 * Forward-auth: the stamper contract of docs/CONVENTIONS.md. The body stays here (notes); the
 * stamper gets the original method and URI, the verified certificate, and the incoming
 * provenance (none at seq 1: rule 1).
 */
export function stamperLocation(facts: HopFacts, paths: NginxPaths): string {
  const stamper = facts.stamp?.stamper;
  if (!stamper) return '';
  const incoming = facts.dropIncomingProvenance ? '""' : '$http_x_stella_provenance';
  return [
    `        location = ${STAMPER_LOCATION} {`,
    '            internal;',
    `            include ${nginxPath(`${paths.hopDir}/${STRIP_HEADERS_FILE}`)};`,
    '            proxy_pass_request_body off;',
    '            proxy_set_header Content-Length "";',
    '            proxy_set_header X-Original-Method $request_method;',
    '            proxy_set_header X-Original-URI $request_uri;',
    '            proxy_set_header X-Stella-Client-Cert $ssl_client_escaped_cert;',
    `            proxy_set_header X-Stella-Provenance ${incoming};`,
    '            proxy_connect_timeout 2s;',
    '            proxy_read_timeout 10s;',
    `            proxy_pass http://${formatAddress(stamper)}/stamp;`,
    '        }',
  ].join('\n');
}
