#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it: system packages, npm packages,
# a PostgreSQL cluster of its own, then lint, typecheck, build and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
if [ -n "${CI:-}" ] || [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi

pgdir=$(mktemp -d /tmp/stella-test-pg.XXXXXX)
cleanup() { bash scripts/pg-cluster.sh stop "$pgdir" || true; rm -rf "$pgdir"; }
trap cleanup EXIT
STELLA_TEST_PG_URL=$(bash scripts/pg-cluster.sh start "$pgdir")
export STELLA_TEST_PG_URL

npm run lint
npm run typecheck
npm run build
node scripts/run-tests.mjs "$@"
