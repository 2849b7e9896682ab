#!/usr/bin/env bash
# Heap allocations per request (issue #18 item 2), counted by an LD_PRELOAD malloc counter
# (bench/malloc_count, built with the release preset) in a dpd serving the seeded bench app.
#   DURATION=5 bench/allocations.sh [workload …]      (default: W1 W2 W5)
# Prints, per workload, the requests wrk made and the allocations dpd made meanwhile, divided.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
SEED=${SEED:-10000}
PORT=${DPD_PORT:-2512}
BIN=build/release
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(W1 W2 W5)
[ -f "$BIN/bench/libmalloc_count.so" ] || { echo "build first: cmake --build --preset release --target malloc_count"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cp -r bench/app "$work/app"
export BENCH_DIR=$(pwd)/bench IDS_FILE="$work/ids.txt" SID=
LD_PRELOAD="$(pwd)/$BIN/bench/libmalloc_count.so" MALLOC_COUNT_FILE="$work/count" \
  "${DPD:-$BIN/src/cli/dpd}" "$work/app" --port "$PORT" --log-level warn > "$work/dpd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
node bench/seed.mjs "http://127.0.0.1:$PORT" "$SEED" "$IDS_FILE"
SID=$(cat "$IDS_FILE.sid")  # W5's session
count() { sleep 0.2; tr -d ' \n' < "$work/count"; }
echo "| workload | requests | allocations | per request |"
echo "| --- | --- | --- | --- |"
for w in "${workloads[@]}"; do
  lua=bench/wrk/$(echo "$w" | tr 'A-Z' 'a-z').lua
  wrk -t2 -c64 -d2s -s "$lua" "http://127.0.0.1:$PORT" > /dev/null  # warm: caches, isolates, statements
  before=$(count)
  out=$(wrk -t2 -c64 -d"${DURATION}s" -s "$lua" "http://127.0.0.1:$PORT")
  after=$(count)
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "| $w | $requests | $((after - before)) | $(awk -v a="$((after - before))" -v r="$requests" 'BEGIN { printf "%.1f", a / r }') |"
done
