#!/usr/bin/env bash
# compare.sh: runner beside ninja and DVC (and optionally Snakemake, make) on the same
# generated pipelines, in one run, printing a Markdown table of medians and ratios.
#
#   bash bench/compare.sh                       # N = 100 1000, chain and wide, runner ninja dvc
#   NS="1000" SHAPES="chain" TOOLS="runner ninja" bash bench/compare.sh
#
# Phases per (shape, N, tool): cold (fresh copy, no state), no-op (run again), and
# one-input-changed (rewrite data/in_{N/2}, so half of a chain and one wide step rerun).
# Uses ../shared/bench (copied to $WORK) for the peers' pipelines and setup (DVC and
# Snakemake in a venv, ninja and hyperfine from apt). DVC at N >= 1000 gets one run per
# phase (about 100 s each).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${PEER_BENCH:-$ROOT/../shared/bench}
WORK=${WORK:-/tmp/runner-bench}
NS=${NS:-"100 1000"}
SHAPES=${SHAPES:-"chain wide"}
TOOLS=${TOOLS:-"runner ninja dvc"}
RUNS=${RUNS:-10}
mkdir -p "$WORK"
rm -rf "$WORK/peer" && cp -r "$SHARED" "$WORK/peer"
need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need hyperfine hyperfine
need ninja ninja-build
if [[ " $TOOLS " == *" dvc "* || " $TOOLS " == *" snakemake "* ]]; then
  if [[ ! -x "$WORK/peer/.venv/bin/dvc" ]]; then
    (cd "$WORK/peer" && SECTIONS=setup bash run_peers.sh >/dev/null 2>&1 || bash setup.sh >/dev/null 2>&1) || true
  fi
  export PATH="$WORK/peer/.venv/bin:$PATH"
fi
cargo build --release -q -p runner --manifest-path "$ROOT/Cargo.toml"
RUNNER="$ROOT/target/release/runner"
export DVC_NO_ANALYTICS=1

cmd_of() { case $1 in
  runner) echo "$RUNNER build -j2 ." ;;
  ninja) echo "ninja -j2" ;;
  make) echo "make -s -j2" ;;
  dvc) echo 'DVC_SITE_CACHE_DIR=$PWD/.dvc/tmp/site dvc repro -q' ;;
  snakemake) echo "snakemake --cores 2 -q" ;;
esac; }

gen() { # gen SHAPE N TOOL DIR
  if [[ $3 == runner ]]; then python3 "$HERE/gen_ours.py" --shape "$1" --n "$2" --out "$4" >/dev/null
  else python3 "$WORK/peer/gen_pipelines.py" --shape "$1" --n "$2" --out "$4.gen" --tools "$3" >/dev/null 2>&1
       rm -rf "$4"; mv "$4.gen/$3" "$4"; rm -rf "$4.gen"; fi
}

median() { python3 -c 'import json,sys,statistics;r=json.load(open(sys.argv[1]))["results"][0];print(statistics.median(r["times"]))' "$1"; }

declare -A T
for n in $NS; do for shape in $SHAPES; do for tool in $TOOLS; do
  dir="$WORK/$shape-$n-$tool"; gen "$shape" "$n" "$tool" "$dir.pristine"
  cmd=$(cmd_of "$tool"); runs=$RUNS
  [[ $tool == dvc && $n -ge 1000 ]] && runs=1
  [[ $tool == dvc || $tool == snakemake ]] && [[ $runs -gt 3 ]] && runs=3
  echo "== $shape N=$n $tool" >&2
  # cold: fresh copy each run
  hyperfine -N --style none --runs "$runs" --prepare "sh -c 'rm -rf $dir && cp -a $dir.pristine $dir'" \
    --export-json "$WORK/r.json" "sh -c 'cd $dir && $cmd'" >/dev/null 2>&1 && T[$shape,$n,$tool,cold]=$(median "$WORK/r.json")
  # no-op: state from the last cold run
  hyperfine -N --style none --runs "$runs" --warmup 1 --export-json "$WORK/r.json" "sh -c 'cd $dir && $cmd'" >/dev/null 2>&1 \
    && T[$shape,$n,$tool,noop]=$(median "$WORK/r.json")
  # one input changed: alternate the content of data/in_{n/2}
  f=$(printf "data/in_%05d.txt" $((n / 2)))
  hyperfine -N --style none --runs "$runs" --prepare "sh -c 'cd $dir && (grep -q flip $f && sed -i /flip/d $f || echo flip >> $f)'" \
    --export-json "$WORK/r.json" "sh -c 'cd $dir && $cmd'" >/dev/null 2>&1 && T[$shape,$n,$tool,inc]=$(median "$WORK/r.json")
done; done; done

fmt() { python3 -c 'import sys;v=sys.argv[1];print("—" if not v else (f"{float(v)*1000:.1f} ms" if float(v)<1 else f"{float(v):.2f} s"))' "${1:-}"; }
ratio() { python3 -c 'import sys;a,b=sys.argv[1],sys.argv[2];print("—" if not a or not b else f"{float(a)/float(b):.2f}×")' "${1:-}" "${2:-}"; }
echo
echo "| shape | N | tool | cold | no-op | one input changed | runner/tool no-op |"
echo "|---|---:|---|---:|---:|---:|---:|"
for n in $NS; do for shape in $SHAPES; do for tool in $TOOLS; do
  echo "| $shape | $n | $tool | $(fmt "${T[$shape,$n,$tool,cold]:-}") | $(fmt "${T[$shape,$n,$tool,noop]:-}") | $(fmt "${T[$shape,$n,$tool,inc]:-}") | $(ratio "${T[$shape,$n,runner,noop]:-}" "${T[$shape,$n,$tool,noop]:-}") |"
done; done; done
echo
echo "machine: $(nproc) cores; $(date -u +%F); command: NS=\"$NS\" SHAPES=\"$SHAPES\" TOOLS=\"$TOOLS\" bash bench/compare.sh"
