#!/usr/bin/env bash
# dpd beside Deployd 1.2.0 (issue #18 item 4): C0, dpd and the peer (../shared/peers/deployd, MongoDB replaced by
# its in-memory nedb store) on W1–W6, each server on its own freshly seeded copy of bench/app, in one run. Prints
# one table: req/s, p99 and ratio to C0 of each, and dpd / Deployd.
#   DURATION=10 bench/peer.sh            (bench/run.sh's settings apply: CONNECTIONS, SEED, DPD, …)
# The in-memory store flatters Deployd on simple reads and writes (no BSON, no TCP round trip, no mongod) and
# penalises its queries (a JavaScript scan, no index): say so next to any figure this prints.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_SRC=${PEER_SRC:-../shared/peers/deployd}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$PEER_SRC/." "$work/peer"
(cd "$work/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
workloads=(C0 W1 W2 W3 W4 W5 W6)
RESULTS_MD=/dev/null RESULT_JSON="$work/dpd.json" bench/run.sh "${workloads[@]}" >/dev/null
RESULTS_MD=/dev/null RESULT_JSON="$work/peer.json" PEER="$work/peer" bench/run.sh "${workloads[@]}" >/dev/null
node - "$work/dpd.json" "$work/peer.json" <<'JS' | tee -a "${RESULTS_MD:-bench/results/$(date -u +%Y-%m-%d).md}"
const fs = require('node:fs');
const [dpd, peer] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const label = { W1: 'W1 GET by id', W2: 'W2 query+sort+limit', W3: 'W3 POST (durable)', W4: 'W4 PUT $inc (durable)',
  W5: 'W5 GET /users/me', W6: 'W6 mixed 80/20' };
const fmt = (r) => (r && r.rps > 0 ? Math.round(r.rps).toLocaleString('en') : '-');
const ratio = (r, c0) => (r && c0 > 0 ? (r.rps / c0).toFixed(3) : '-');
const errors = (r) => (r && r.errors !== 'none' ? ` (${r.errors})` : '');
console.log(`## ${new Date().toISOString()} — dpd beside Deployd 1.2.0 (in-memory store), ${dpd.duration} s per workload, ` +
  `${dpd.connections} connections, ${dpd.seed} todos; C0 ${Math.round(dpd.c0_rps)} req/s (dpd's run), ` +
  `${Math.round(peer.c0_rps)} req/s (Deployd's run)\n`);
console.log('| workload | dpd req/s | dpd p99 | dpd / C0 | Deployd req/s | Deployd p99 | Deployd / C0 | dpd / Deployd |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const w of Object.keys(label)) {
  const a = dpd.workloads[w];
  const b = peer.workloads[w];
  const times = a && b && b.rps > 0 ? `${(a.rps / b.rps).toFixed(1)}×` : '-';
  console.log(`| ${label[w]} | ${fmt(a)}${errors(a)} | ${a ? a.p99 : '-'} | ${ratio(a, dpd.c0_rps)} | ${fmt(b)}${errors(b)} | ` +
    `${b ? b.p99 : '-'} | ${ratio(b, peer.c0_rps)} | ${times} |`);
}
console.log('');
JS
