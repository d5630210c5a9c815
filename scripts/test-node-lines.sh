#!/usr/bin/env bash
# Runs the unit test set under other Node.js lines than the one installed (default: 22 and 24, the
# LTS lines; docs/operations/running.md#nodejs-lines), each in a copy of this checkout so the
# checkout itself is left as it was.
#   bash scripts/test-node-lines.sh            # 22 and 24
#   bash scripts/test-node-lines.sh 22         # one line
#   bash scripts/test-node-lines.sh 24 -- test/dsse   # test files instead of the unit set
#
# The Node.js of each line comes from the npm registry's `node` package (a real binary, installed
# with npm into a temporary folder). The SQLite driver depends on the line (src/io/sqlite-driver.ts):
# - 24 and later load better-sqlite3 13 (the optional `better-sqlite3-napi` alias, prebuilt
#   Node-API addons inside the npm package). npm skips it when it runs on Node.js 20, so it is
#   installed into the copy by npm run with that line's node: nothing is compiled.
# - 22 loads better-sqlite3 12, a native addon built for one Node ABI: the copy's addon is rebuilt
#   from source against the headers the `node` package ships (include/node), so nothing is fetched
#   from GitHub or nodejs.org. The built addon is cached per ABI under
#   ${XDG_CACHE_HOME:-~/.cache}/stella-gateway/, so the second run of a line skips the compile.
# Needs: npm ci done here, a C++ toolchain (g++, make, python3) for 22, and PostgreSQL's initdb (a
# cluster of its own is started unless STELLA_TEST_PG_URL is set). Exit status: non-zero when any
# line fails.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

lines=()
tests=(--only unit)
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; tests=("$@"); break ;;
    *) lines+=("$1"); shift ;;
  esac
done
[ ${#lines[@]} -gt 0 ] || lines=(22 24)

if [ ! -d node_modules/better-sqlite3 ]; then
  echo "test-node-lines: run npm ci first (node_modules/better-sqlite3 is missing)" >&2
  exit 2
fi
gyp=$(npm config get node-gyp 2>/dev/null || true)
if [ -z "$gyp" ] || [ ! -f "$gyp" ]; then gyp=$(dirname "$(dirname "$(realpath "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js; fi
[ -f "$gyp" ] || { echo "test-node-lines: node-gyp not found (it ships with npm); set npm_config_node_gyp" >&2; exit 2; }
npm_cli=$(dirname "$(realpath "$(command -v npm)")")/npm-cli.js
[ -f "$npm_cli" ] || { echo "test-node-lines: npm-cli.js not found beside $(command -v npm)" >&2; exit 2; }
napi_spec=$(node -p 'require("./package.json").optionalDependencies["better-sqlite3-napi"]')

work=$(mktemp -d "${TMPDIR:-/tmp}/stella-node-lines.XXXXXX")
# Some tests run node as another account (the stamper's socket test): it must reach the binary.
chmod 0755 "$work"
pgdir=""
cleanup() {
  if [ -n "$pgdir" ]; then bash "$repo/scripts/pg-cluster.sh" stop "$pgdir" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${STELLA_TEST_PG_URL:-}" ]; then
  pgdir="$work/pg"
  mkdir -p "$pgdir"
  STELLA_TEST_PG_URL=$(bash scripts/pg-cluster.sh start "$pgdir")
  export STELLA_TEST_PG_URL
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/stella-gateway"
mkdir -p "$cache"
sqlite_version=$(node -p 'require("./node_modules/better-sqlite3/package.json").version')
failed=()
summary=()

for line in "${lines[@]}"; do
  echo "== Node.js $line" >&2
  runtime="$work/node$line"
  npm install --prefix "$runtime" --no-save --no-package-lock --no-audit --no-fund "node@$line" >/dev/null
  pkg="$runtime/node_modules/node"
  bin="$pkg/bin/node"
  headers=""
  for d in "$pkg"/node_modules/node-*; do [ -f "$d/include/node/node_api.h" ] && headers="$d"; done
  [ -x "$bin" ] && [ -n "$headers" ] || { echo "test-node-lines: node@$line installed no binary or headers under $pkg" >&2; exit 2; }
  version=$("$bin" --version)
  abi=$("$bin" -p process.versions.modules)

  copy="$work/repo$line"
  mkdir -p "$copy"
  # The tracked files plus the build output, as they are now; node_modules hard-linked (cheap),
  # better-sqlite3 a real copy since its addon is replaced on 22.
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$copy" -xf -
  # A repository of its own, so tests that list the tracked files (test/citations.test.ts) see them.
  git -C "$copy" init -q && git -C "$copy" add -A
  [ -d dist ] && cp -a dist "$copy/dist"
  cp -al node_modules "$copy/node_modules"
  rm -rf "$copy/node_modules/better-sqlite3"
  cp -a node_modules/better-sqlite3 "$copy/node_modules/better-sqlite3"

  major=$("$bin" -p 'process.versions.node.split(".")[0]')
  if [ "$major" -ge 24 ]; then
    # better-sqlite3 13 through npm run by this line's node, so its engines (>=22) are met.
    echo "installing better-sqlite3-napi ($napi_spec) for $version" >&2
    PATH="$pkg/bin:$PATH" "$bin" "$npm_cli" install --prefix "$work/napi$line" --no-save --no-package-lock --no-audit --no-fund \
      "better-sqlite3-napi@$napi_spec" >"$work/napi$line.log" 2>&1 ||
      { tail -n 30 "$work/napi$line.log" >&2; echo "test-node-lines: installing better-sqlite3-napi for $version failed" >&2; exit 2; }
    for m in "$work/napi$line"/node_modules/*; do
      rm -rf "$copy/node_modules/$(basename "$m")"
      cp -a "$m" "$copy/node_modules/"
    done
  else
    addon="$cache/better-sqlite3-$sqlite_version-abi$abi-$(uname -m).node"
    if [ ! -f "$addon" ]; then
      echo "building better-sqlite3 $sqlite_version for $version (ABI $abi) from source" >&2
      (cd "$copy/node_modules/better-sqlite3" && PATH="$pkg/bin:$PATH" "$bin" "$gyp" rebuild --release --jobs=2 --nodedir="$headers" >"$work/build$line.log" 2>&1) ||
        { tail -n 30 "$work/build$line.log" >&2; echo "test-node-lines: building better-sqlite3 for $version failed" >&2; exit 2; }
      cp "$copy/node_modules/better-sqlite3/build/Release/better_sqlite3.node" "$addon.tmp" && mv "$addon.tmp" "$addon"
    fi
    mkdir -p "$copy/node_modules/better-sqlite3/build/Release"
    cp "$addon" "$copy/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
  fi

  # Everything the tests start by name (`node`, the bin's shebang) is this line's node too.
  log="$work/test$line.log"
  if (cd "$copy" && PATH="$pkg/bin:$PATH" "$bin" scripts/run-tests.mjs "${tests[@]}" 2>&1 | tee "$log"); then
    status=passed
  else
    status=FAILED
    failed+=("$line")
  fi
  # The TAP reporter (Node 22) prints "# pass N", the spec reporter (Node 24) "ℹ pass N".
  counts=$(grep -E '^(# |ℹ )(tests|pass|fail|skipped|cancelled) ' "$log" | sed -E 's/^(# |ℹ )//' | tr '\n' ' ' || true)
  summary+=("Node.js $version: $status —$counts")
done

printf '%s\n' "${summary[@]}" >&2
[ ${#failed[@]} -eq 0 ] || { echo "test-node-lines: failed on Node.js ${failed[*]}" >&2; exit 1; }
