#!/usr/bin/env bash
# Runs in the guest of tools/v2vm.sh --init systemd for .ci/lane-systemd.sh, as root: each test
# file in its own jest process under a timeout — *.root.systemd.test.js as root, the others as the
# lingering user $V2VM_USER in a login session of its own (su -l: pam_systemd registers it with
# logind, as an ssh login would; XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS come from there).
#   systemd-jest.sh RESULTS_DIR PER_FILE_TIMEOUT_SEC JEST_CONFIG FILE...
# Writes RESULTS_DIR/NAME.json (jest --json) and a line "NAME EXIT SECONDS" per file to RESULTS_DIR/status.
set -u
results=$1 per_file=$2 config=$3
shift 3
user=${V2VM_USER:?no V2VM_USER: run this in tools/v2vm.sh --init systemd}
jest=$(dirname "$config")/node_modules/jest/bin/jest.js
read -r up _ </proc/uptime
echo "systemd guest: running ${#} test files (booted and $user's manager up in $up s)"
if ! su -l "$user" -c "test -r $(printf %q "$jest") && test -r $(printf %q "$config")"; then
  echo "systemd guest: $user cannot read $jest or $config: the checkout must be readable by other users for this lane"
  exit 1
fi
keep=NSGROUPS_SYSTEMD_COMPILED,NSGROUPS_MUST_WORK,NSGROUPS_LANE,CI
for file; do
  name=$(basename "$file" .js)
  run=(timeout -k 10 "$per_file" node "$jest" -c "$config" --ci --json --outputFile="$results/$name.json" --runTestsByPath "$file")
  started=$(date +%s%N)
  if [[ "$name" == *.root.systemd.test ]]; then
    (cd "$NSGROUPS_SYSTEMD_COMPILED" && "${run[@]}")
  else
    su -l "$user" -w "$keep" -c "cd $(printf %q "$NSGROUPS_SYSTEMD_COMPILED") && $(printf '%q ' "${run[@]}")"
  fi
  code=$?
  took=$(( ($(date +%s%N) - started) / 1000000 ))
  [ "$code" != 124 ] || echo "systemd guest: $name killed after ${per_file} s (per-file timeout)"
  printf '%s %s %d.%03d\n' "$name" "$code" $((took / 1000)) $((took % 1000)) >>"$results/status"
done
