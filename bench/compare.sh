#!/usr/bin/env bash
# compare.sh: runner beside ninja, make, DVC and Snakemake on the same generated pipelines,
# in one run, printing a Markdown table of medians and ratios.
#
#   bash bench/compare.sh                                   # everything (about an hour)
#   NS="1000" SHAPES="chain" TOOLS="runner ninja" bash bench/compare.sh
#   RUNNER_BASE=/path/to/old/runner TOOLS="runner base ninja" bash bench/compare.sh   # A/B
#
# Shapes (from ../shared/bench/gen_pipelines.py): chain (step i reads step i-1's output and
# its own 1 KiB input), wide (N independent steps), diamond (wide plus one step reading all
# N outputs). Every step runs the same `step.sh` (it copies its inputs to its output).
#
# Phases per (shape, N, tool):
#   cold    fresh copy, no tool state (RUNS_COLD runs, taking turns between the tools so
#           that the host's load, which drifts, weighs on each alike; see "Deletions")
#   no-op   run again, nothing changed (RUNS runs, after one warm-up)
#   inc     one input changed: data/in_{N/2} alternates content before each run, so half of
#           a chain reruns, one step of wide, two of diamond (RUNS_INC runs)
# and for runner only, `plan`: `runner build --dry-run` (load, check, hash through the stat
# cache, plan against the action cache) with its peak resident memory.
#
# Peers that would take hours are left out, and the table says so: DVC above N=1000 (its
# no-op is ~100 s at 1,000), Snakemake above 1,000. DVC at N=1000 is seeded as
# ../shared/bench/run_peers.sh does (outputs built by make, recorded with `dvc commit -f`),
# then timed once per phase. Uses ../shared/bench (copied to $WORK) for the peers'
# pipelines and their setup (DVC and Snakemake in a venv; ninja, make and hyperfine from apt).
#
# Deletions: nothing is deleted between timed runs; each cold run gets a copy of its own
# (`$WORK/cold.*`, `$dir` links to the latest) and everything replaced goes to `$WORK/old/`,
# deleted when the benchmark ends. On ext4 without a journal (this project's CI disks), the
# allocator skips every inode freed in the last minute or so (`recently_deleted`), so a
# `rm -rf` of the previous run right before a cold run makes each file the tool creates
# slower, by a cost that depends on what was deleted and when: a tool would be charged for
# the harness's deletions, and more for its own larger state folder.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${PEER_BENCH:-$ROOT/../shared/bench}
WORK=${WORK:-/tmp/runner-bench}
NS=${NS:-"100 1000 10000"}
SHAPES=${SHAPES:-"chain wide diamond"}
TOOLS=${TOOLS:-"runner ninja make dvc snakemake"}
RUNS=${RUNS:-10}
RUNS_COLD=${RUNS_COLD:-3}
RUNS_INC=${RUNS_INC:-5}
mkdir -p "$WORK" "$WORK/old"
# discard PATH: moves PATH out of the way (a rename); deleted at exit.
discard() { if [[ -e $1 || -L $1 ]]; then mv "$1" "$(mktemp -d "$WORK/old/x.XXXXXX")/"; fi; }
trap 'rm -rf "$WORK/old" "$WORK"/cold.*' EXIT
# The peer scripts are refreshed; their venv (DVC, Snakemake) is kept between runs.
mkdir -p "$WORK/peer" && cp -r "$SHARED/." "$WORK/peer/"
need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need hyperfine hyperfine
need ninja ninja-build
need make make
if [[ " $TOOLS " == *" dvc "* || " $TOOLS " == *" snakemake "* ]]; then
  if [[ ! -x "$WORK/peer/.venv/bin/dvc" ]]; then
    (cd "$WORK/peer" && SECTIONS=setup bash run_peers.sh >/dev/null 2>&1 || bash setup.sh >/dev/null 2>&1) || true
  fi
  export PATH="$WORK/peer/.venv/bin:$PATH"
fi
cargo build --release -q -p runner --manifest-path "$ROOT/Cargo.toml"
RUNNER=${RUNNER:-"$ROOT/target/release/runner"}
export DVC_NO_ANALYTICS=1

