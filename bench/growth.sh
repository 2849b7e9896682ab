#!/usr/bin/env bash
# Growth check (PERFORMANCE.md): W1 and W2 latency with 1,000,000 documents against 10,000. The large collection is
# written straight into the app's SQLite file (same document shape as bench/seed.mjs), then served by dpd.
#   DURATION=10 BIG=1000000 bench/growth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
BIG=${BIG:-1000000}
PORT=${PORT:-2503}
export BENCH_DIR=$(pwd)/bench
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

measure() {  # measure <label> <count>
  local app=$work/app-$2
  cp -r bench/app "$app"
  build/release/src/cli/dpd "$app" --port "$PORT" --log-level warn > /dev/null 2>&1 & pid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/__health" > /dev/null && break; sleep 0.1; done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sqlite3 "$app/data/app.sqlite" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < $2)
    INSERT INTO todos SELECT lower(hex(randomblob(8))), json_object('title', 'todo ' || x,
      'done', json(CASE WHEN x % 2 THEN 'true' ELSE 'false' END), 'score', abs(random()) % 1001) FROM c;"
  sqlite3 "$app/data/app.sqlite" "SELECT id FROM todos ORDER BY random() LIMIT 10000;" > "$work/ids-$2.txt"
  build/release/src/cli/dpd "$app" --port "$PORT" --log-level warn > /dev/null 2>&1 & pid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/__health" > /dev/null && break; sleep 0.1; done
  for w in w1 w2; do
    IDS_FILE="$work/ids-$2.txt" wrk -t2 -c64 -d"${DURATION}s" --latency -s "bench/wrk/$w.lua" "http://127.0.0.1:$PORT" \
      | awk -v l="$1" -v w="$w" '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {printf "| %s | %s | %s | %s | %s |\n", toupper(w), l, r, p50, p99}'
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

{
  echo "## growth $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(git rev-parse --short HEAD)"
  echo
  echo "| workload | documents | req/s | p50 | p99 |"
  echo "| --- | --- | --- | --- | --- |"
  measure "10,000" 10000
  measure "$BIG" "$BIG"
  echo
} | tee -a "bench/results/$(date -u +%Y-%m-%d).md"
