#!/usr/bin/env bash
# Azurite (Microsoft's Azure Storage emulator) blob service on 127.0.0.1:PORT for the tests,
# with a container made, storing in DIR. Started and stopped by PID.
#   azurite.sh install                  npm install azurite 3.35.0 into target/services/azurite
#   azurite.sh start DIR [PORT] [CONTAINER]
#   azurite.sh stop DIR
# From ../shared/backends/azurite.sh: 3.36 needs Node 21 and 3.37 Node 22, so 3.35.0 is
# pinned for Node 20; --skipApiVersionCheck lets a newer client talk to it. Its well-known
# development account is devstoreaccount1 with the documented key below (not a secret).
set -euo pipefail
cmd=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${RUNNER_TEST_AZURITE:-$ROOT/target/services/azurite}
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

install() {
  [ -x "$N/node_modules/.bin/azurite-blob" ] && return 0
  mkdir -p "$N"
  npm install --prefix "$N" --no-audit --no-fund azurite@3.35.0 >/dev/null
}

start() {
  local W PORT CONTAINER
  W=$(realpath -m "$1"); PORT=${2:-10000}; CONTAINER=${3:-data}
  [ -x "$N/node_modules/.bin/azurite-blob" ] || { echo "azurite is not installed: $0 install" >&2; exit 1; }
  rm -rf "$W"; mkdir -p "$W/data"
  ( "$N/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$PORT" --location "$W/data" \
      --skipApiVersionCheck --loose --disableTelemetry >"$W/azurite.log" 2>&1 & echo $! >"$W/azurite.pid" )
  for _ in $(seq 1 300); do
    # A container is made with Azure's REST call, signed with the account's key (Shared Key).
    if python3 "$ROOT/tests/services/azure_container.py" "http://127.0.0.1:$PORT/$ACCOUNT" "$ACCOUNT" "$KEY" "$CONTAINER" 2>/dev/null; then
      return 0
    fi
    kill -0 "$(cat "$W/azurite.pid")" 2>/dev/null || { tail -5 "$W/azurite.log" >&2; exit 1; }
    sleep 0.1
  done
  tail -5 "$W/azurite.log" >&2; stop "$W"; exit 1
}

stop() {
  local W f p
  W=$(realpath -m "$1"); f=$W/azurite.pid
  [ -s "$f" ] || return 0; p=$(cat "$f")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true; rm -f "$f"
}

shift; "$cmd" "$@"
