/**
 * The stamping blocks of an NGINX hop (docs/provenance.md): MAC-input hygiene, native stamping through the
 * Perl module, and the `auth_request` location of a forward-auth hop (the stamper contract of
 * docs/CONVENTIONS.md). `config.ts` places them in `nginx.conf`.
 */
import { formatAddress, SCAN_ID_REGEX, type HopFacts } from '../hop-facts.js';
import { nginxPath, nginxString, STRIP_HEADERS_FILE, type NginxPaths } from './syntax.js';
import { PERL_HEADER_SUB, PERL_MODULE_FILE } from './perl.js';
import { STAMPER_PATH } from '../../provenance/record.js';

/** The internal location NGINX's `auth_request` calls for a forward-auth hop. */
export const STAMPER_LOCATION = '/_stella/stamp';

/**
 * A stamping hop refuses (403, as the stamper does) input that would make the MAC fields ambiguous:
 * a scan id outside docs/provenance.md's format, or a `|` in `Content-Digest`.
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

/** The upstream of the stamper (docs/gateways/nginx.md "The stamper"). */
export const STAMPER_UPSTREAM = 'stella_stamper';
/** Idle connections NGINX keeps to its stamper, so a request costs no new connection. */
const STAMPER_KEEPALIVE_CONNECTIONS = 16;

/**
 * Where the stamper is reached: its Unix socket (only this hop's worker account can open it), or
 * TCP with mTLS. Kept alive: `auth_request` asks the stamper on every request.
 */
export function stamperUpstream(facts: HopFacts): string {
  const stamper = facts.stamp?.stamper;
  if (!stamper) return '';
  const server = stamper.kind === 'unix' ? nginxPath(`unix:${stamper.socket}`) : formatAddress(stamper);
  return [
    `    upstream ${STAMPER_UPSTREAM} {`,
    `        server ${server};`,
    `        keepalive ${STAMPER_KEEPALIVE_CONNECTIONS};`,
    '    }',
  ].join('\n');
}

/**
 * Forward-auth: the stamper contract of docs/CONVENTIONS.md. The body stays here (notes); the
 * stamper gets the original method and URI, the verified certificate, and the incoming
 * provenance (none at seq 1: rule 1). Over mTLS this hop presents its own certificate (the
 * server's `proxy_ssl_certificate`) and checks the stamper's under the hop's own name.
 */
export function stamperLocation(facts: HopFacts, paths: NginxPaths): string {
  const stamper = facts.stamp?.stamper;
  if (!stamper) return '';
  const incoming = facts.dropIncomingProvenance ? '""' : '$http_x_stella_provenance';
  const transport =
    stamper.kind === 'unix'
      ? [`            proxy_pass http://${STAMPER_UPSTREAM}${STAMPER_PATH};`]
      : [`            proxy_ssl_name ${stamper.serverName};`, `            proxy_pass https://${STAMPER_UPSTREAM}${STAMPER_PATH};`];
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
    '            proxy_set_header X-Request-Id $stella_request_id;',
    // Keep-alive toward the upstream needs HTTP/1.1 and no "Connection: close" (NGINX's default).
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    '            proxy_connect_timeout 2s;',
    '            proxy_read_timeout 10s;',
    ...transport,
    '        }',
  ].join('\n');
}
