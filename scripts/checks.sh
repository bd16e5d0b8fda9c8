#!/usr/bin/env bash
# The "checks" lane of .ci/run (after the build): what users compile and read, and the code's form.
#   check:ts      README/docs ```ts blocks and test/types under strict, against the built package
#   check:docs    docs/api rebuilt by TypeDoc: no warning, no drift from the committed reference
#   lint          ESLint (eslint.config.mjs)                         when NSGROUPS_LINT=1
#   format:check  Prettier (.prettierrc.json) and clang-format       when NSGROUPS_FORMAT_CHECK=1
# lint and format:check are switched on in .ci/run once the tree is clean under them (the
# tree-wide `npm run format` waits for the branches in flight to be merged).
# Prints "checks: N passed, N failed, N skipped" and writes NSGROUPS_LANE_RESULT like test-lane.js.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0
step() { # name, npm script
  local started=$SECONDS
  if out=$(npm run --silent "$2" 2>&1); then
    passed=$((passed + 1)); echo "  ok    $1 ($((SECONDS - started)) s)"; echo "$out" | tail -1 | sed 's/^/        /'
  else
    failed=$((failed + 1)); echo "  FAIL  $1 ($((SECONDS - started)) s)"; echo "$out" | tail -40 | sed 's/^/        /'
  fi
}
off() { skipped=$((skipped + 1)); echo "  SKIPPED  $1: not switched on yet ($2=1 in .ci/run)"; }
step "code blocks of README.md and docs/*.md, and the published types, under strict tsc" check:ts
step "docs/api: TypeDoc without warnings, equal to the committed reference" check:docs
if [ "${NSGROUPS_LINT:-0}" = 1 ]; then step "ESLint" lint; else off "ESLint" NSGROUPS_LINT; fi
if [ "${NSGROUPS_FORMAT_CHECK:-0}" = 1 ]; then
  command -v clang-format >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-format >/dev/null
  step "Prettier and clang-format" format:check
else off "Prettier and clang-format" NSGROUPS_FORMAT_CHECK; fi
echo "checks: $passed passed, $failed failed, $skipped skipped"
if [ -n "${NSGROUPS_LANE_RESULT:-}" ]; then
  printf '{"passed":%d,"failed":%d,"skipped":%d}\n' "$passed" "$failed" "$skipped" > "$NSGROUPS_LANE_RESULT"
fi
[ "$failed" -eq 0 ]
