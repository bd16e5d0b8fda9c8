#!/usr/bin/env bash
# The pure cgroup v2 lane: test/v2/*.v2.test.ts run inside ONE throw-away QEMU guest with Debian's
# kernel booted with cgroup_no_v1=all (tools/v2vm.sh, tools/README-v2vm.md). The tree must be
# built already (build/Release, node_modules). Prints "v2: N passed, N failed, N skipped";
# NSGROUPS_LANE_RESULT=FILE also writes {passed, failed, skipped} there (as scripts/test-lane.js).
# The lane's own failures (no boot, no result, timeout) count as failures, never as a pass.
#   NSGROUPS_V2_FILE_TIMEOUT  seconds per test file (default 300)
#   NSGROUPS_V2_TIMEOUT       seconds for the whole guest (default: from the number of files)
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
per_file=${NSGROUPS_V2_FILE_TIMEOUT:-300}

passed=0 failed=0 skipped=0
finish() {
  if [ "$passed" = 0 ] && [ "$failed" = 0 ]; then
    echo "v2 lane FAILED: no test passed" >&2
    failed=1
  fi
  echo "v2 lane: $(($(date +%s) - started)) s wall time"
  echo "v2: $passed passed, $failed failed, $skipped skipped"
  if [ -n "${NSGROUPS_LANE_RESULT:-}" ]; then
    printf '{"passed":%d,"failed":%d,"skipped":%d}\n' "$passed" "$failed" "$skipped" >"$NSGROUPS_LANE_RESULT"
  fi
  [ "$failed" = 0 ]
  exit
}
lane_failed() { # the lane itself could not run or report: a failure, loudly
  echo "v2 lane FAILED: $*" >&2
  failed=$((failed + 1))
  finish
}

# ---- what the lane needs from Debian (the kernel package itself is fetched by tools/v2vm.sh)
. "$(dirname "$0")/guest-packages.sh"
install_guest_packages v2

# ---- the test files, compiled to JavaScript on the host (see jest.v2.config.js for why)
[ -f build/Release/nsgroups.node ] || lane_failed "the addon is not built (build/Release/nsgroups.node): run npm run build first"
[ -f node_modules/jest/bin/jest.js ] || lane_failed "node_modules is missing: run npm ci first"
stage=$(mktemp -d /tmp/nsgroups-v2.XXXXXX) || lane_failed "mktemp"
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$stage" # test/v2/delegation.v2.test.ts runs a fixture as a plain user
node tools/v2vm/compile.js "$stage" || lane_failed "compiling the tests (tools/v2vm/compile.js)"
mapfile -t files < <(cd "$stage" && find test/v2 -name '*.v2.test.js' | LC_ALL=C sort)
[ ${#files[@]} -gt 0 ] || lane_failed "no test/v2/*.v2.test.ts files"
mkdir "$stage/results"

# ---- one guest for all the files; a hung file is killed by its own timeout inside the guest
timeout=${NSGROUPS_V2_TIMEOUT:-$((120 + ${#files[@]} * (per_file + 15)))}
echo "v2 lane: ${#files[@]} test files in one guest (timeout ${per_file} s per file, ${timeout} s in all)"
tools/v2vm.sh --shared "$stage" --timeout "$timeout" --host-path "$repo" \
  --env NSGROUPS_V2_COMPILED="$stage" --env NSGROUPS_MUST_WORK="${NSGROUPS_MUST_WORK:-}" \
  --env NSGROUPS_LANE=v2 --env CI="${CI:-}" \
  -- bash "$repo/tools/v2vm/jest-files.sh" "$stage/results" "$per_file" "$repo/jest.v2.config.js" "${files[@]}"
status=$?
case $status in
  124) lane_failed "the guest timed out after $timeout s" ;;
  125) lane_failed "the guest did not boot or reported nothing (tools/v2vm.sh exit 125; rerun it with --verbose)" ;;
esac

# ---- results: jest's JSON per file; a file without one (killed, crashed) is a failure
for file in "${files[@]}"; do
  name=$(basename "$file" .js)
  line=$(grep "^$name " "$stage/results/status" 2>/dev/null)
  read -r _ code took <<<"${line:-x none ?}"
  summary=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    // a suite that failed to load has no tests of its own: count it (as scripts/test-lane.js)
    const broken = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + broken, r.numPendingTests + r.numTodoTests);
  ' "$stage/results/$name.json" 2>/dev/null)
  if [ -z "$summary" ]; then
    echo "v2 lane: $file: no result (exit $code after $took s)" >&2
    failed=$((failed + 1))
    continue
  fi
  read -r p f s <<<"$summary"
  if [ "$code" != 0 ] && [ "$f" = 0 ]; then
    echo "v2 lane: $file: jest exited with $code although no test failed: counted as a failure" >&2
    f=1
  fi
  echo "v2 lane: $file: $p passed, $f failed, $s skipped in $took s"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
finish
