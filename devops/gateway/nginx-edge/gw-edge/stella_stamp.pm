# Rendered by stella-gateway for hop gw-edge: stamps its X-Stella-Provenance record (docs/provenance.md).
# See docs/gateways/nginx.md. The MAC key is read from its file when NGINX starts.
package StellaStamp;
use strict;
use warnings;
use nginx;
use Digest::SHA qw(hmac_sha256 sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);

our $HOP      = 'gw-edge';
our $SEQ      = 1;
our $KID      = 'edge-2026-11';
our $KEY_FILE = '/etc/stella-gateway/keys/gw-edge.key';

# docs/CONVENTIONS.md: base64 text, >= 32 bytes decoded, whitespace ignored.
sub load_key {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "stella: cannot read MAC key file $file: $!\n";
    my $text = do { local $/; <$fh> };
    close($fh);
    $text =~ s/\s+//g;
    $text =~ tr{-_}{+/};
    die "stella: $file is not base64 text\n" unless $text =~ m{\A[A-Za-z0-9+/]+={0,2}\z};
    my $key = decode_base64($text);
    die "stella: $file holds fewer than 32 bytes\n" if length($key) < 32;
    return $key;
}

our $KEY = load_key($KEY_FILE);

# The DER of the PEM NGINX verified; its SHA-256 is the record's "peer".
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
}

1;
