#!/usr/bin/env bash
# Instructions per call of one operation of bench/instructions.ts (bench/README.md, "Second round:
# instruction counts"): callgrind's count of a run with N calls minus a run with none, divided by N.
# Needs valgrind. Usage: bash bench/instructions.sh OPERATION [N] [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
op=${1:?usage: bench/instructions.sh OPERATION [N] [RECORDS]} n=${2:-20000} records=${3:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
node_modules/.bin/esbuild bench/instructions.ts --bundle --platform=node --format=esm --packages=external \
  --outfile="$out/instructions.mjs" --log-level=warning
# The bundle imports packages by name: resolve them from this checkout.
ln -s "$PWD/node_modules" "$out/node_modules"
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --smc-check=all-non-file \
    node --single-threaded "$out/instructions.mjs" "$op" "$1" "$records" 2>&1 | awk '/Collected/ { print $4 }'
}
total=$(count "$n")
startup=$(count 0)
echo "$op ($records records, N=$n): $(( (total - startup) / n )) instructions per call"
