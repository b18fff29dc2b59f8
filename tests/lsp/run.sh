#!/usr/bin/env bash
# End-to-end tests of `runner lsp` with clients written by others:
#   1. pytest-lsp (tests/lsp/test_*.py), in a venv under target/lsp-venv;
#   2. headless Neovim 0.7 (tests/lsp/nvim_e2e.lua), installed with apt-get if missing.
# Builds target/debug/runner first. Exits non-zero when anything fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/target/lsp-venv

if ! "$VENV/bin/python" -c "import pytest_lsp, pytest_asyncio" 2>/dev/null; then
  python3 -m venv "$VENV" || exit 2
  "$VENV/bin/pip" install -q -r tests/lsp/requirements.txt || exit 2
fi
if ! command -v nvim >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q neovim >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q neovim >/dev/null; }) || exit 2
  else
    echo "run.sh: nvim is missing and we are not root to install it" >&2
    exit 2
  fi
fi

cargo build -q -p runner || exit 2
export RUNNER_BIN=$ROOT/target/debug/runner

status=0
"$VENV/bin/python" -m pytest -c tests/lsp/pytest.ini tests/lsp -q -p no:cacheprovider || status=1

echo "== neovim $(nvim --version | head -1)"
if timeout 120 nvim --headless --clean -c "luafile tests/lsp/nvim_e2e.lua"; then
  echo "neovim e2e: ok"
else
  echo "neovim e2e: FAILED"
  status=1
fi
exit $status
