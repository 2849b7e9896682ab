#!/usr/bin/env bash
# Benchmarks as ratios measured in one run (PERFORMANCE.md): the ceiling C0 (bench/ceiling) and dpd serving the
# standard app (bench/app, seeded with SEED todos through the HTTP API), same machine, same wrk settings.
# Prints a Markdown table and appends it to bench/results/<date>.md.
#   DURATION=15 CONNECTIONS=64 SEED=10000 bench/run.sh [workload ...]     (default: all)
#   DB=mongodb://127.0.0.1:27017/bench bench/run.sh W1 W2                 (another store)
#   DPD=/tmp/dpd-old bench/run.sh C0 W1                                  (another dpd binary, for before/after)
#   RESULT_JSON=/tmp/r.json bench/run.sh                                 (also the figures as JSON: bench/compare)
#   DPD_ARGS="--no-access-log" bench/run.sh                              (more dpd options)
#   RESULTS_MD=/dev/null bench/run.sh                                    (do not append to bench/results/)
#   PEER=/tmp/peer bench/run.sh                                          (Deployd 1.2.0 instead of dpd: a copy of
#                                                                        ../shared/peers/deployd after npm ci; bench/peer.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${THREADS:-2}
SEED=${SEED:-10000}
BIN=build/release
C0_PORT=${C0_PORT:-2501}
DPD_PORT=${DPD_PORT:-2502}
export BENCH_DIR=$(pwd)/bench
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(C0 static W1 W2 W3 W4 W5 W6)

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cp -r bench/app "$work/app"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/app/public/1k.txt"
export IDS_FILE="$work/ids.txt"

"$BIN/bench/ceiling" "$C0_PORT" > "$work/c0.log" 2>&1 & pids+=($!)
db_args=()
[ -n "${DB:-}" ] && db_args=(--db "$DB")
if [ -n "${PEER:-}" ]; then
  env -C "$work/app" node "$PEER/start.js" --port "$DPD_PORT" --app "$work/app" > "$work/dpd.log" 2>&1 & pids+=($!)
else
  # shellcheck disable=SC2086
  "${DPD:-$BIN/src/cli/dpd}" "$work/app" --port "$DPD_PORT" --log-level "${LOG_LEVEL:-warn}" "${db_args[@]}" ${DPD_ARGS:-} \
    > "$work/dpd.log" 2>&1 & pids+=($!)
fi
dpd_pid=$!
for port in "$C0_PORT" "$DPD_PORT"; do
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
done
node bench/seed.mjs "http://127.0.0.1:$DPD_PORT" "$SEED" "$IDS_FILE"
rss_seeded=$(awk '/VmRSS/ {print $2}' "/proc/$dpd_pid/status")

# run <url> [lua script]: prints "req/s|p50|p99|errors"
run() {
  local out args=(-t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [ -n "${2:-}" ] && args+=(-s "$2")
  out=$(wrk "${args[@]}" "$1" 2>&1)
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps|$p50|$p99|${errors:-none}"
}
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

dpd_url="http://127.0.0.1:$DPD_PORT"
declare -A result label
label=([C0]="C0 (ceiling)" [static]="static GET /1k.txt" [W1]="W1 GET by id" [W2]="W2 query+sort+limit (indexed)"
       [W3]="W3 POST (durable)" [W4]="W4 PUT \$inc (durable)" [W5]="W5 GET /users/me (session cookie)"
       [W6]="W6 mixed 80/20")
cpu0=$(cpu_of "$dpd_pid")
for w in "${workloads[@]}"; do
  case $w in
    C0) result[$w]=$(run "http://127.0.0.1:$C0_PORT/") ;;
    static) result[$w]=$(run "$dpd_url/1k.txt") ;;
    W1) result[$w]=$(run "$dpd_url" bench/wrk/w1.lua) ;;
    W2) result[$w]=$(run "$dpd_url" bench/wrk/w2.lua) ;;
    W3) result[$w]=$(run "$dpd_url" bench/wrk/w3.lua) ;;
    W4) result[$w]=$(run "$dpd_url" bench/wrk/w4.lua) ;;
    W5) result[$w]=$(SID=$(cat "$IDS_FILE.sid") run "$dpd_url" bench/wrk/w5.lua) ;;
    W6) result[$w]=$(run "$dpd_url" bench/wrk/w6.lua) ;;
    *) echo "unknown workload $w" >&2; exit 1 ;;
  esac
done
cpu1=$(cpu_of "$dpd_pid")
peak=$(awk '/VmHWM/ {print $2}' "/proc/$dpd_pid/status")

c0_rps=$(echo "${result[C0]:-0|}" | cut -d'|' -f1)
server=${DPD:-dpd $(git rev-parse --short HEAD)}
[ -n "${PEER:-}" ] && server="Deployd 1.2.0 (in-memory store)"
{
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — $server — wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, $SEED todos, $(nproc) cores shared with wrk, store ${DB:-sqlite}"
  echo
  echo "| workload | req/s | p50 | p99 | errors | ratio to C0 |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for w in "${workloads[@]}"; do
    IFS='|' read -r rps p50 p99 errors <<< "${result[$w]}"
    ratio=$(awk -v a="$rps" -v b="$c0_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| ${label[$w]} | $rps | $p50 | $p99 | $errors | $ratio |"
  done
  echo
  echo "$server: RSS after seeding $((rss_seeded / 1024)) MiB, peak RSS $((peak / 1024)) MiB, CPU seconds during the runs $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }')"
  echo
} | tee -a "${RESULTS_MD:-bench/results/$(date -u +%Y-%m-%d).md}"
if [ -n "${RESULT_JSON:-}" ]; then
  {
    echo "{\"c0_rps\": ${c0_rps:-0}, \"duration\": $DURATION, \"connections\": $CONNECTIONS, \"seed\": $SEED, \"workloads\": {"
    first=1
    for w in "${workloads[@]}"; do
      IFS='|' read -r rps p50 p99 errors <<< "${result[$w]}"
      [ $first -eq 1 ] || echo ","
      first=0
      printf '"%s": {"rps": %s, "p50": "%s", "p99": "%s", "errors": "%s"}' "$w" "${rps:-0}" "$p50" "$p99" "$(echo "$errors" | tr -d '"\\' | xargs)"
    done
    echo "}}"
  } > "$RESULT_JSON"
fi
