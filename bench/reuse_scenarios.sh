#!/usr/bin/env bash
# reuse_scenarios.sh: what runner, DVC and Snakemake do on the same one-step pipeline when
#   A  a helper module the step's script imports changes (code, not listed anywhere),
#   B  only a comment is added to the step's script,
#   C  a file the script reads without declaring it changes,
# printing a Markdown table. Each scenario starts from a fresh copy built once by the tool.
#
#   bash bench/reuse_scenarios.sh        # needs target/release/runner and ../shared/bench's venv
#
# The pipeline: src/train.py imports src/helper.py, reads src/config.txt and writes
# out/model.txt. Each tool is told what its users would write: the script and the data as
# dependencies (DVC `deps`, Snakemake `input`), nothing about helper.py or config.txt.
# runner is run plainly, except the first build of C, traced (--trace-reads: tracing is
# opt-in): that run finds the undeclared read, warns of it, and keeps the file's digest with
# the result, so the build after the edit reruns the step.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNNER=${RUNNER:-$HERE/target/release/runner}
PEERS=${PEERS:-$HERE/../shared/bench/.venv/bin}
WORK=$(mktemp -d /tmp/reuse-scenarios.XXXX)
trap 'rm -rf "$WORK"' EXIT

make_project() { # DIR
  mkdir -p "$1/src" "$1/out"
  printf 'def scale(x):\n    return x * 2\n' > "$1/src/helper.py"
  printf 'lr=1\n' > "$1/src/config.txt"
  printf '1,2,3\n' > "$1/data.csv"
  cat > "$1/src/train.py" <<'PY'
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helper
data, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
config = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.txt")).read()
rows = open(data).read().split(",")
open(os.path.join(out, "model.txt"), "w").write(f"{helper.scale(len(rows))} {config}")
PY
  cat > "$1/pipeline.toml" <<'TOML'
[data.raw]
path = "data.csv"

[steps.train]
script = "train.py"
source_directory = "src"
inputs = { data = "data.raw" }
outputs = ["model"]
arguments = ["${inputs.data}", "${outputs.model}"]
TOML
  cat > "$1/dvc.yaml" <<'YAML'
stages:
  train:
    cmd: python3 src/train.py data.csv out
    deps: [src/train.py, data.csv]
    outs: [out]
YAML
  cat > "$1/Snakefile" <<'SMK'
rule train:
    input: script="src/train.py", data="data.csv"
    output: "out/model.txt"
    shell: "python3 {input.script} {input.data} out"
SMK
}

build() { # TOOL DIR [ARGS...]: prints what the tool did with step train (ran|reused) and a note
  local tool=$1 dir=$2; shift 2
  case $tool in
    runner)
      local json; json=$("$RUNNER" build "$dir" --format json "$@" 2>"$dir/.err")
      local status; status=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([s["status"] for s in d["steps"] if s["step"]=="train"][0])' <<<"$json")
      local why; why=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([s["reason"] or "" for s in d["steps"] if s["step"]=="train"][0])' <<<"$json")
      echo "$status${why:+ ($why)}" ;;
    dvc)
      (cd "$dir" && "$PEERS/dvc" repro 2>&1) > "$dir/.out"
      if grep -q "Running stage 'train'" "$dir/.out"; then echo ran; else echo reused; fi ;;
    snakemake)
      (cd "$dir" && "$PEERS/snakemake" -c1 2>&1) > "$dir/.out"
      if grep -q "Nothing to be done" "$dir/.out"; then echo reused; else echo ran; fi ;;
  esac
}

fresh() { # TOOL [ARGS...]: a built copy, its path printed
  local tool=$1; shift
  local dir; dir=$(mktemp -d "$WORK/$tool.XXXX")
  make_project "$dir"
  if [[ $tool == dvc ]]; then (cd "$dir" && "$PEERS/dvc" init --no-scm -q); fi
  build "$tool" "$dir" "$@" >/dev/null
  sleep 1 # mtime granularity, for the tools that compare times
  echo "$dir"
}

echo "| scenario | runner | DVC $("$PEERS/dvc" --version) | Snakemake $("$PEERS/snakemake" --version) | right answer |"
echo "|---|---|---|---|---|"
row() { # LABEL EDIT RIGHT
  local out="| $1 |"
  for tool in runner dvc snakemake; do
    local first=()
    [[ $tool == runner && $1 == C* ]] && first=(--trace-reads)
    local dir; dir=$(fresh $tool "${first[@]}")
    (cd "$dir" && eval "$2")
    out+=" $(build $tool "$dir") |"
  done
  echo "$out $3 |"
}
row "A: helper.py code changed" "sed -i 's/x \\* 2/x * 3/' src/helper.py" "rerun"
row "B: comment added to train.py" "printf '# a comment\\n' >> src/train.py" "reuse"
row "C: config.txt (read, undeclared) changed" "printf 'lr=2\\n' > src/config.txt" "rerun, or at least say so"
