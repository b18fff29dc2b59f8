#!/usr/bin/env bash
# The edit loop at scale: how long `runner watch` takes per cycle after one input changes,
# and how long the language server takes to answer code lenses after an edit, on a built
# wide pipeline of N steps (bench/gen_ours.py, the same shape as bench/compare.sh).
#
#   bash bench/edit_loop.sh            # N=1000, 21 cycles and 20 edits
#   NS="100 1000" CYCLES=31 bash bench/edit_loop.sh
#   RUNNER=/path/to/other/runner bash bench/edit_loop.sh   # another build, side by side
#
# A watch cycle is timed from its "[n] changed:" line to its "[n] run …" line on stderr
# (the debounce before it, 100 ms by default, is not included). Needs python3; the lens
# client runs in target/lsp-venv (pygls), made as tests/lsp/run.sh makes it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=${NS:-1000}
CYCLES=${CYCLES:-21}
EDITS=${EDITS:-20}
WORK=${WORK:-/tmp/runner-edit-loop}
VENV=$ROOT/target/lsp-venv
if [[ -n ${RUNNER:-} ]]; then
  BIN=$RUNNER
else
  cargo build -q --release -p runner --manifest-path "$ROOT/Cargo.toml"
  BIN=$ROOT/target/release/runner
fi
if ! "$VENV/bin/python" -c "import pygls" 2>/dev/null; then
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -r "$ROOT/tests/lsp/requirements.txt"
fi

for n in $NS; do
  dir=$WORK/wide-$n
  rm -rf "$dir"
  python3 "$ROOT/bench/gen_ours.py" --shape wide --n "$n" --out "$dir"
  (cd "$dir" && "$BIN" build >/dev/null 2>&1)
  input=$(cd "$dir/data" && set -- *; echo "$1")

  # watch: one line appended to one input per cycle
  log=$WORK/watch-$n.log
  (cd "$dir" && timeout 600 "$BIN" watch 2>&1 | python3 -u -c '
import sys, time
start = None
for line in sys.stdin:
    now = time.monotonic()
    if "] changed:" in line:
        start = now
    elif start is not None and ("] run " in line or "up to date" in line):
        print(round((now - start) * 1000, 1), flush=True)
        start = None
' >"$log") &
  sleep 3
  for i in $(seq 1 "$CYCLES"); do echo "edit $i $RANDOM" >>"$dir/data/$input"; sleep 0.5; done
  sleep 1
  pkill -INT -f "$BIN watch" || true
  sleep 1
  sort -n "$log" | awk -v n="$n" '{a[NR]=$1} END {printf "N=%s  watch cycle after one input changed: median %s ms, fastest %s, slowest %s (%d cycles)\n", n, a[int((NR+1)/2)], a[1], a[NR], NR}'

  printf 'N=%s  code lenses: ' "$n"
  "$VENV/bin/python" "$ROOT/bench/lsp_lenses.py" "$BIN" "$dir" "$EDITS"
done
