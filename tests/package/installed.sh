#!/usr/bin/env bash
# Runs inside test.sh's mount namespace: $1 the work folder (root/ = the unpacked package), $2 the hidden checkout.
set -euo pipefail
work=$1
checkout=$2
dpd=/usr/bin/dpd
fail() { echo "FAIL: $*"; [ -f "$work/dpd.log" ] && tail -20 "$work/dpd.log"; exit 1; }

[ -z "$(ls -A "$checkout")" ] || fail "the checkout is still visible"
cmp -s $dpd "$work/root/usr/bin/dpd" || fail "/usr/bin/dpd is not the packaged one"
if ldd $dpd | grep -q 'not found'; then ldd $dpd; fail "a shared library is missing"; fi
libnode=$(ldd $dpd | awk '/libnode/ {print $3}')
echo "libnode: $libnode"
case "$(realpath "$libnode")" in /usr/lib/*) ;; *) fail "libnode comes from $libnode" ;; esac
version=$($dpd --version)
echo "--version: $version"
[[ "$version" =~ ^dpd\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "unexpected --version output"

# The unit, as systemd reads an instance of it (templates are verified through an instance); man:dpd(1) resolves
# against the packaged man page.
cp /usr/lib/systemd/system/dpd@.service "$work/dpd@myapp.service"
systemd-analyze verify "$work/dpd@myapp.service" || fail "systemd-analyze verify"
echo "systemd-analyze verify dpd@myapp.service: ok"
man -w dpd >/dev/null || fail "man dpd"
LC_ALL=C MANWIDTH=100 man dpd 2>/dev/null | grep -q 'session.login_attempts' \
  || fail "the man page lacks the limits table"
# Every flag of every command's --help is in the man page (it is written by hand: this keeps it complete).
page=$(LC_ALL=C MANWIDTH=200 man dpd 2>/dev/null)
for cmd in "" run create keygen showkey export import; do
  for flag in $($dpd $cmd --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$flag" <<<"$page" || fail "dpd $cmd $flag is not in the man page"
  done
  [ -z "$cmd" ] || grep -qE "^ +$cmd" <<<"$page" || fail "the command $cmd is not in the man page"
done
echo "man page: every command and flag, the limits table"

cd "$work"
$dpd create myapp >/dev/null
cd myapp
mkdir -p resources/notes
echo '{"type":"Collection","properties":{"text":{"type":"string"}}}' > resources/notes/config.json

/usr/bin/python3 "$work/notify.py" "$work/notify.sock" > "$work/notify.log" &
notify_pid=$!
for _ in $(seq 50); do [ -S "$work/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$work/notify.sock" DPD_ENV=production $dpd --port 0 --host 127.0.0.1 > "$work/dpd.out" 2> "$work/dpd.log" &
dpd_pid=$!
for _ in $(seq 100); do grep -q 'READY=1' "$work/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'READY=1' "$work/notify.log" || fail "no READY=1 on \$NOTIFY_SOCKET"
port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$work/dpd.out")
[ -n "$port" ] || fail "no port printed"
base="http://127.0.0.1:$port"

created=$(curl -sf -X POST -H 'content-type: application/json' -d '{"text":"from the package"}' "$base/notes") \
  || fail "POST /notes"
id=$(printf '%s' "$created" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
[ -n "$id" ] || fail "POST /notes answered $created"
got=$(curl -sf "$base/notes/$id") || fail "GET /notes/$id"
[[ "$got" == *'"text":"from the package"'* ]] || fail "GET /notes/$id answered $got"
echo "POST + GET /notes: ok ($id)"

# SIGHUP: a resource added to the folder is served after the reload, and systemd hears RELOADING then READY.
mkdir -p resources/tags
echo '{"type":"Collection","properties":{"name":{"type":"string"}}}' > resources/tags/config.json
kill -HUP $dpd_pid
for _ in $(seq 50); do [ "$(grep -c 'READY=1' "$work/notify.log")" -ge 2 ] && break; sleep 0.1; done
grep -q 'RELOADING=1' "$work/notify.log" || fail "no RELOADING=1 after SIGHUP"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/tags")" = 200 ] || fail "GET /tags after SIGHUP"
echo "SIGHUP reload: ok"

kill -TERM $dpd_pid
rc=0
wait $dpd_pid || rc=$?
[ $rc = 0 ] || fail "dpd exited $rc on SIGTERM"
wait $notify_pid || true
grep -q 'STOPPING=1' "$work/notify.log" || fail "no STOPPING=1"
echo "SIGTERM: exit 0"
echo "package test: ok"
