#!/usr/bin/env bash
# moto's S3 server (PyPI moto[server]) on 127.0.0.1:PORT for the tests, with a bucket made.
# Started and stopped by PID. moto, not s3rver: s3rver ignores conditional writes
# (If-None-Match), which the shared cache relies on (../shared/backends/s3.sh).
#   s3.sh install                     a venv with moto[server] in target/services/moto
#   s3.sh start DIR [PORT] [BUCKET]   credentials: any key id and secret (moto checks none)
#   s3.sh stop DIR
set -euo pipefail
cmd=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
V=${RUNNER_TEST_MOTO:-$ROOT/target/services/moto}

install() {
  [ -x "$V/bin/moto_server" ] && return 0
  python3 -m venv "$V"
  "$V/bin/pip" install -q --disable-pip-version-check "moto[server]==5.*"
}

start() {
  local W PORT BUCKET
  W=$(realpath -m "$1"); PORT=${2:-15000}; BUCKET=${3:-data}
  [ -x "$V/bin/moto_server" ] || { echo "moto is not installed: $0 install" >&2; exit 1; }
  rm -rf "$W"; mkdir -p "$W"
  ( "$V/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 & echo $! >"$W/moto.pid" )
  for _ in $(seq 1 300); do
    # moto accepts an unsigned CreateBucket (path style).
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$PORT/$BUCKET', method='PUT'), timeout=2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$(cat "$W/moto.pid")" 2>/dev/null || { tail -5 "$W/moto.log" >&2; exit 1; }
    sleep 0.1
  done
  tail -5 "$W/moto.log" >&2; stop "$W"; exit 1
}

stop() {
  local W f p
  W=$(realpath -m "$1"); f=$W/moto.pid
  [ -s "$f" ] || return 0; p=$(cat "$f")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true; rm -f "$f"
}

shift; "$cmd" "$@"
