#!/usr/bin/env bash
# Worker scaling (issue #18 item 5): W1 (GET by id) and W3 (durable POST) with 1, 2 and 4 worker threads
# (`dpd --threads N`), C0 in each run; on this 2-core machine wrk shares the cores, so read the ratios, not the
# absolute figures. Prints one table.
#   DURATION=10 THREADS_LIST="1 2 4" bench/scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS_LIST=${THREADS_LIST:-1 2 4}
echo "| workers | C0 req/s | W1 req/s | W1 p99 | W1 / C0 | W3 req/s | W3 p99 | W3 / C0 | dpd CPU s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in $THREADS_LIST; do
  out=$(RESULTS_MD=/dev/null DPD_ARGS="--threads $n" bench/run.sh C0 W1 W3 2>&1)
  row() { echo "$out" | awk -F'|' -v w="$1" '$2 ~ w {gsub(/ /, "", $3); gsub(/ /, "", $5); gsub(/ /, "", $7); print $3 "|" $5 "|" $7}'; }
  c0=$(row "C0" | cut -d'|' -f1)
  w1=$(row "W1"); w3=$(row "W3")
  cpu=$(echo "$out" | grep -o 'CPU seconds during the runs [0-9.]*' | head -1 | awk '{print $NF}')
  echo "| $n | $c0 | $(echo "$w1" | cut -d'|' -f1) | $(echo "$w1" | cut -d'|' -f2) | $(echo "$w1" | cut -d'|' -f3) | $(echo "$w3" | cut -d'|' -f1) | $(echo "$w3" | cut -d'|' -f2) | $(echo "$w3" | cut -d'|' -f3) | ${cpu:-?} |"
done
