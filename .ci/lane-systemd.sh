#!/usr/bin/env bash
# The systemd lane: test/systemd/*.systemd.test.ts against a real systemd and a real D-Bus, in ONE
# throw-away QEMU guest booted with the host's systemd as PID 1 on a pure cgroup v2 kernel
# (tools/v2vm.sh --init systemd): a system bus, logind, and a lingering user whose
# user@UID.service runs `systemd --user`. The tests run as that user in a login session (root for
# *.root.systemd.test.ts): tools/v2vm/systemd-jest.sh. Nothing on the host is touched: the guest's
# /etc and /var are an overlay on the host's root, thrown away with the guest.
# The tree must be built already (build/Release, dist, node_modules). Prints
# "systemd: N passed, N failed, N skipped"; NSGROUPS_LANE_RESULT=FILE also writes
# {passed, failed, skipped} there. The lane's own failures (no boot, no result, timeout) count as
# failures, never as a pass.
#   NSGROUPS_SYSTEMD_FILE_TIMEOUT  seconds per test file (default 150)
#   NSGROUPS_SYSTEMD_TIMEOUT       seconds for the whole guest (default: from the number of files)
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
per_file=${NSGROUPS_SYSTEMD_FILE_TIMEOUT:-150}

passed=0 failed=0 skipped=0
finish() {
  if [ "$passed" = 0 ] && [ "$failed" = 0 ]; then
    echo "systemd lane FAILED: no test passed" >&2
    failed=1
  fi
  echo "systemd lane: $(($(date +%s) - started)) s wall time"
  echo "systemd: $passed passed, $failed failed, $skipped skipped"
  if [ -n "${NSGROUPS_LANE_RESULT:-}" ]; then
    printf '{"passed":%d,"failed":%d,"skipped":%d}\n' "$passed" "$failed" "$skipped" >"$NSGROUPS_LANE_RESULT"
  fi
  [ "$failed" = 0 ]
  exit
}
lane_failed() {
  echo "systemd lane FAILED: $*" >&2
  failed=$((failed + 1))
  finish
}

# ---- what the guest needs: the VM (as the v2 lane, installed if missing) and, from the host's own
# root, systemd, dbus and pam_systemd — never installed by this lane (the host's systemd is not ours
# to change): the lane says what is missing instead
. "$(dirname "$0")/guest-packages.sh"
install_guest_packages systemd
absent=()
for p in systemd dbus-daemon libpam-systemd; do installed "$p" || absent+=("$p"); done
[ ${#absent[@]} = 0 ] || lane_failed "the guest boots the host's systemd, which lacks ${absent[*]}: apt-get install ${absent[*]} (it is not installed for you)"

# ---- the test files, compiled to JavaScript on the host (see jest.systemd.config.js for why)
[ -f build/Release/nsgroups.node ] || lane_failed "the addon is not built (build/Release/nsgroups.node): run npm run build first"
[ -f dist/cli.cjs ] || lane_failed "dist/ is not built: run npm run build first"
[ -f node_modules/jest/bin/jest.js ] || lane_failed "node_modules is missing: run npm ci first"
stage=$(mktemp -d /tmp/nsgroups-systemd.XXXXXX) || lane_failed "mktemp"
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$stage" # the guest's plain user reads it
node tools/v2vm/compile.js "$stage" test/systemd || lane_failed "compiling the tests (tools/v2vm/compile.js)"
mapfile -t files < <(cd "$stage" && find test/systemd -name '*.systemd.test.js' | LC_ALL=C sort)
[ ${#files[@]} -gt 0 ] || lane_failed "no test/systemd/*.systemd.test.ts files"
mkdir -m 1777 "$stage/results"

# ---- one guest for all the files; a hung file is killed by its own timeout inside the guest
timeout=${NSGROUPS_SYSTEMD_TIMEOUT:-$((150 + ${#files[@]} * (per_file + 15)))}
echo "systemd lane: ${#files[@]} test files in one guest with systemd as init (timeout ${per_file} s per file, ${timeout} s in all)"
tools/v2vm.sh --init systemd --shared "$stage" --timeout "$timeout" --host-path "$repo" \
  --env NSGROUPS_SYSTEMD_COMPILED="$stage" --env NSGROUPS_MUST_WORK="${NSGROUPS_MUST_WORK:-}" \
  --env NSGROUPS_LANE=systemd --env CI="${CI:-}" \
  -- bash "$repo/tools/v2vm/systemd-jest.sh" "$stage/results" "$per_file" "$repo/jest.systemd.config.js" "${files[@]}"
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
    const broken = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + broken, r.numPendingTests + r.numTodoTests);
  ' "$stage/results/$name.json" 2>/dev/null)
  if [ -z "$summary" ]; then
    echo "systemd lane: $file: no result (exit $code after $took s)" >&2
    failed=$((failed + 1))
    continue
  fi
  read -r p f s <<<"$summary"
  if [ "$code" != 0 ] && [ "$f" = 0 ]; then
    echo "systemd lane: $file: jest exited with $code although no test failed: counted as a failure" >&2
    f=1
  fi
  echo "systemd lane: $file: $p passed, $f failed, $s skipped in $took s"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
finish