cmd_of() { case $1 in
  runner) echo "$RUNNER build -j2 ." ;;
  base) echo "$RUNNER_BASE build -j2 ." ;;  # another build of runner, for an A/B
  ninja) echo "ninja -j2" ;;
  make) echo "make -s -j2" ;;
  dvc) echo 'DVC_SITE_CACHE_DIR=$PWD/.dvc/tmp/site dvc repro -q' ;;
  snakemake) echo "snakemake --cores 2 -q" ;;
esac; }

# skip TOOL N: why the tool is left out at this size (empty: measured).
skip() { case $1 in
  dvc) [[ $2 -gt 1000 ]] && echo "DVC: hours at this size" ;;
  snakemake) [[ $2 -gt 1000 ]] && echo "Snakemake: tens of minutes per run at this size" ;;
esac; true; }

gen() { # gen SHAPE N TOOL DIR
  if [[ $3 == runner || $3 == base ]]; then python3 "$HERE/gen_ours.py" --shape "$1" --n "$2" --out "$4" >/dev/null
  else discard "$4.gen"; python3 "$WORK/peer/gen_pipelines.py" --shape "$1" --n "$2" --out "$4.gen" --tools "$3" >/dev/null 2>&1
       discard "$4"; mv "$4.gen/$3" "$4"; discard "$4.gen"; fi
}

median() { python3 -c 'import json,sys,statistics;r=json.load(open(sys.argv[1]))["results"][0];print(statistics.median(r["times"]))' "$1"; }

# time_it KEY RUNS PREPARE CMD [WARMUP]: median seconds into T[KEY] (nothing on failure).
time_it() {
  local key=$1 runs=$2 prep=$3 cmd=$4 warm=${5:-0}
  local args=(-N --style none --runs "$runs" --warmup "$warm" --export-json "$WORK/r.json")
  [[ -n $prep ]] && args+=(--prepare "$prep")
  if hyperfine "${args[@]}" "$cmd" >/dev/null 2>&1; then T[$key]=$(median "$WORK/r.json"); fi
}

# cold_round SHAPE N TOOL...: one cold run of each TOOL, in turn, on a fresh copy; the
# seconds are appended to COLD[SHAPE,N,TOOL].
declare -A COLD
cold_round() {
  local shape=$1 n=$2 tool dir fresh; shift 2
  for tool in "$@"; do
    dir="$WORK/$shape-$n-$tool"
    fresh="d=\$(mktemp -d $WORK/cold.XXXXXX) && cp -a $dir.pristine/. \$d && ln -sfn \$d $dir"
    unset "T[x]"; time_it x 1 "sh -c '$fresh'" "sh -c 'cd $dir && $(cmd_of "$tool")'"
    # A tool that fails (ninja's diamond at 10,000: its generated command line is too long
    # for posix_spawn) gets no figure; the others go on.
    if [[ -n ${T[x]:-} ]]; then COLD[$shape,$n,$tool]+="${T[x]} "; fi
  done
}

declare -A T NOTE
for n in $NS; do for shape in $SHAPES; do
  # Cold runs take turns between tools (runner, ninja, make, runner, ...), so a change in
  # the host's load (this project's machines share their disks) falls on every tool alike.
  timed=()
  for tool in $TOOLS; do
    why=$(skip "$tool" "$n")
    if [[ -n $why ]]; then NOTE[$shape,$n,$tool]=$why; continue; fi
    gen "$shape" "$n" "$tool" "$WORK/$shape-$n-$tool.pristine"
    [[ $tool == dvc && $n -ge 1000 ]] || timed+=("$tool")
  done
  echo "== $shape N=$n cold: ${timed[*]}" >&2
  for ((r = 0; r < RUNS_COLD; r++)); do
    round=()
    for tool in "${timed[@]}"; do
      # DVC and Snakemake take seconds to minutes a run: one cold run each.
      [[ $r -gt 0 && ( $tool == dvc || $tool == snakemake ) ]] || round+=("$tool")
    done
    cold_round "$shape" "$n" "${round[@]}"
  done
  for tool in "${timed[@]}"; do
    v=$(python3 -c 'import sys,statistics;print(statistics.median(map(float,sys.argv[1:])))' ${COLD[$shape,$n,$tool]:-} 2>/dev/null) || v=
    [[ -n $v ]] && T[$shape,$n,$tool,cold]=$v
  done
