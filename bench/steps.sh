#!/usr/bin/env bash
# bench/steps.sh [N=100] [DIR]: where the full job's time goes, by system call, per job.
# Runs N full jobs of bench/full-job.js (--only-full) under `strace -f -c -w` (the wall-clock
# latency of every call, in Node and in every process of the sandbox) and prints the calls that
# make the job: calls and µs per job. DIR: another build of nsgroups (--lib), to compare before
# and after. strace slows every call it sees: read the table for where the time goes and what a
# change removed, the side-by-side rows of bench/full-job.js for how fast it is.
set -euo pipefail
n=${1:-100}
here=$(cd "$(dirname "$0")" && pwd)
lib=${2:-$here/..}
command -v strace >/dev/null || { echo "bench/steps.sh: needs strace (apt-get install strace)" >&2; exit 2; }
out=$(mktemp /tmp/nsgroups-steps.XXXXXX)
trap 'rm -f "$out"' EXIT
# the warm-up of --only-full (20 jobs) is counted too: n + 20 jobs in all
strace -f -c -w -o "$out" node "$here/full-job.js" "$n" --only-full --lib "$lib" >/dev/null
jobs=$((n + 20))
echo "where a full job's time goes ($lib, $jobs jobs under strace -f -c -w; wall-clock µs per job, summed over every process)"
printf '%-18s %10s %12s\n' syscall calls/job 'µs/job'
# the calls that wait for something else (the event loop, other threads, children) are left out
awk -v jobs="$jobs" '
  $NF ~ /^(epoll_wait|epoll_pwait|futex|wait4|waitid|rt_sigsuspend|nanosleep|clock_nanosleep|poll|ppoll|select|pselect6|read|total)$/ { next }
  /^[ ]*[0-9.]+[ ]+[0-9.]+[ ]+[0-9]+[ ]+[0-9]+/ {
    # % time, seconds, usecs/call, calls, [errors], syscall
    secs = $2; calls = $4; name = $NF
    printf "%-18s %10.1f %12.0f\n", name, calls / jobs, secs * 1e6 / jobs
  }' "$out" | sort -k3 -nr | head -30
