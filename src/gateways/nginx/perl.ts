/**
 * The Perl module an NGINX hop stamps with (`perl_set`, Debian's libnginx-mod-http-perl): it builds
 * this hop's record of docs/provenance.md and returns the new `X-Stella-Provenance` value.
 *
 * Only hop constants (id, seq, kid, key *path*) are rendered into it; the key is read from its file
 * when NGINX loads the module, so the rendered folder holds no secret (docs/CONVENTIONS.md).
 * Facts it relies on (../shared/notes/gateways.md): `Digest::SHA` computes HMAC-SHA256 correctly;
 * its `*_base64` functions drop the padding, so `MIME::Base64::encode_base64` encodes instead;
 * `$ssl_client_raw_cert` is the PEM; `$request_id` is 32 lowercase hex; a `perl_set` variable is
 * computed once per request.
 */
import { MIN_HMAC_KEY_BYTES } from '../../conventions/index.js';
import { v1StampKey, type StampFacts } from '../hop-facts.js';

/** The file name of the module inside the hop folder, and its package. */
export const PERL_MODULE_FILE = 'stella_stamp.pm';
export const PERL_PACKAGE = 'StellaStamp';
/** `perl_set $stella_provenance StellaStamp::header;` */
export const PERL_HEADER_SUB = `${PERL_PACKAGE}::header`;

/** A Perl single-quoted string literal: only `\` and `'` are special there. */
export function perlString(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** The constants of this hop, rendered as Perl. */
function hopConstants(hopId: string, stamp: StampFacts): string {
  // Validation refuses a native NGINX hop that stamps v2 (docs/provenance.md#part-2-version-2).
  if (!stamp.key) throw new TypeError(`hop ${hopId}: a native NGINX hop stamps v1 and needs a MAC key; validate the topology first`);
  return [
    `our $HOP      = ${perlString(hopId)};`,
    `our $SEQ      = ${stamp.seq};`,
    `our $KID      = ${perlString(v1StampKey(stamp).kid)};`,
    `our $KEY_FILE = ${perlString(v1StampKey(stamp).file)};`,
  ].join('\n');
}

/** Reads the key file once at start-up; dies (NGINX then refuses to start) on a bad file. */
const LOAD_KEY = String.raw`# docs/CONVENTIONS.md: base64 text, >= ${MIN_HMAC_KEY_BYTES} bytes decoded, whitespace ignored.
sub load_key {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "stella: cannot read MAC key file $file: $!\n";
    my $text = do { local $/; <$fh> };
    close($fh);
    $text =~ s/\s+//g;
    $text =~ tr{-_}{+/};
    die "stella: $file is not base64 text\n" unless $text =~ m{\A[A-Za-z0-9+/]+={0,2}\z};
    my $key = decode_base64($text);
    die "stella: $file holds fewer than ${MIN_HMAC_KEY_BYTES} bytes\n" if length($key) < ${MIN_HMAC_KEY_BYTES};
    return $key;
}

our $KEY = load_key($KEY_FILE);`;

/** The per-request code: docs/provenance.md MAC input, record serialization (RFC 9651) and chaining. */
const STAMP = String.raw`# The DER of the PEM NGINX verified; its SHA-256 is the record's "peer".
sub pem_to_der {
    my ($pem) = @_;
    $pem =~ s/-----(?:BEGIN|END) CERTIFICATE-----//g;
    return decode_base64($pem);
}

# The chain field: the base64 MAC of the record before this one, i.e. the last "mac=:...:" of
# the incoming list (empty when there is none; the verifier then rejects the chain).
sub previous_mac {
    my ($incoming) = @_;
    my @macs = $incoming =~ m{;mac=:([A-Za-z0-9+/]*={0,2}):}g;
    return @macs ? $macs[-1] : '';
}

sub header {
    my ($r) = @_;
    my $pem = $r->variable('ssl_client_raw_cert') // '';
    # ssl_verify_client on refused such a request already; never stamp without a verified peer.
    return '' if $pem eq '';
    # docs/provenance.md#6-threat-model (rule 1): the first stamping hop ignores whatever the client sent.
    my $incoming = $SEQ == 1 ? '' : ($r->header_in('X-Stella-Provenance') // '');
    my $ts = time();
    my $nonce = $r->variable('request_id');
    my $peer = 'sha256:' . sha256_hex(pem_to_der($pem));
    my $peer_id = $r->variable('stella_peer_cn') // '';
    my $input = join('|',
        'stella-provenance-v1', $HOP, $SEQ, $ts, $nonce, $peer, $peer_id,
        $r->request_method, $r->variable('request_uri'),
        $r->header_in('X-Stella-Scan-Id') // '', $r->header_in('Content-Digest') // '',
        previous_mac($incoming));
    my $mac = encode_base64(hmac_sha256($input, $KEY), '');
    my $record = sprintf('%s;seq=%d;ts=%d;nonce="%s";peer="%s";peer-id="%s";kid="%s";mac=:%s:',
        $HOP, $SEQ, $ts, $nonce, $peer, $peer_id, $KID, $mac);
    return $incoming eq '' ? $record : "$incoming, $record";
}`;

/**
 * Renders the module of a native-stamping hop.
 *
 * @example
 * perlModule('gw-edge', { via: 'native', seq: 1, key: { kid: 'edge-1', file: '/keys/edge' }, stamper: null });
 */
export function perlModule(hopId: string, stamp: StampFacts): string {
  return [
    `# Rendered by stella-gateway for hop ${hopId}: stamps its X-Stella-Provenance record (docs/provenance.md).`,
    '# See docs/gateways/nginx.md. The MAC key is read from its file when NGINX starts.',
    `package ${PERL_PACKAGE};`,
    'use strict;',
    'use warnings;',
    'use nginx;',
    'use Digest::SHA qw(hmac_sha256 sha256_hex);',
    'use MIME::Base64 qw(encode_base64 decode_base64);',
    '',
    hopConstants(hopId, stamp),
    '',
    LOAD_KEY,
    '',
    STAMP,
    '',
    '1;',
    '',
  ].join('\n');
}
