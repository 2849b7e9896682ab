#!/usr/bin/env bash
# W1–W4 on the MongoDB store with the driver pool swept (maxPoolSize 1, 4, 16), against CongoDB — the
# wire-protocol TEST DOUBLE of the tests (tests/mongo/congo.mjs), a single-threaded JavaScript server: its own
# speed bounds these figures; they show dpd's overhead and pooling behaviour, not MongoDB's performance.
#   DURATION=10 SEED=2000 bench/mongo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CONGO_PORT=${CONGO_PORT:-27117}
node tests/mongo/congo.mjs "$CONGO_PORT" > /tmp/dpd-bench-congo.log 2>&1 &
congo=$!
trap 'kill $congo 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q listening /tmp/dpd-bench-congo.log && break; sleep 0.1; done
for pool in 1 4 16; do
  DB="mongodb://127.0.0.1:$CONGO_PORT/bench$pool?maxPoolSize=$pool" SEED=${SEED:-2000} bench/run.sh C0 W1 W2 W3 W4
done
