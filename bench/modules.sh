#!/usr/bin/env bash
# A resource module's request rate (issue #16): GET /ping/a on a dpd-event resource (get.js: setResult) and GET
# /hello on a local custom type, on dpd (embedded Node.js host) and on Deployd 1.2.0 running the same app folder
# (../shared/peers/deployd, in-memory store), with C0 in the same run. Needs scripts/setup.sh (the npm modules of
# tests/fixtures/modules-npm) and the peer's npm ci (done here in a temporary copy).
#   DURATION=10 CONNECTIONS=64 bench/modules.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
BIN=build/release
C0_PORT=${C0_PORT:-2501}; DPD_PORT=${DPD_PORT:-2502}; PEER_PORT=${PEER_PORT:-2503}
PEER_SRC=${PEER_SRC:-../shared/peers/deployd}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The app folder as its owner has it: npm modules and local modules side by side in node_modules.
cp -r tests/fixtures/apps/modules "$work/app"
cp -r tests/fixtures/modules-npm/node_modules "$work/app/node_modules"
cp -r "$work/app/local_modules/." "$work/app/node_modules/"
rm -rf "$work/app/local_modules"
# The fixture's module that throws at load stays out: Deployd exits on it (dpd reports it and serves the rest).
rm -rf "$work/app/node_modules/bad-load"
node -e 'const f = process.argv[1], p = JSON.parse(require("fs").readFileSync(f));
  p.dpdInclude = p.dpdInclude.filter((m) => m !== "bad-load"); require("fs").writeFileSync(f, JSON.stringify(p));' \
  "$work/app/package.json"
cp -r "$PEER_SRC/." "$work/peer"
(cd "$work/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

"$BIN/bench/ceiling" "$C0_PORT" > "$work/c0.log" 2>&1 & pids+=($!)
"$BIN/src/cli/dpd" "$work/app" --port "$DPD_PORT" --log-level warn --no-access-log > "$work/dpd.log" 2>&1 & pids+=($!)
# Deployd resolves `deployd/lib/resource` from the modules' folder; the peer's copy is found through NODE_PATH.
(cd "$work/app" && NODE_PATH="$work/peer/node_modules" node "$work/peer/start.js" --port "$PEER_PORT" --app "$work/app" \
  > "$work/peer.log" 2>&1) & pids+=($!)
for port in "$C0_PORT" "$DPD_PORT" "$PEER_PORT"; do
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
curl -sf "http://127.0.0.1:$PEER_PORT/ping/a" >/dev/null || { echo "the peer does not serve /ping/a:"; cat "$work/peer.log"; exit 1; }

run() {
  local out rps p99
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" 2>&1)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$rps|$p99"
}
c0=$(run "http://127.0.0.1:$C0_PORT/")
echo "| workload | dpd req/s | p99 | Deployd 1.2.0 req/s | p99 | dpd / C0 | Deployd / C0 | dpd / Deployd |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for path in /ping/a /hello; do
  d=$(run "http://127.0.0.1:$DPD_PORT$path")
  p=$(run "http://127.0.0.1:$PEER_PORT$path")
  awk -v w="GET $path" -v c="${c0%%|*}" -v d="$d" -v p="$p" 'BEGIN {
    split(d, a, "|"); split(p, b, "|");
    printf "| %s | %.0f | %s | %.0f | %s | %.3f | %.3f | %.1f |\n", w, a[1], a[2], b[1], b[2], a[1]/c, b[1]/c, a[1]/b[1] }'
done
echo "C0: ${c0%%|*} req/s"
