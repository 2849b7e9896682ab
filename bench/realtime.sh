#!/usr/bin/env bash
# Realtime figures: fan-out (1,000 sockets, every POST emitted to all: deliveries/s, p99 delivery latency),
# 10,000 idle sockets (RSS per socket), 100,000 connect/disconnect cycles (RSS and fds back to baseline).
#   FANOUT_SOCKETS=1000 FANOUT_POSTS=200 IDLE_SOCKETS=10000 CHURN_CYCLES=100000 bench/realtime.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
BIN=build/release
PORT=${PORT:-2504}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cp -r bench/app "$work/app"
"$BIN/src/cli/dpd" "$work/app" --port "$PORT" --log-level warn --limit realtime.connections=50000 \
  --limit http.connections_per_ip=50000 > "$work/dpd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
url="http://127.0.0.1:$PORT"
fanout=$(node bench/realtime.mjs fanout "$url" "${FANOUT_SOCKETS:-1000}" "${FANOUT_POSTS:-200}")
idle=$(node bench/realtime.mjs idle "$url" "${IDLE_SOCKETS:-10000}" "$pid")
churn=$(node bench/realtime.mjs churn "$url" "${CHURN_CYCLES:-100000}" "$pid")
{
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(git rev-parse --short HEAD) — realtime (bench/realtime.sh; clients in one Node process on the same 2 cores)"
  echo
  echo "- fan-out: $fanout"
  echo "- idle: $idle"
  echo "- churn: $churn"
  echo
} | tee -a "bench/results/$(date -u +%Y-%m-%d).md"
