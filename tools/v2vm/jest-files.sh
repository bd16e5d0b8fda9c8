#!/usr/bin/env bash
# Runs in the guest of tools/v2vm.sh for .ci/lane-v2.sh: each test file in its own jest process
# under a timeout, so that a file that hangs is killed and counted while the others still report.
#   jest-files.sh RESULTS_DIR PER_FILE_TIMEOUT_SEC JEST_CONFIG FILE...
# Writes RESULTS_DIR/NAME.json (jest --json) per file and one line "NAME EXIT SECONDS" per file to
# RESULTS_DIR/status (EXIT 124: killed at the timeout).
set -u
results=$1 per_file=$2 config=$3
shift 3
jest=$(dirname "$config")/node_modules/jest/bin/jest.js
read -r up _ </proc/uptime
echo "v2 guest: running ${#} test files (booted in $up s)"
for file; do
  name=$(basename "$file" .js)
  started=$(date +%s%N)
  timeout -k 10 "$per_file" node "$jest" -c "$config" --ci --json --outputFile="$results/$name.json" \
    --runTestsByPath "$file"
  code=$?
  took=$(( ($(date +%s%N) - started) / 1000000 ))
  [ "$code" != 124 ] || echo "v2 guest: $name killed after ${per_file} s (per-file timeout)"
  printf '%s %s %d.%03d\n' "$name" "$code" $((took / 1000)) $((took % 1000)) >>"$results/status"
done
