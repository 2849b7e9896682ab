#!/usr/bin/env bash
# An owner rule vs the Get script Deployd users write for the same purpose (issue #21), in one run: the W2 query
# ({"score":{"$gt":500},"$sort":{"score":-1},"$limit":20}) as a logged-in user on two collections holding the same
# SEED documents, one in ten of them the user's own —
#   ruled:    "rules": {"list": {"owner": "$me.id"}}      (merged into the SQL query)
#   scripted: get.js `if (!me || this.owner !== me.id) cancel();`   (runs once per document the query returns)
# plus C0 for the ratio. Note the script form also answers wrongly: $limit picks 20 documents before the script drops
# the others', so the user gets ~2 of their own instead of 20 (the table shows how many each answer holds); the last
# row asks the script form for 200 to get about as many as the rule gives.
#   DURATION=10 CONNECTIONS=64 SEED=10000 bench/rules.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
SEED=${SEED:-10000}
BIN=build/release
C0_PORT=${C0_PORT:-2511}
DPD_PORT=${DPD_PORT:-2512}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/app/resources/users" "$work/app/resources/ruled" "$work/app/resources/scripted"
echo '{}' > "$work/app/app.dpd"
echo '{"type":"UserCollection","properties":{}}' > "$work/app/resources/users/config.json"
props='"properties":{"title":{"type":"string"},"score":{"type":"number","index":true},"owner":{"type":"string","index":true}}'
echo "{\"type\":\"Collection\",$props,\"rules\":{\"list\":{\"owner\":\"\$me.id\"}}}" > "$work/app/resources/ruled/config.json"
echo "{\"type\":\"Collection\",$props}" > "$work/app/resources/scripted/config.json"
echo 'if (!me || this.owner !== me.id) cancel();' > "$work/app/resources/scripted/get.js"

"$BIN/bench/ceiling" "$C0_PORT" > "$work/c0.log" 2>&1 & pids+=($!)
"${DPD:-$BIN/src/cli/dpd}" "$work/app" --port "$DPD_PORT" --log-level warn --no-access-log > "$work/dpd.log" 2>&1 & pids+=($!)
for port in "$C0_PORT" "$DPD_PORT"; do
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
done
base="http://127.0.0.1:$DPD_PORT"
SID=$(BASE=$base SEED=$SEED node --input-type=module -e '
  const base = process.env.BASE, n = Number(process.env.SEED);
  const post = (p, b, h = {}) => fetch(base + p, { method: "POST", headers: { "content-type": "application/json", ...h }, body: JSON.stringify(b) });
  await post("/users", { username: "bench", password: "bench-password" });
  const login = await (await post("/users/login", { username: "bench", password: "bench-password" })).json();
  const docs = Array.from({ length: n }, (_, i) => ({ title: `todo ${i}`, score: Math.floor(Math.random() * 1001),
    owner: i % 10 === 0 ? login.uid : "someone-else" }));
  for (const col of ["ruled", "scripted"]) {
    for (let i = 0; i < n; i += 1000) {
      const r = await post(`/${col}`, docs.slice(i, i + 1000), { "dpd-ssh-key": "bench" });
      if (!r.ok) throw new Error(`seed ${col}: ${r.status} ${await r.text()}`);
    }
  }
  process.stdout.write(login.id);')
export SID
query='%7B%22score%22%3A%7B%22%24gt%22%3A500%7D%2C%22%24sort%22%3A%7B%22score%22%3A-1%7D%2C%22%24limit%22%3A20%7D'
query200='%7B%22score%22%3A%7B%22%24gt%22%3A500%7D%2C%22%24sort%22%3A%7B%22score%22%3A-1%7D%2C%22%24limit%22%3A200%7D'

run() {
  local out args=(-t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [ -n "${2:-}" ] && args+=(-s "$2")
  out=$(wrk "${args[@]}" "$1" 2>&1)
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}')|$(echo "$out" | awk '$1=="50%" {print $2}')|$(echo "$out" | awk '$1=="99%" {print $2}')|$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')"
}
count() { curl -s -H "Cookie: sid=$SID" "$base/$1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))'; }
c0=$(run "http://127.0.0.1:$C0_PORT/")
ruled=$(PATH_Q="/ruled?$query" run "$base" bench/wrk/owned.lua)
scripted=$(PATH_Q="/scripted?$query" run "$base" bench/wrk/owned.lua)
scripted200=$(PATH_Q="/scripted?$query200" run "$base" bench/wrk/owned.lua)
c0_rps=${c0%%|*}
echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — owner rule vs Get script — wrk -t2 -c$CONNECTIONS -d${DURATION}s, $SEED documents each, $(nproc) cores shared with wrk"
echo
echo "| collection | req/s | p50 | p99 | errors | ratio to C0 | documents per answer |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for row in "C0|$c0|" "ruled (list rule), \$limit 20|$ruled|$(count "ruled?$query")" \
           "scripted (get.js cancel), \$limit 20|$scripted|$(count "scripted?$query")" \
           "scripted, \$limit 200 (to get ~20 of one's own)|$scripted200|$(count "scripted?$query200")"; do
  IFS='|' read -r name rps p50 p99 errors n <<< "$row"
  ratio=$(awk -v a="$rps" -v b="$c0_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  echo "| $name | $rps | $p50 | $p99 | ${errors:-none} | $ratio | ${n:--} |"
done
