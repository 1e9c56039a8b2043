#!/usr/bin/env bash
# The suite must not depend on a quiet machine: runs `npm test` three times in a row (STRESS_RUNS)
# while another process keeps one core busy, and fails if any run failed. Each run's output is kept
# in STRESS_LOG_DIR (default: a new directory under /tmp); the summary names the failing tests.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${STRESS_RUNS:-3}
logdir=${STRESS_LOG_DIR:-$(mktemp -d /tmp/tcplens-stress.XXXXXX)}
mkdir -p "$logdir"

# One core kept busy for the whole check, ended however the script ends.
node -e 'for (;;) {}' &
busy=$!
trap 'kill "$busy" 2>/dev/null' EXIT

echo "stress: npm test x$runs with one core busy (pid $busy) on $(nproc) cores; logs in $logdir"
failed=0
for i in $(seq 1 "$runs"); do
  log="$logdir/run-$i.log"
  started=$(date +%s)
  if npm test >"$log" 2>&1; then status=passed; else status=FAILED; failed=$((failed + 1)); fi
  took=$(($(date +%s) - started))
  counts=$(grep -E '^ℹ (tests|pass|fail|cancelled) ' "$log" | sed 's/^ℹ //' | paste -sd, -)
  echo "run $i/$runs: $status in ${took} s ($counts)"
  if [ "$status" = FAILED ]; then
    # The spec reporter lists the failures again at the end, after this line.
    sed -n '/^✖ failing tests:/,$p' "$log" | grep -E '^(test at |✖ )' | sed 's/^/    /'
  fi
done

if [ "$failed" -gt 0 ]; then
  echo "stress: $failed of $runs runs failed"
  exit 1
fi
echo "stress: all $runs runs passed"
