#!/usr/bin/env bash
# Benchmarks as ratios measured in one run (PERFORMANCE.md): the ceiling C0 (bench/ceiling) and dpd on the same
# machine, same wrk settings. Prints a Markdown table and appends it to bench/results/<date>.md.
#   DURATION=15 CONNECTIONS=64 THREADS=2 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${THREADS:-2}
BIN=build/release
C0_PORT=${C0_PORT:-2501}
DPD_PORT=${DPD_PORT:-2502}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cp -r bench/app "$work/app"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/app/public/1k.txt"

"$BIN/bench/ceiling" "$C0_PORT" > "$work/c0.log" 2>&1 & pids+=($!)
"$BIN/src/cli/dpd" "$work/app" --port "$DPD_PORT" --log-level warn > "$work/dpd.log" 2>&1 & pids+=($!)
dpd_pid=$!
for port in "$C0_PORT" "$DPD_PORT"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/__health" >/dev/null 2>&1 && break
    curl -s "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
done

# run <name> <url>: prints "req/s p50 p99 errors"
run() {
  local out
  out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2" 2>&1)
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps|$p50|$p99|${errors:-none}"
}

cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

declare -A result
result[C0]=$(run C0 "http://127.0.0.1:$C0_PORT/")
cpu0=$(cpu_of "$dpd_pid")
result[static]=$(run static "http://127.0.0.1:$DPD_PORT/1k.txt")
result[health]=$(run health "http://127.0.0.1:$DPD_PORT/__health")
cpu1=$(cpu_of "$dpd_pid")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$dpd_pid/status")

c0_rps=$(echo "${result[C0]}" | cut -d'|' -f1)
{
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(git rev-parse --short HEAD) — wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, $(nproc) cores shared with wrk"
  echo
  echo "| workload | req/s | p50 | p99 | errors | ratio to C0 |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for name in C0 static health; do
    IFS='|' read -r rps p50 p99 errors <<< "${result[$name]}"
    ratio=$(awk -v a="$rps" -v b="$c0_rps" 'BEGIN { printf "%.2f", a / b }')
    label=$name
    [ "$name" = static ] && label="static GET /1k.txt"
    [ "$name" = health ] && label="GET /__health"
    echo "| $label | $rps | $p50 | $p99 | $errors | $ratio |"
  done
  echo
  echo "dpd: CPU seconds during its runs $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }'), peak RSS $((rss / 1024)) MiB"
  echo
} | tee -a "bench/results/$(date -u +%Y-%m-%d).md"
