#!/usr/bin/env bash
# Compute targets, side by side on one machine: `runner build --compute cluster` on a
# one-node Slurm cluster beside Snakemake 9 with snakemake-executor-plugin-slurm at the same
# job limit, and `runner build --compute box` on an ssh host (loopback) beside the same
# build here. Wide pipelines of N trivial steps (../shared/bench/gen_pipelines.py), cold
# builds, RUNS times each, medians.
#
#   N=100 JOBS=4 RUNS=3 bash bench/targets.sh
#   WHAT="runner_ssh runner_local" RUNS=5 bash bench/targets.sh    # a subset
#
# Needs root, Debian's slurm-wlm, munge and openssh-server (tests/services/ starts and
# stops them, by PID), and a release build of runner (RUNNER=…). Snakemake and its plugin
# go into a venv (SMK_VENV, default /tmp/backends-cache/smk-slurm) from PyPI.
#
# Snakemake's jobstep plugin drops every SLURM_* variable before its inner `srun`,
# SLURM_CONF too, so the inner `srun` finds no configuration unless it is at the default
# path: for its runs this script links /etc/slurm/slurm.conf to the test cluster's (and
# removes the link after), when no file is there already.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${PEER_BENCH:-$ROOT/../shared/bench}
RUNNER=${RUNNER:-$ROOT/target/release/runner}
N=${N:-100}; JOBS=${JOBS:-4}; RUNS=${RUNS:-3}
WHAT=${WHAT:-runner_slurm snakemake_slurm runner_ssh runner_local}
wanted() { [[ " $WHAT " == *" $1 "* ]]; }
SMK=${SMK_VENV:-/tmp/backends-cache/smk-slurm}
W=$(mktemp -d /tmp/runner-bench-targets.XXXXXX); chmod 755 "$W"
LINKED=""

stop() {
  bash "$ROOT/tests/services/slurm.sh" stop "$W/slurm" || true
  bash "$ROOT/tests/services/ssh.sh" stop "$W/ssh" || true
  [ -z "$LINKED" ] || rm -f /etc/slurm/slurm.conf
  rm -rf "$W"
}
trap stop EXIT

[ -x "$RUNNER" ] || (cd "$ROOT" && cargo build --release -q -p runner)
if [ ! -x "$SMK/bin/snakemake" ]; then
  python3 -m venv "$SMK"
  "$SMK/bin/pip" install -q "snakemake==9.27.1" "snakemake-executor-plugin-slurm==2.8.0"
fi
bash "$ROOT/tests/services/slurm.sh" start "$W/slurm" 16847
bash "$ROOT/tests/services/ssh.sh" start "$W/ssh" 2242 runnertest
export SLURM_CONF=$W/slurm/slurm.conf
if [ ! -e /etc/slurm/slurm.conf ]; then
  mkdir -p /etc/slurm && ln -s "$SLURM_CONF" /etc/slurm/slurm.conf && LINKED=1
fi

# One fresh copy of each pipeline per run: every build is cold.
gen() {  # gen DIR
  python3 "$SHARED/gen_pipelines.py" --shape wide --n "$N" --out "$1" --tools snakemake >/dev/null 2>&1
  python3 "$HERE/gen_ours.py" --shape wide --n "$N" --out "$1/runner"
  cat >>"$1/runner/pipeline.toml" <<TOML

[compute.cluster]
kind = "slurm"
max_nodes = $JOBS
workdir = "$W/work"

[compute.box]
kind = "ssh"
host = "127.0.0.1"
port = 2242
user = "runnertest"
identity_file = "$W/ssh/client_ed25519"
known_hosts = "$W/ssh/known_hosts"
max_nodes = $JOBS
TOML
}

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A T
for i in $(seq 1 "$RUNS"); do
  d="$W/run$i"; gen "$d"
  if wanted runner_slurm; then
    T[runner_slurm]+="$(seconds "$RUNNER" build "$d/runner" --compute cluster -j "$JOBS") "
    rm -rf "$d/runner/.runner"
  fi
  if wanted runner_ssh; then
    T[runner_ssh]+="$(seconds "$RUNNER" build "$d/runner" --compute box -j "$JOBS") "
    rm -rf "$d/runner/.runner"
  fi
  if wanted runner_local; then
    T[runner_local]+="$(seconds "$RUNNER" build "$d/runner" -j "$JOBS") "
  fi
  if wanted snakemake_slurm; then
    T[snakemake_slurm]+="$(cd "$d/snakemake" && seconds "$SMK/bin/snakemake" --executor slurm \
      --jobs "$JOBS" --slurm-status-command squeue --slurm-init-seconds-before-status-checks 1 \
      --slurm-no-account --default-resources slurm_partition=debug mem_mb=100 runtime=10 --quiet) "
  fi
done

# Slurm's own latency, from its job-completion file (1 s resolution; mean over runner's
# jobs): submit to start, and start to end. What is left of runner's wall time per wave of
# JOBS jobs is runner's overhead per step (staging, polling, fetching, storing).
wanted runner_slurm && python3 - "$W/slurm/jobcomp.txt" "$N" "$JOBS" "${T[runner_slurm]}" <<'PY'
import sys, datetime as dt, statistics
rows = [dict(w.split("=", 1) for w in l.split() if "=" in w) for l in open(sys.argv[1])]
ours = [r for r in rows if r.get("Name", "").startswith("runner:")]
n, jobs = int(sys.argv[2]), int(sys.argv[3])
wall = statistics.median(float(x) for x in sys.argv[4].split())
def t(s): return dt.datetime.fromisoformat(s)
if ours:
    wait = statistics.mean((t(r["StartTime"]) - t(r["SubmitTime"])).total_seconds() for r in ours)
    run = statistics.mean((t(r["EndTime"]) - t(r["StartTime"])).total_seconds() for r in ours)
    per_wave = wall * jobs / n
    print(f"slurm: {len(ours)} runner jobs; Slurm's submit->start {wait:.2f} s, start->end {run:.2f} s; "
          f"runner's wall per wave of {jobs} {per_wave:.2f} s, so runner's overhead per step "
          f"{per_wave - wait - run:.2f} s")
PY
echo "N=$N wide, JOBS=$JOBS, RUNS=$RUNS, load $(cut -d' ' -f1-3 /proc/loadavg)"
for k in $WHAT; do
  printf '%-16s median %6.2f s   runs: %s\n' "$k" "$(echo "${T[$k]}" | tr ' ' '\n' | grep . | median)" "${T[$k]}"
done
