#!/usr/bin/env bash
# The browser the dashboard test drives: Debian's Chromium (installed by .ci/run with apt)
# and playwright-core from npm, which drives it over CDP and never downloads a browser
# (`executablePath: /usr/bin/chromium`; recipe in ../shared/backends/chromium.sh).
#   chromium.sh install     npm install playwright-core 1.65.2 into target/services/playwright
set -euo pipefail
cmd=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${RUNNER_TEST_PLAYWRIGHT:-$ROOT/target/services/playwright}

install() {
  command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
  [ -d "$N/node_modules/playwright-core" ] && return 0
  mkdir -p "$N"
  npm install --prefix "$N" --no-audit --no-fund playwright-core@1.65.2 >/dev/null
}

shift; "$cmd" "$@"
