#!/usr/bin/env bash
# Fan-out across nodes (issue #17): the same workload as bench/realtime.sh's fan-out — FANOUT_SOCKETS sockets, each
# POST /feed emitted to all of them — first on one node (no bus), then with the sockets spread over three nodes that
# share the app folder, its SQLite file and a redis-server, the POSTs going to node 1. One run, same machine: the
# ratio is what the bus costs. Clients run in one Node process on the same 2 cores as every node and Redis.
#   FANOUT_SOCKETS=1000 FANOUT_POSTS=200 ROUNDS=2 bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
BIN=build/release/src/cli/dpd
BASE=${PORT:-2520}
REDIS_PORT=${REDIS_PORT:-6399}
SOCKETS=${FANOUT_SOCKETS:-1000}
POSTS=${FANOUT_POSTS:-200}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
limits=(--log-level warn --limit realtime.connections=50000 --limit http.connections_per_ip=50000
        --limit realtime.handshakes_per_ip=100000 --limit realtime.sessions_per_ip=50000)

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" > "$work/redis.log" &
pids+=($!)
cp -r bench/app "$work/app"
wait_up() { for _ in $(seq 100); do curl -s "http://127.0.0.1:$1/" >/dev/null 2>&1 && return; sleep 0.1; done; }

"$BIN" "$work/app" --port "$BASE" "${limits[@]}" > "$work/single.log" 2>&1 &
single=$!
pids+=($single)
wait_up "$BASE"
for i in 1 2 3; do
  "$BIN" "$work/app" --port $((BASE + i)) --bus "redis://127.0.0.1:$REDIS_PORT/0" "${limits[@]}" > "$work/node$i.log" 2>&1 &
  pids+=($!)
  wait_up $((BASE + i))
done
for _ in $(seq 50); do
  [ "$(curl -s "http://127.0.0.1:$((BASE + 3))/__ready" | grep -c '"bus":"up"')" = 1 ] && break
  sleep 0.1
done
nodes="http://127.0.0.1:$((BASE + 1)),http://127.0.0.1:$((BASE + 2)),http://127.0.0.1:$((BASE + 3))"
{
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(git rev-parse --short HEAD) — fan-out across nodes (bench/cluster.sh; $SOCKETS sockets, $POSTS POSTs, everything on the same 2 cores)"
  echo
  for round in $(seq "${ROUNDS:-2}"); do
    echo "- round $round, one node:    $(node bench/realtime.mjs fanout "http://127.0.0.1:$BASE" "$SOCKETS" "$POSTS")"
    echo "- round $round, three nodes: $(node bench/realtime.mjs fanout "$nodes" "$SOCKETS" "$POSTS")"
  done
  echo
} | tee -a "bench/results/$(date -u +%Y-%m-%d).md"