for tool in $TOOLS; do
  [[ -n $(skip "$tool" "$n") ]] && continue
  dir="$WORK/$shape-$n-$tool"
  cmd="sh -c 'cd $dir && $(cmd_of "$tool")'"
  runs=$RUNS; inc=$RUNS_INC
  [[ $tool == dvc || $tool == snakemake ]] && { runs=3; inc=3; }
  echo "== $shape N=$n $tool" >&2
  if [[ $tool == dvc && $n -ge 1000 ]]; then
    # Seeded: make builds the outputs, `dvc commit -f` records them; then one run per phase.
    runs=1; inc=1
    discard "$dir"; cp -a "$dir.pristine" "$dir"
    mk="$WORK/$shape-$n-make.seed"; gen "$shape" "$n" make "$mk"
    (cd "$mk" && make -s -j2 >/dev/null) && cp "$mk"/out/*.txt "$dir/out/"
    (cd "$dir" && DVC_SITE_CACHE_DIR=$PWD/.dvc/tmp/site timeout 1800 dvc commit -f -q >/dev/null 2>&1) || true
    NOTE[$shape,$n,$tool]="DVC cold not timed at this size (seeded by dvc commit)"
  fi
  time_it "$shape,$n,$tool,noop" "$runs" "" "$cmd" 1
  f=$(printf "data/in_%05d.txt" $((n / 2)))
  time_it "$shape,$n,$tool,inc" "$inc" "sh -c 'cd $dir && (grep -q flip $f && sed -i /flip/d $f || echo flip >> $f)'" "$cmd"
  if [[ $tool == runner ]]; then
    time_it "$shape,$n,$tool,plan" "$runs" "" "sh -c 'cd $dir && $RUNNER build --dry-run . >/dev/null'" 1
    /usr/bin/time -f "%M" -o "$WORK/rss" sh -c "cd $dir && $RUNNER build --dry-run . >/dev/null" 2>/dev/null || true
    T[$shape,$n,$tool,rss]=$(tail -1 "$WORK/rss")
  fi
done; done; done

fmt() { python3 -c 'import sys;v=sys.argv[1];print("—" if not v else (f"{float(v)*1000:.1f} ms" if float(v)<1 else f"{float(v):.2f} s"))' "${1:-}"; }
ratio() { python3 -c 'import sys;a,b=sys.argv[1],sys.argv[2];print("—" if not a or not b else f"{float(a)/float(b):.2f}×")' "${1:-}" "${2:-}"; }
echo
echo "| shape | N | tool | cold | no-op | one input changed | runner ÷ tool: cold | no-op | one input |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
for n in $NS; do for shape in $SHAPES; do for tool in $TOOLS; do
  k="$shape,$n,$tool"; r="$shape,$n,runner"
  echo "| $shape | $n | $tool | $(fmt "${T[$k,cold]:-}") | $(fmt "${T[$k,noop]:-}") | $(fmt "${T[$k,inc]:-}") | $(ratio "${T[$r,cold]:-}" "${T[$k,cold]:-}") | $(ratio "${T[$r,noop]:-}" "${T[$k,noop]:-}") | $(ratio "${T[$r,inc]:-}" "${T[$k,inc]:-}") |"
done; done; done
echo
if [[ " $TOOLS " == *" runner "* ]]; then
  echo "| shape | N | runner build --dry-run (check + plan) | peak RSS |"
  echo "|---|---:|---:|---:|"
  for n in $NS; do for shape in $SHAPES; do
    k="$shape,$n,runner"
    echo "| $shape | $n | $(fmt "${T[$k,plan]:-}") | $(( ${T[$k,rss]:-0} / 1024 )) MB |"
  done; done
  echo
fi
for k in "${!NOTE[@]}"; do echo "- ${k//,/ }: ${NOTE[$k]}"; done | sort
echo
echo "machine: $(nproc) cores; $(date -u +%F); command: NS=\"$NS\" SHAPES=\"$SHAPES\" TOOLS=\"$TOOLS\" bash bench/compare.sh"
