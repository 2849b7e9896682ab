#!/usr/bin/env bash
# Installs everything dpd needs to build and test on Debian 12: the Debian packages of
# ../shared/DEPENDENCIES.md, V8 from libnode (plain install, or a private unpack when NodeSource's nodejs
# conflicts), and the npm test clients from tests/package-lock.json.
# Idempotent: a second run checks and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libsqlite3-dev sqlite3 libsodium-dev libssl-dev libre2-dev
  libmongoc-dev libbson-dev libhiredis-dev redis-server
  libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  wrk hyperfine curl
  libjs-codemirror libjs-chart.js
  chromium
  lintian file man-db systemd python3-minimal
  clang-14 libfuzzer-14-dev
  libuv1-dev
  # Node's builtins that Debian's libnode loads from /usr/share/nodejs (the resource-module host needs them).
  node-acorn node-cjs-module-lexer node-undici
)
# libnode's own runtime dependencies (needed for the private unpack too).
libnode_runtime=(libuv1 libc-ares2 libbrotli1 libnghttp2-14 libicu72 libssl3 zlib1g)

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}" "${libnode_runtime[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# V8 from libnode. The prefix used by the build is written to build/libnode-prefix.
libnode_dir="$root/.deps/libnode"
prefix_file="$root/.deps/libnode-prefix"
mkdir -p "$root/.deps"
if dpkg-query -W -f='${Status}' libnode-dev 2>/dev/null | grep -q '^install ok installed'; then
  echo /usr > "$prefix_file"
elif [ -f "$libnode_dir/usr/include/node/v8.h" ] && [ -e "$libnode_dir/usr/lib/x86_64-linux-gnu/libnode.so.108" ]; then
  echo "$libnode_dir" > "$prefix_file"
else
  # Plain install first (stock Debian); on machines with NodeSource's nodejs it conflicts, so unpack privately.
  if apt-get install -s -qq libnode-dev >/dev/null 2>&1; then
    echo "setup: installing libnode-dev"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq libnode-dev
    echo /usr > "$prefix_file"
  else
    echo "setup: libnode-dev conflicts with the installed nodejs; unpacking libnode privately into .deps/libnode"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq libnode108 libnode-dev)
    rm -rf "$libnode_dir"; mkdir -p "$libnode_dir"
    for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$libnode_dir"; done
    rm -rf "$tmp"
    echo "$libnode_dir" > "$prefix_file"
  fi
fi

# The socket.io browser client that /dpd.js embeds, pinned by client/package-lock.json (needed to build).
stamp=client/node_modules/.dpd-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s client/package-lock.json "$stamp"; then
  echo "setup: installing the socket.io browser client for /dpd.js"
  (cd client && npm ci --no-audit --no-fund --loglevel=error)
  cp client/package-lock.json "$stamp"
fi

# npm test clients, pinned by tests/package-lock.json.
if [ -f tests/package-lock.json ]; then
  stamp=tests/node_modules/.dpd-lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s tests/package-lock.json "$stamp"; then
    echo "setup: installing npm test clients"
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/package-lock.json "$stamp"
  fi
fi

# The real npm resource modules (dpd-event, dpd-fileupload, dpd-email) that the module tests mount into a fixture
# app, pinned by their own lock file.
mods=tests/fixtures/modules-npm
stamp=$mods/node_modules/.dpd-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s $mods/package-lock.json "$stamp"; then
  echo "setup: installing the npm resource modules for the module tests"
  (cd $mods && npm ci --no-audit --no-fund --loglevel=error)
  cp $mods/package-lock.json "$stamp"
fi

# The MongoDB test double (../shared/DEPENDENCIES.md "MongoDB for tests"): CongoDB, the wire-protocol server inside
# @push.rocks/smartmongo 2.2.0 — its server only (its dependencies are pinned in tests/package.json) — with one line
# of its storage adapter changed so that Deployd's string ids are kept instead of forced into ObjectIds.
congo=tests/mongo/congodb
if [ ! -f "$congo/.dpd-patched" ]; then
  echo "setup: unpacking the CongoDB test double"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent --loglevel=error @push.rocks/smartmongo@2.2.0 >/dev/null && tar xzf push.rocks-smartmongo-2.2.0.tgz)
  rm -rf "$congo"; mkdir -p "$congo"
  cp -r "$tmp"/package/dist_ts/congodb/. "$congo"/
  rm -rf "$tmp"
  sed -i 's|_id: doc._id instanceof plugins.bson.ObjectId ? doc._id : new plugins.bson.ObjectId(doc._id),|_id: doc._id === undefined \|\| doc._id === null ? new plugins.bson.ObjectId() : doc._id,|' \
    "$congo/storage/MemoryStorageAdapter.js"
  grep -q "doc._id === undefined" "$congo/storage/MemoryStorageAdapter.js" || { echo "setup: the CongoDB patch did not apply"; exit 1; }
  touch "$congo/.dpd-patched"
fi
