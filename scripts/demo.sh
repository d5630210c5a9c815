#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs `stella-gateway demo`
# (a whole chain on real NGINX, Apache+ModSecurity+CRS and HAProxy in a temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run --silent build
exec node bin/stella-gateway.js demo "$@"
