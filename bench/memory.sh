#!/usr/bin/env bash
# Memory figures of PERFORMANCE.md:
#   M1 — N GET /todos/<id> from clients without cookies: RSS before/after (sessions must cost nothing);
#   M2 — logins never logged out with a short session.max_age: live sessions and RSS after expiry.
#   M1_SECONDS=8 M2_LOGINS=100000 MAX_AGE_MS=20000 bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release
PORT=${PORT:-2503}
M1_SECONDS=${M1_SECONDS:-8}
M2_LOGINS=${M2_LOGINS:-100000}
MAX_AGE_MS=${MAX_AGE_MS:-20000}
export BENCH_DIR=$(pwd)/bench
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cp -r bench/app "$work/app"
export IDS_FILE="$work/ids.txt"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
start() {
  "$BIN/src/cli/dpd" "$work/app" --port "$PORT" --log-level warn "$@" > "$work/dpd.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
}
url="http://127.0.0.1:$PORT"

# M1
start
node bench/seed.mjs "$url" 10000 "$IDS_FILE"
wrk -t2 -c64 -d2s -s bench/wrk/w1.lua "$url" >/dev/null   # warm-up
m1_before=$(rss)
out=$(wrk -t2 -c64 -d"${M1_SECONDS}s" -s bench/wrk/w1.lua "$url")
m1_requests=$(echo "$out" | awk '/requests in/ {print $1}')
m1_after=$(rss)
kill "$pid"; wait "$pid" 2>/dev/null || true

# M2 (cheap password hashing, so that logins measure sessions rather than argon2id)
rm -rf "$work/app/data"
start --limit session.max_age_ms="$MAX_AGE_MS" --limit session.hash_memory_kib=64 --limit session.hash_passes=1 \
      --limit session.cache_entries=200000
curl -s -XPOST "$url/users" -H 'content-type: application/json' -d '{"username":"m2","password":"m2-password"}' >/dev/null
wrk -t1 -c4 -d1s -s bench/wrk/login.lua "$url" >/dev/null
sleep 1
m2_before=$(rss)
start_s=$(date +%s.%N)
logins=0
while [ "$logins" -lt "$M2_LOGINS" ]; do
  # at most session.login_attempts (5) logins of one user at a time from one address: more are refused (429)
  out=$(wrk -t2 -c4 -d5s -s bench/wrk/login.lua "$url")
  failed=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  [ -z "$failed" ] || { echo "logins failed: $out" >&2; exit 1; }
  logins=$((logins + $(echo "$out" | awk '/requests in/ {print $1}')))
done
elapsed=$(awk -v s="$start_s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
m2_peak=$(rss)
m2_live=$(sqlite3 "$work/app/data/app.sqlite" 'select count(*) from sessions')
# expiry: max_age, then the 5 s upkeep removes them from the cache and the store (20,000 records per pass)
sleep $(( MAX_AGE_MS / 1000 + 5 ))
for _ in $(seq 60); do
  left=$(sqlite3 "$work/app/data/app.sqlite" 'select count(*) from sessions')
  [ "$left" -eq 0 ] && break
  sleep 5
done
m2_after=$(rss)

{
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(git rev-parse --short HEAD) — memory (bench/memory.sh)"
  echo
  echo "| figure | value |"
  echo "| --- | --- |"
  echo "| M1: GET /todos/<id> without cookies | $m1_requests requests |"
  echo "| M1: RSS before → after | $((m1_before / 1024)) MiB → $((m1_after / 1024)) MiB ($(( (m1_after - m1_before) )) KiB) |"
  echo "| M2: logins never logged out | $logins in ${elapsed} s, session.max_age_ms=$MAX_AGE_MS |"
  echo "| M2: live sessions after the logins → after expiry | $m2_live → $left |"
  echo "| M2: RSS before → after the logins → after expiry | $((m2_before / 1024)) → $((m2_peak / 1024)) → $((m2_after / 1024)) MiB |"
  echo
} | tee -a "bench/results/$(date -u +%Y-%m-%d).md"
