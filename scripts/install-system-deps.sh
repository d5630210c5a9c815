#!/usr/bin/env bash
# Checks Node.js (>= 20.19) and installs the system programs the gateways, the demo and the tests
# use, when any is missing: NGINX (+ perl module), HAProxy (+ lua-luaossl, lua5.3), Apache + mod_security2 + OWASP CRS,
# Caddy, PostgreSQL, OpenSSL, python3-securesystemslib for the interop suite, and the OCI registry
# behind the guard (docker-registry, with skopeo as the tests' independent registry client), and
# systemd's analyzer, which checks the rendered units (`systemd-analyze verify` reads unit files; no
# running systemd is needed).
# On a machine where it cannot install them (not root, no apt), it fails and prints the exact
# command to run. It never skips silently.
set -euo pipefail

# Node.js itself is not a Debian 12 package in a usable version (bookworm's nodejs is 18): check
# it first and name the command, since nothing below can run without it.
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}
if ! node_ok; then
  echo "stella-gateway: Node.js >= 20.19 with npm is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Debian 12's own nodejs is 18. Install Node.js 22 or 24 (the LTS lines; 20 >= 20.19 also works), for example as root:" >&2
  echo "  curl -fsSL https://deb.nodesource.com/setup_22.x | bash - && apt-get install -y nodejs" >&2
  exit 1
fi

PACKAGES=(nginx libnginx-mod-http-perl haproxy lua-luaossl lua5.3 apache2 libapache2-mod-security2 modsecurity-crs caddy postgresql openssl ca-certificates python3-securesystemslib docker-registry skopeo systemd)

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have nginx || missing+=(nginx)
[ -f /usr/share/perl5/nginx.pm ] || ls /usr/lib/x86_64-linux-gnu/perl5/*/nginx.pm >/dev/null 2>&1 || [ -f /usr/lib/nginx/modules/ngx_http_perl_module.so ] || missing+=(libnginx-mod-http-perl)
have haproxy || missing+=(haproxy)
# HAProxy's provenance v2 Lua action signs through luaossl (docs/gateways/haproxy.md "Provenance v2").
[ -f /usr/share/lua/5.3/openssl.lua ] || missing+=(lua-luaossl)
# The tests also run that action outside HAProxy, with the same Lua and luaossl.
have lua5.3 || missing+=(lua5.3)
have apache2 || missing+=(apache2)
[ -f /usr/lib/apache2/modules/mod_security2.so ] || missing+=(libapache2-mod-security2)
[ -d /usr/share/modsecurity-crs/rules ] || missing+=(modsecurity-crs)
have caddy || missing+=(caddy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
have openssl || missing+=(openssl)
# The interop suite's independent DSSE checker (test/interop/support/dsse_oracle.py) runs on Debian's python3.
/usr/bin/python3 -c 'import securesystemslib.signer, cryptography' >/dev/null 2>&1 || missing+=(python3-securesystemslib)
have docker-registry || missing+=(docker-registry)
have skopeo || missing+=(skopeo)
have systemd-analyze || missing+=(systemd)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "stella-gateway: missing system packages: ${missing[*]}" >&2
  echo "Install them (as root, on Debian 12) with:" >&2
  echo "  $cmd" >&2
  exit 1
fi

echo "stella-gateway: installing system packages (missing: ${missing[*]})" >&2
# Packages must not start their own services: every daemon runs with the project's own config.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
